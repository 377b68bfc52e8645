// SPDX-License-Identifier: GPL-2.0
//! Paths and branch mounts.
//!
//! C headers: [`include/linux/path.h`](srctree/include/linux/path.h),
//! [`include/linux/mount.h`](srctree/include/linux/mount.h)

use super::bindings;
use super::dentry::LowerDentry;
use super::inode::SbId;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;
use kernel::str::CStr;

/// A counted path (`path_get`/`path_put`): a mount and a dentry on it.
///
/// # Invariants
///
/// `raw` holds one count on its mount and one on its dentry.
pub(crate) struct Path {
    raw: bindings::path,
}

// SAFETY: the counts may be dropped from any thread.
unsafe impl Send for Path {}
// SAFETY: a shared `Path` only hands out borrowed views.
unsafe impl Sync for Path {}

impl Path {
    /// Resolves `name` to a directory, following symlinks (`kern_path` with
    /// `LOOKUP_FOLLOW | LOOKUP_DIRECTORY`): `ENOENT`, `ENOTDIR`, `EACCES`... on failure.
    pub(crate) fn lookup_dir(name: &CStr) -> Result<Path> {
        let mut raw = bindings::path::default();
        let flags = bindings::RUSTAUFS_LOOKUP_FOLLOW | bindings::RUSTAUFS_LOOKUP_DIRECTORY;
        // SAFETY: `name` is NUL-terminated; `raw` receives counted references.
        to_result(unsafe { bindings::kern_path(name.as_char_ptr(), flags as u32, &mut raw) })?;
        // INVARIANT: `kern_path` took the counts on success.
        Ok(Path { raw })
    }

    /// The raw path.
    pub(crate) fn as_raw(&self) -> *const bindings::path {
        &self.raw
    }

    /// The dentry.
    pub(crate) fn dentry(&self) -> &LowerDentry {
        // SAFETY: we hold a count on the dentry (type invariant).
        unsafe { LowerDentry::from_raw(self.raw.dentry) }
    }

    /// The superblock the path lives on.
    pub(crate) fn sb(&self) -> SbId {
        SbId::from_ptr(self.sb_raw())
    }

    fn sb_raw(&self) -> &bindings::super_block {
        // SAFETY: a counted mount pins its superblock.
        unsafe { &*(*self.raw.mnt).mnt_sb }
    }

    /// The filesystem's UUID (`s_uuid`; all zero if it has none).
    pub(crate) fn fs_uuid(&self) -> [u8; 16] {
        self.sb_raw().s_uuid.b
    }

    /// The filesystem's device number (`s_dev`).
    pub(crate) fn fs_dev(&self) -> u32 {
        self.sb_raw().s_dev
    }

    /// The filesystem's magic number.
    pub(crate) fn fs_magic(&self) -> u64 {
        self.sb_raw().s_magic as u64
    }

    /// Whether the filesystem is of type `fs_type`.
    pub(crate) fn is_fs_type(&self, fs_type: *const bindings::file_system_type) -> bool {
        core::ptr::eq(self.sb_raw().s_type, fs_type)
    }

    /// How many stacked filesystems lie below this one.
    pub(crate) fn stack_depth(&self) -> i32 {
        self.sb_raw().s_stack_depth
    }

    /// The largest file size of the filesystem.
    pub(crate) fn max_bytes(&self) -> i64 {
        self.sb_raw().s_maxbytes
    }

    /// Whether the superblock or the mount is read-only.
    pub(crate) fn is_rdonly(&self) -> bool {
        // SAFETY: the mount is counted; `__mnt_is_readonly` only reads flags.
        unsafe { bindings::__mnt_is_readonly(self.raw.mnt) }
    }

    /// Makes a private clone of the mount (`clone_private_mount`), not attached to
    /// any namespace, so that later changes to the user's mount (remount, umount,
    /// propagation) do not affect the union.
    pub(crate) fn clone_private(&self) -> Result<PrivateMount> {
        // SAFETY: `self.raw` is a valid counted path.
        let mnt = from_err_ptr(unsafe { bindings::clone_private_mount(&self.raw) })?;
        let mnt = NonNull::new(mnt).ok_or(EIO)?;
        // INVARIANT: the clone is ours; its root is `self`'s dentry, pinned by it.
        Ok(PrivateMount { mnt })
    }
}

impl Drop for Path {
    fn drop(&mut self) {
        // SAFETY: we own the counts (type invariant).
        unsafe { bindings::path_put(&self.raw) };
    }
}

impl SbId {
    /// The id of a superblock.
    pub(crate) fn from_ptr(p: *const bindings::super_block) -> SbId {
        // CAST: only compared, never turned back into a pointer.
        SbId::new(p as usize)
    }
}

/// A private clone of a branch's mount, released with `kern_unmount_array`.
///
/// # Invariants
///
/// `mnt` is a mount from `clone_private_mount`, owned by this value.
pub(crate) struct PrivateMount {
    mnt: NonNull<bindings::vfsmount>,
}

// SAFETY: the mount may be released from any thread.
unsafe impl Send for PrivateMount {}
// SAFETY: shared use only reads it.
unsafe impl Sync for PrivateMount {}

impl PrivateMount {
    /// The raw mount.
    pub(crate) fn as_ptr(&self) -> *mut bindings::vfsmount {
        self.mnt.as_ptr()
    }

    /// Writes the mount's filesystem back and waits (`sync_filesystem` under its
    /// `s_umount`, read), for `syncfs(2)` on the union.
    pub(crate) fn sync_fs(&self) -> Result {
        // SAFETY: the mount is live and pins its superblock; `s_umount` is taken
        // shared around the call, as `sync_filesystem` requires.
        unsafe {
            let sb = (*self.as_ptr()).mnt_sb;
            bindings::down_read(&raw mut (*sb).s_umount);
            let r = bindings::sync_filesystem(sb);
            bindings::up_read(&raw mut (*sb).s_umount);
            kernel::error::to_result(r)
        }
    }

    /// The mount's idmap, to pass to permission checks.
    pub(crate) fn idmap(&self) -> super::Idmap {
        // SAFETY: the mount is live (type invariant).
        super::Idmap(unsafe { bindings::rustaufs_mnt_idmap(self.as_ptr()) })
    }

    /// A borrowed path on this mount.
    pub(crate) fn path<'a>(&'a self, dentry: &'a LowerDentry) -> LowerPath<'a> {
        LowerPath { mnt: self, dentry }
    }
}

impl Drop for PrivateMount {
    fn drop(&mut self) {
        let mut mnt = [self.mnt.as_ptr()];
        // SAFETY: we own the mount (type invariant); this is the documented release
        // of a `clone_private_mount` result.
        unsafe { bindings::kern_unmount_array(mnt.as_mut_ptr(), 1) };
    }
}

/// A mount of ours and a dentry on it, borrowed: what VFS helpers take as
/// `struct path`.
pub(crate) struct LowerPath<'a> {
    /// The branch mount.
    pub(crate) mnt: &'a PrivateMount,
    /// The dentry.
    pub(crate) dentry: &'a LowerDentry,
}

impl LowerPath<'_> {
    /// The raw `struct path` (borrowed counts).
    pub(crate) fn raw(&self) -> bindings::path {
        bindings::path { mnt: self.mnt.as_ptr(), dentry: self.dentry.as_ptr() }
    }

    /// `vfs_getattr` into `stat`.
    pub(crate) fn getattr(&self, stat: &mut super::Kstat<'_>, mask: u32, flags: u32) -> Result {
        let p = self.raw();
        // SAFETY: `p` borrows live counted objects; `stat` is a valid kstat.
        to_result(unsafe { bindings::vfs_getattr(&p, stat.as_mut_ptr(), mask, flags) })
    }

    /// `vfs_statfs` into `buf`, reporting `magic` as the type.
    pub(crate) fn statfs(&self, buf: &mut super::StatfsBuf<'_>, magic: u64) -> Result {
        let p = self.raw();
        // SAFETY: `p` borrows live objects; `buf` is the VFS's buffer.
        to_result(unsafe { bindings::vfs_statfs(&p, buf.as_mut_ptr().cast()) })?;
        buf.set_type(magic);
        Ok(())
    }
}
