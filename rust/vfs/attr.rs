// SPDX-License-Identifier: GPL-2.0
//! Attributes and extended attributes of branch objects: reading them
//! ([`Stat`], `vfs_getattr`), changing them (`notify_change` with the inode
//! locked, under a [`WriteAccess`]), and copying xattrs.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/xattr.h`](srctree/include/linux/xattr.h)

use super::bindings;
use super::cred::Owner;
use super::dentry::LowerDentry;
use super::dirop::WriteAccess;
use super::path::LowerPath;
use kernel::error::to_result;
use kernel::prelude::*;
use kernel::str::CStr;

/// The attributes of a branch object (an owned `struct kstat`).
pub(crate) struct Stat(bindings::kstat);

impl Stat {
    /// Reads the basic attributes of `path` (`vfs_getattr`).
    pub(crate) fn of(path: &LowerPath<'_>) -> Result<Stat> {
        let p = path.raw();
        let mut st = bindings::kstat::default();
        // SAFETY: `p` borrows counted objects; `st` is ours.
        to_result(unsafe {
            bindings::vfs_getattr(&p, &mut st, bindings::STATX_BASIC_STATS, bindings::AT_STATX_SYNC_AS_STAT)
        })?;
        Ok(Stat(st))
    }

    /// Mode (type and permission bits).
    pub(crate) fn mode(&self) -> u32 {
        u32::from(self.0.mode)
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> i64 {
        self.0.size
    }

    /// Device number of a special file.
    pub(crate) fn rdev(&self) -> u32 {
        self.0.rdev
    }

    /// The attributes that copy-up gives the new object: owner, mode, times.
    pub(crate) fn owner(&self) -> Owner {
        Owner { uid: self.0.uid, gid: self.0.gid }
    }
}

/// A set of attribute changes (`struct iattr`).
#[repr(transparent)]
pub(crate) struct Iattr(bindings::iattr);

impl Iattr {
    /// No change.
    pub(crate) fn new() -> Self {
        Iattr(bindings::iattr::default())
    }

    /// Borrows the `iattr` of a `->setattr` call.
    ///
    /// # Safety
    ///
    /// `p` is the live argument of the current call.
    pub(crate) unsafe fn from_raw<'a>(p: *mut bindings::iattr) -> &'a mut Iattr {
        // SAFETY: `Iattr` is a transparent wrapper of `iattr`, and the caller
        // owns `p` for the call.
        unsafe { &mut *p.cast() }
    }

    /// Sets the owner.
    pub(crate) fn owner(mut self, o: Owner) -> Self {
        self.0.ia_valid |= bindings::RUSTAUFS_ATTR_UID | bindings::RUSTAUFS_ATTR_GID;
        // SAFETY: writes the id fields of our own iattr.
        unsafe { bindings::rustaufs_iattr_set_ids(&mut self.0, o.uid, o.gid) };
        self
    }

    /// Sets the mode. Filesystems store `ia_mode` as the whole `i_mode`, so `mode`
    /// carries the file type bits too, as `chmod_common` passes them.
    pub(crate) fn mode(mut self, mode: u32) -> Self {
        self.0.ia_valid |= bindings::RUSTAUFS_ATTR_MODE;
        self.0.ia_mode = mode as _;
        self
    }

    /// Sets the size.
    pub(crate) fn size(mut self, size: i64) -> Self {
        self.0.ia_valid |= bindings::RUSTAUFS_ATTR_SIZE;
        self.0.ia_size = size;
        self
    }

    /// Sets atime and mtime to those of `st`.
    pub(crate) fn times_of(mut self, st: &Stat) -> Self {
        self.0.ia_valid |= bindings::RUSTAUFS_ATTR_ATIME
            | bindings::RUSTAUFS_ATTR_MTIME
            | bindings::RUSTAUFS_ATTR_ATIME_SET
            | bindings::RUSTAUFS_ATTR_MTIME_SET;
        self.0.ia_atime = st.0.atime;
        self.0.ia_mtime = st.0.mtime;
        self
    }

    /// Whether a size change is asked for, and to which size.
    pub(crate) fn new_size(&self) -> Option<i64> {
        (self.0.ia_valid & bindings::RUSTAUFS_ATTR_SIZE != 0).then_some(self.0.ia_size)
    }

    /// Prepares a caller's request for a branch: the file it names is ours, not the
    /// branch's (`ATTR_FILE` dropped), and when the kernel asks to clear set-id bits
    /// the branch computes the mode itself (as overlayfs does).
    pub(crate) fn for_branch(&mut self) {
        self.0.ia_valid &= !bindings::RUSTAUFS_ATTR_FILE;
        if self.0.ia_valid & (bindings::RUSTAUFS_ATTR_KILL_SUID | bindings::RUSTAUFS_ATTR_KILL_SGID) != 0 {
            self.0.ia_valid &= !bindings::RUSTAUFS_ATTR_MODE;
        }
    }

    /// Whether nothing is left to change.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.ia_valid == 0
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut bindings::iattr {
        &mut self.0
    }
}

/// An inode of a branch locked exclusively (`inode_lock`).
///
/// # Invariants
///
/// We hold the inode's `i_rwsem` for writing; `Drop` releases it.
pub(crate) struct InodeLock<'a>(&'a LowerDentry);

impl<'a> InodeLock<'a> {
    /// Locks the inode of positive dentry `d`.
    pub(crate) fn new(d: &'a LowerDentry) -> Result<Self> {
        let inode = d.inode().ok_or(ENOENT)?;
        // SAFETY: the inode is pinned by the counted positive dentry.
        unsafe { bindings::rustaufs_inode_lock(inode.as_ptr()) };
        Ok(InodeLock(d))
    }
}

impl Drop for InodeLock<'_> {
    fn drop(&mut self) {
        if let Some(inode) = self.0.inode() {
            // SAFETY: the type invariant: we locked this inode (a counted positive
            // dentry stays positive).
            unsafe { bindings::rustaufs_inode_unlock(inode.as_ptr()) };
        }
    }
}

/// Changes attributes of `d` on `w`'s branch (`notify_change`), locking its inode.
pub(crate) fn setattr(w: &WriteAccess<'_>, d: &LowerDentry, attr: &mut Iattr) -> Result {
    if attr.is_empty() {
        return Ok(());
    }
    let _lock = InodeLock::new(d)?;
    // SAFETY: write access is held, the inode is locked, `attr` is valid.
    to_result(unsafe {
        bindings::notify_change(w.mnt().idmap().0, d.as_ptr(), attr.as_mut_ptr(), core::ptr::null_mut())
    })
}

/// Lists the xattr names of `d` into `buf` (NUL-separated), growing it as needed.
pub(crate) fn list_xattrs(d: &LowerDentry, buf: &mut KVec<u8>) -> Result {
    // SAFETY: a counted dentry; a null buffer asks for the size.
    let n = unsafe { bindings::vfs_listxattr(d.as_ptr(), core::ptr::null_mut(), 0) };
    if n == -(EOPNOTSUPP.to_errno() as isize).abs() || n == EOPNOTSUPP.to_errno() as isize {
        buf.clear();
        return Ok(());
    }
    let n = usize::try_from(n).map_err(|_| Error::from_errno(n as i32))?;
    buf.clear();
    buf.resize(n, 0, GFP_KERNEL)?;
    // SAFETY: `buf` has room for `n` bytes.
    let m = unsafe { bindings::vfs_listxattr(d.as_ptr(), buf.as_mut_ptr().cast(), n) };
    let m = usize::try_from(m).map_err(|_| Error::from_errno(m as i32))?;
    buf.truncate(m);
    Ok(())
}

/// Reads xattr `name` of `d` on mount `idmap` into `buf`.
pub(crate) fn get_xattr(idmap: super::Idmap, d: &LowerDentry, name: &CStr, buf: &mut KVec<u8>) -> Result {
    // SAFETY: as in `list_xattrs`.
    let n = unsafe { bindings::vfs_getxattr(idmap.0, d.as_ptr(), name.as_char_ptr(), core::ptr::null_mut(), 0) };
    let n = usize::try_from(n).map_err(|_| Error::from_errno(n as i32))?;
    buf.clear();
    buf.resize(n, 0, GFP_KERNEL)?;
    // SAFETY: `buf` has room for `n` bytes.
    let m = unsafe { bindings::vfs_getxattr(idmap.0, d.as_ptr(), name.as_char_ptr(), buf.as_mut_ptr().cast(), n) };
    let m = usize::try_from(m).map_err(|_| Error::from_errno(m as i32))?;
    buf.truncate(m);
    Ok(())
}

/// Sets xattr `name` of `d` (`vfs_setxattr`, which locks the inode itself).
pub(crate) fn set_xattr(w: &WriteAccess<'_>, d: &LowerDentry, name: &CStr, value: &[u8], flags: i32) -> Result {
    // SAFETY: write access is held; `name` and `value` are valid for the call.
    to_result(unsafe {
        bindings::vfs_setxattr(w.mnt().idmap().0, d.as_ptr(), name.as_char_ptr(), value.as_ptr().cast(), value.len(), flags)
    })
}

/// Removes xattr `name` of `d` (`vfs_removexattr`).
pub(crate) fn remove_xattr(w: &WriteAccess<'_>, d: &LowerDentry, name: &CStr) -> Result {
    // SAFETY: as in `set_xattr`.
    to_result(unsafe { bindings::vfs_removexattr(w.mnt().idmap().0, d.as_ptr(), name.as_char_ptr()) })
}
