// SPDX-License-Identifier: GPL-2.0
//! Changing a branch the way the VFS does: write access to the mount first
//! ([`WriteAccess`], `mnt_want_write`), then the parent directory locked and the
//! name looked up under that lock ([`DirOp`], `start_creating`/`start_removing`,
//! or [`RenameOp`], `start_renaming*` for two parents), then the `vfs_*` helper,
//! then everything released in reverse order by `Drop`.
//!
//! The guards are parameters of the operations they allow: a [`DirOp`] can only be
//! made under a [`WriteAccess`] of the same mount, so no branch is changed without
//! freeze protection and the right lock.
//!
//! C header: [`include/linux/namei.h`](srctree/include/linux/namei.h)

use super::bindings;
use super::dentry::LowerDentry;
use super::path::PrivateMount;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;
use kernel::str::CStr;
use kernel::sync::aref::ARef;

/// Write access to a branch mount (`mnt_want_write`/`mnt_drop_write`): the
/// filesystem cannot be frozen or remounted read-only while it is held.
///
/// # Invariants
///
/// One `mnt_want_write` on `mnt` succeeded and is released by `Drop`.
pub(crate) struct WriteAccess<'a> {
    mnt: &'a PrivateMount,
}

impl<'a> WriteAccess<'a> {
    /// Asks for write access: `EROFS` if the branch is read-only now.
    pub(crate) fn new(mnt: &'a PrivateMount) -> Result<Self> {
        // SAFETY: the mount is live for `'a`.
        to_result(unsafe { bindings::mnt_want_write(mnt.as_ptr()) })?;
        Ok(WriteAccess { mnt })
    }

    /// The mount.
    pub(crate) fn mnt(&self) -> &'a PrivateMount {
        self.mnt
    }

    fn idmap(&self) -> *mut bindings::mnt_idmap {
        self.mnt.idmap().0
    }
}

impl Drop for WriteAccess<'_> {
    fn drop(&mut self) {
        // SAFETY: the type invariant: we hold one write access.
        unsafe { bindings::mnt_drop_write(self.mnt.as_ptr()) };
    }
}

fn qstr(name: &[u8]) -> Result<bindings::qstr> {
    let len = u32::try_from(name.len()).map_err(|_| ENAMETOOLONG)?;
    let mut q = bindings::qstr::default();
    q.name = name.as_ptr();
    // The hash half of `hash_len` is computed by the lookup helpers.
    q.__bindgen_anon_1.__bindgen_anon_1.len = len;
    Ok(q)
}

/// A name in a branch directory with the directory locked for a change.
///
/// # Invariants
///
/// `child` is a counted dentry (positive or negative) whose parent's inode we hold
/// locked (`I_MUTEX_PARENT`), as `start_dirop` leaves them; `end_dirop` releases
/// both. The parent is stable while the lock is held.
pub(crate) struct DirOp<'a> {
    child: NonNull<bindings::dentry>,
    w: &'a WriteAccess<'a>,
}

impl<'a> DirOp<'a> {
    fn adopt(w: &'a WriteAccess<'a>, p: *mut bindings::dentry) -> Result<Self> {
        let child = NonNull::new(from_err_ptr(p)?).ok_or(EIO)?;
        // INVARIANT: a successful `start_*` returns a counted, locked dentry.
        Ok(DirOp { child, w })
    }

    /// Locks `dir` and looks up `name` in it, for creating it (the result may be
    /// positive if the name exists; callers check). No permission check: the union
    /// checked its own directory, and internal changes run as the mounter.
    pub(crate) fn lookup(w: &'a WriteAccess<'a>, dir: &LowerDentry, name: &[u8]) -> Result<Self> {
        let mut q = qstr(name)?;
        // SAFETY: `dir` is a counted directory dentry on `w`'s mount; `q` points to
        // `name`, valid for the call (the dcache copies names it keeps).
        Self::adopt(w, unsafe { bindings::start_creating_noperm(dir.as_ptr(), &mut q) })
    }

    /// Locks `dir` and looks up `name` for removing it: `ENOENT` if it is negative.
    pub(crate) fn removing(w: &'a WriteAccess<'a>, dir: &LowerDentry, name: &[u8]) -> Result<Self> {
        let mut q = qstr(name)?;
        // SAFETY: as in `lookup`.
        Self::adopt(w, unsafe { bindings::start_removing_noperm(dir.as_ptr(), &mut q) })
    }

    /// Locks `dir` and checks that `child` is still its hashed, positive child.
    pub(crate) fn removing_dentry(w: &'a WriteAccess<'a>, dir: &LowerDentry, child: &LowerDentry) -> Result<Self> {
        // SAFETY: both dentries are counted; the helper validates parentage under
        // the lock and takes its own count on `child`.
        Self::adopt(w, unsafe { bindings::start_removing_dentry(dir.as_ptr(), child.as_ptr()) })
    }

    /// The looked-up dentry.
    pub(crate) fn child(&self) -> &LowerDentry {
        // SAFETY: counted for our life (type invariant).
        unsafe { LowerDentry::from_raw(self.child.as_ptr()) }
    }

    /// A counted reference to the child that outlives the lock.
    pub(crate) fn child_ref(&self) -> ARef<LowerDentry> {
        ARef::from(self.child())
    }

    fn dir_inode(&self) -> *mut bindings::inode {
        // SAFETY: the parent is stable and positive while we hold its lock.
        unsafe { (*(*self.child.as_ptr()).d_parent).d_inode }
    }

    fn idmap(&self) -> *mut bindings::mnt_idmap {
        self.w.idmap()
    }

    /// Creates a regular file (`vfs_create`).
    pub(crate) fn create(&self, mode: u32) -> Result {
        // SAFETY: the parent is locked and the child negative-or-checked by
        // `vfs_create`, which fails with `EEXIST` on a positive one.
        to_result(unsafe {
            bindings::vfs_create(self.idmap(), self.child.as_ptr(), mode as _, core::ptr::null_mut())
        })
    }

    /// Creates a device, FIFO or socket (`vfs_mknod`).
    pub(crate) fn mknod(&self, mode: u32, dev: u32) -> Result {
        // SAFETY: as in `create`.
        to_result(unsafe {
            bindings::vfs_mknod(self.idmap(), self.dir_inode(), self.child.as_ptr(), mode as _, dev, core::ptr::null_mut())
        })
    }

    /// Creates a symbolic link to `target` (`vfs_symlink`).
    pub(crate) fn symlink(&self, target: &CStr) -> Result {
        // SAFETY: as in `create`; `target` is NUL-terminated.
        to_result(unsafe {
            bindings::vfs_symlink(
                self.idmap(),
                self.dir_inode(),
                self.child.as_ptr(),
                target.as_char_ptr(),
                core::ptr::null_mut(),
            )
        })
    }

    /// Makes the child a hard link of `old`, a dentry on the same branch (`vfs_link`).
    pub(crate) fn link(&self, old: &LowerDentry) -> Result {
        // SAFETY: as in `create`; `old` is counted; `vfs_link` locks it itself.
        to_result(unsafe {
            bindings::vfs_link(old.as_ptr(), self.idmap(), self.dir_inode(), self.child.as_ptr(), core::ptr::null_mut())
        })
    }

    /// Creates a directory (`vfs_mkdir`). The filesystem may hand back another
    /// dentry for it, which replaces ours in the returned `DirOp`.
    pub(crate) fn mkdir(self, mode: u32) -> Result<DirOp<'a>> {
        let (child, w, dir) = (self.child, self.w, self.dir_inode());
        core::mem::forget(self);
        // SAFETY: as in `create`. `vfs_mkdir` takes over our count and lock: on
        // failure it releases both (`end_creating`), on success it returns the
        // dentry (ours or a replacement) still counted and with the parent locked.
        let p = unsafe { bindings::vfs_mkdir(w.idmap(), dir, child.as_ptr(), mode as _, core::ptr::null_mut()) };
        Self::adopt(w, p)
    }

    /// Removes a non-directory (`vfs_unlink`).
    pub(crate) fn unlink(&self) -> Result {
        // SAFETY: the parent is locked; the child is counted and positive (checked
        // by `vfs_unlink`, which locks the victim itself).
        to_result(unsafe {
            bindings::vfs_unlink(self.idmap(), self.dir_inode(), self.child.as_ptr(), core::ptr::null_mut())
        })
    }

    /// Removes an empty directory (`vfs_rmdir`).
    pub(crate) fn rmdir(&self) -> Result {
        // SAFETY: as in `unlink`.
        to_result(unsafe {
            bindings::vfs_rmdir(self.idmap(), self.dir_inode(), self.child.as_ptr(), core::ptr::null_mut())
        })
    }
}

impl Drop for DirOp<'_> {
    fn drop(&mut self) {
        // SAFETY: the type invariant: we own the count and the parent's lock.
        unsafe { bindings::end_dirop(self.child.as_ptr()) };
    }
}

/// Two names locked for a rename (`start_renaming_dentry`), released by
/// `end_renaming`.
///
/// # Invariants
///
/// `rd` was filled by a successful `start_renaming_*`: both parents are locked
/// (`lock_rename` order) and `rd` owns counts on the old parent and both dentries.
pub(crate) struct RenameOp<'a> {
    rd: bindings::renamedata,
    _w: &'a WriteAccess<'a>,
}

impl<'a> RenameOp<'a> {
    /// Locks `old`'s parent (checked to be `old_parent`) and `new_parent`, and looks
    /// up `new_name` there. `flags` are `RENAME_*`; with `RENAME_NOREPLACE` a
    /// positive target fails with `EEXIST`. A loop (a directory moved below itself)
    /// fails with `EINVAL`/`ENOTEMPTY`, as the VFS's own rename.
    pub(crate) fn new(
        w: &'a WriteAccess<'a>,
        old_parent: &LowerDentry,
        old: &LowerDentry,
        new_parent: &LowerDentry,
        new_name: &[u8],
        flags: u32,
    ) -> Result<Self> {
        let mut q = qstr(new_name)?;
        let mut rd = bindings::renamedata::default();
        rd.mnt_idmap = w.idmap();
        rd.old_parent = old_parent.as_ptr();
        rd.new_parent = new_parent.as_ptr();
        rd.flags = flags;
        // SAFETY: all dentries are counted and on `w`'s mount; `q` lives across the
        // call. On success `rd` holds the locks and counts described above.
        to_result(unsafe { bindings::start_renaming_dentry(&mut rd, 0, old.as_ptr(), &mut q) })?;
        Ok(RenameOp { rd, _w: w })
    }

    /// The target, as looked up under the lock (negative or positive).
    pub(crate) fn target(&self) -> &LowerDentry {
        // SAFETY: counted by `rd` (type invariant).
        unsafe { LowerDentry::from_raw(self.rd.new_dentry) }
    }

    /// Renames (`vfs_rename`).
    pub(crate) fn rename(&mut self) -> Result {
        // SAFETY: the locks and counts are held (type invariant).
        to_result(unsafe { bindings::vfs_rename(&mut self.rd) })
    }
}

impl Drop for RenameOp<'_> {
    fn drop(&mut self) {
        // SAFETY: the type invariant: `rd` holds the locks and counts.
        unsafe { bindings::end_renaming(&mut self.rd) };
    }
}
