// SPDX-License-Identifier: GPL-2.0
//! Open files: our `struct file` with its private data, and backing files opened
//! on branches (`backing_file_open`) that I/O is passed through to.
//!
//! C headers: [`include/linux/fs.h`](srctree/include/linux/fs.h),
//! [`include/linux/backing-file.h`](srctree/include/linux/backing-file.h)

use super::bindings;
use super::dentry::Dentry;
use super::path::LowerPath;
use core::ptr::NonNull;
use kernel::cred::Credential;
use kernel::error::from_err_ptr;
use kernel::fs::File as KFile;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use crate::file::FileInfo;
use crate::readdir::DirInfo;
use core::pin::Pin;
use core::ffi::c_void;

/// A file opened on a branch on behalf of one of our files (a "backing file":
/// `FMODE_BACKING`, its `f_path` is the branch's, its user path is ours).
pub(crate) struct BackingFile(ARef<KFile>);

impl BackingFile {
    /// Opens `path` for the user file `user` (`backing_file_open`) with `cred`.
    pub(crate) fn open(user: &File, flags: u32, path: &LowerPath<'_>, cred: &Credential) -> Result<Self> {
        let raw = path.raw();
        // SAFETY: `user` is our file being opened, `raw` borrows counted objects,
        // `cred` is a live credential; the result is a new counted file.
        let f = unsafe {
            bindings::backing_file_open(
                user.as_ptr(),
                flags as i32,
                &raw,
                cred.as_ptr().cast_mut(),
            )
        };
        let f = NonNull::new(from_err_ptr(f)?).ok_or(EIO)?;
        // SAFETY: `backing_file_open` returned a reference we own.
        Ok(BackingFile(unsafe { ARef::from_raw(f.cast()) }))
    }

    fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }

    /// Whether the branch file supports `O_DIRECT` (`FMODE_CAN_ODIRECT`).
    pub(crate) fn can_odirect(&self) -> bool {
        // SAFETY: `f_mode` of our live backing file; this bit is set at open.
        unsafe { (*self.as_ptr()).f_mode & bindings::RUSTAUFS_FMODE_CAN_ODIRECT as u32 != 0 }
    }

    /// Reads through the backing file (`backing_file_read_iter`), updating our
    /// file's atime afterwards as the branch's was.
    ///
    /// # Safety
    ///
    /// `iocb` and `iter` are the live arguments of a `->read_iter` call on the user
    /// file this backing file was opened for.
    pub(crate) unsafe fn read_iter(
        &self,
        iocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
        cred: &Credential,
    ) -> isize {
        let mut ctx = read_ctx(cred);
        // SAFETY: per the contract; `ctx` outlives the call.
        unsafe { bindings::backing_file_read_iter(self.as_ptr(), iter, iocb, (*iocb).ki_flags, &mut ctx) }
    }

    /// Splices from the backing file (`backing_file_splice_read`).
    ///
    /// # Safety
    ///
    /// The arguments are those of a live `->splice_read` call on the user file.
    pub(crate) unsafe fn splice_read(
        &self,
        pos: *mut i64,
        pipe: *mut bindings::pipe_inode_info,
        len: usize,
        flags: u32,
        user: *mut bindings::file,
        cred: &Credential,
    ) -> isize {
        let mut ctx = read_ctx(cred);
        let mut kiocb = bindings::kiocb::default();
        // SAFETY: per the contract; the kiocb only carries the user file and the
        // position, as the VFS's own `splice_read` callers set it up.
        unsafe {
            kiocb.ki_filp = user;
            kiocb.ki_pos = *pos;
            let ret = bindings::backing_file_splice_read(self.as_ptr(), &mut kiocb, pipe, len, flags, &mut ctx);
            *pos = kiocb.ki_pos;
            ret
        }
    }

    /// Maps the backing file instead of ours (`backing_file_mmap`): the pages are the
    /// branch's, so there is no second page cache.
    ///
    /// # Safety
    ///
    /// `vma` is the live argument of a `->mmap` call on the user file.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct, cred: &Credential) -> i32 {
        let mut ctx = read_ctx(cred);
        // SAFETY: per the contract.
        unsafe { bindings::backing_file_mmap(self.as_ptr(), vma, &mut ctx) }
    }

    /// Seeks the backing file to `file`'s position plus `offset` (`vfs_llseek`) and
    /// returns the new position; SEEK_DATA and SEEK_HOLE are the branch's answers.
    pub(crate) fn llseek(&self, pos: i64, offset: i64, whence: i32) -> Result<i64> {
        // SAFETY: the backing file is ours; `f_pos` of a backing file is used by
        // nobody but us, and our caller holds our file's position lock if any.
        let ret = unsafe {
            (*self.as_ptr()).f_pos = pos;
            bindings::vfs_llseek(self.as_ptr(), offset, whence)
        };
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        Ok(ret)
    }
}

/// The context of a read-side backing-file call: the branch is accessed with
/// `cred`, and our file's atime is updated afterwards.
fn read_ctx(cred: &Credential) -> bindings::backing_file_ctx {
    bindings::backing_file_ctx { cred: cred.as_ptr(), accessed: Some(accessed), end_write: None }
}

unsafe extern "C" fn accessed(file: *mut bindings::file) {
    // SAFETY: called by the backing-file helpers with our live user file.
    unsafe { bindings::rustaufs_touch_atime(file) };
}

/// One of our open files.
///
/// Its `private_data` is set by `->open` to a boxed value that `->release` frees;
/// the type of that value depends on the file type (see `ops.rs`).
///
/// # Invariants
///
/// The file is valid for the lifetime of the reference.
#[repr(transparent)]
pub(crate) struct File(kernel::types::Opaque<bindings::file>);

impl File {
    /// Borrows one of our files.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid file of a rustaufs superblock for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::file) -> &'a Self {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.get()
    }

    /// The open flags.
    pub(crate) fn flags(&self) -> u32 {
        // SAFETY: `f_flags` of a live file; read as the VFS does.
        unsafe { (*self.as_ptr()).f_flags }
    }

    /// Whether directory positions given to this file's user must fit in 32 bits:
    /// knfsd asked for 32-bit cookies (NFSv2), or a compat (32-bit) task reads
    /// it and nobody asked for 64-bit ones. The test ext4 makes for its hash
    /// positions.
    pub(crate) fn wants_32bit_positions(&self) -> bool {
        // SAFETY: `f_mode` of a live file; knfsd sets these bits right after the
        // open, before any read, so a read sees them.
        let mode = unsafe { (*self.as_ptr()).f_mode };
        // SAFETY: asks about the current task only.
        let compat = unsafe { bindings::rustaufs_in_compat_syscall() };
        mode & bindings::RUSTAUFS_FMODE_32BITHASH as u32 != 0
            || (compat && mode & bindings::RUSTAUFS_FMODE_64BITHASH as u32 == 0)
    }

    /// Marks our file as supporting `O_DIRECT` (from `->open`, before the VFS checks
    /// `O_DIRECT` against it).
    pub(crate) fn set_can_odirect(&self) {
        // SAFETY: `->open` runs before the file is shared, so `f_mode` is ours.
        unsafe { (*self.as_ptr()).f_mode |= bindings::RUSTAUFS_FMODE_CAN_ODIRECT as u32 };
    }

    /// The current position.
    pub(crate) fn pos(&self) -> i64 {
        // SAFETY: as for `flags`; the caller serialises with `f_pos_lock`.
        unsafe { (*self.as_ptr()).f_pos }
    }

    /// Sets the position.
    pub(crate) fn set_pos(&self, pos: i64) {
        // SAFETY: as for `pos`.
        unsafe { (*self.as_ptr()).f_pos = pos };
    }

    /// A counted reference to this file.
    pub(crate) fn get_ref(&self) -> FileRef {
        // SAFETY: the file is live; `get_file` takes a count that `FileRef` owns.
        let raw = unsafe { bindings::rustaufs_get_file(self.as_ptr()) };
        // SAFETY: non-null (our pointer) and counted above.
        FileRef(unsafe { ARef::from_raw(NonNull::new_unchecked(raw).cast()) })
    }

    /// Clears set-id bits and file capabilities before a change of the data by a
    /// caller who may not keep them (`file_remove_privs`: `notify_change` on our
    /// dentry, so our `->setattr`, which copies up). The caller holds our inode's
    /// lock.
    pub(crate) fn remove_privs(&self) -> Result {
        // SAFETY: our live file; the caller holds its inode lock, as required.
        kernel::error::to_result(unsafe { bindings::file_remove_privs(self.as_ptr()) })
    }

    /// Completes `->tmpfile`: opens this file on `dentry`, which now holds the new
    /// inode, without calling our `->open` (the caller has stored the file's
    /// `FileInfo`, which is returned if the open failed, since `->release` will not
    /// run then).
    pub(crate) fn finish_tmpfile(&self, dentry: &Dentry) -> core::result::Result<(), (Error, Option<KBox<FileInfo>>)> {
        // SAFETY: a `->tmpfile` call: the file is being opened on `dentry`.
        let r = unsafe { bindings::finish_open(self.as_ptr(), dentry.as_ptr(), Some(opened)) };
        // SAFETY: `f_mode` is stable during the open.
        if unsafe { (*self.as_ptr()).f_mode } & bindings::RUSTAUFS_FMODE_OPENED as u32 == 0 {
            let left = self.take_raw_info();
            return Err((Error::from_errno(if r == 0 { -(bindings::EIO as i32) } else { r }), left));
        }
        kernel::error::to_result(r).map_err(|e| (e, None))
    }

    /// The dentry the file was opened through.
    pub(crate) fn dentry(&self) -> &Dentry {
        // SAFETY: `f_path.dentry` of our file is one of our dentries, pinned by the
        // file.
        unsafe { Dentry::from_raw((*self.as_ptr()).__bindgen_anon_1.f_path.dentry) }
    }

    fn private_raw(&self) -> *mut c_void {
        // SAFETY: `private_data` is set in `->open` before any other operation and
        // cleared in `->release` after the last, so reads in between are stable.
        unsafe { (*self.as_ptr()).private_data }
    }

    fn set_private_raw(&self, p: *mut c_void) {
        // SAFETY: called from `->open` (no other operation runs yet) or `->release`
        // (none runs any more).
        unsafe { (*self.as_ptr()).private_data = p };
    }

    fn has_fops(&self, fops: &'static bindings::file_operations) -> bool {
        // SAFETY: `f_op` of a live file is set at open and never changes.
        core::ptr::eq(unsafe { (*self.as_ptr()).f_op }, fops)
    }

    /// Stores the open state of a regular file (from `->open`).
    pub(crate) fn set_file_info(&self, info: KBox<FileInfo>) {
        self.set_private_raw(KBox::into_raw(info).cast());
    }

    /// Takes the `FileInfo` stored by `->tmpfile` before the file got our operations.
    fn take_raw_info(&self) -> Option<KBox<FileInfo>> {
        let p = self.private_raw();
        self.set_private_raw(core::ptr::null_mut());
        // SAFETY: only called by `finish_tmpfile` on a file whose `private_data` is
        // null or the `FileInfo` its caller stored, and that no `->release` will free.
        (!p.is_null()).then(|| unsafe { KBox::from_raw(p.cast::<FileInfo>()) })
    }

    /// The open state of a regular file: `None` unless this file was opened with
    /// our regular-file operations (which always store a `FileInfo`).
    pub(crate) fn file_info(&self) -> Option<&FileInfo> {
        if !self.has_fops(super::ops::file_fops()) {
            return None;
        }
        // SAFETY: files with our regular-file operations hold a `FileInfo` from
        // `->open` to `->release`, and we borrow it within an operation.
        unsafe { self.private_raw().cast::<FileInfo>().as_ref() }
    }

    /// Takes the open state back (from `->release`).
    pub(crate) fn take_file_info(&self) -> Option<KBox<FileInfo>> {
        let p = self.private_raw();
        if p.is_null() || !self.has_fops(super::ops::file_fops()) {
            return None;
        }
        self.set_private_raw(core::ptr::null_mut());
        // SAFETY: as in `file_info`; `->release` is the last user.
        Some(unsafe { KBox::from_raw(p.cast::<FileInfo>()) })
    }

    /// Stores the open state of a directory (from `->open`).
    pub(crate) fn set_dir_info(&self, info: Pin<KBox<DirInfo>>) {
        // SAFETY: the box is turned back into a `Pin<KBox>` in `take_dir_info` and
        // only ever borrowed in between, so it never moves.
        let b = unsafe { Pin::into_inner_unchecked(info) };
        self.set_private_raw(KBox::into_raw(b).cast());
    }

    /// The open state of a directory (see `file_info`).
    pub(crate) fn dir_info(&self) -> Option<Pin<&DirInfo>> {
        if !self.has_fops(super::ops::dir_fops()) {
            return None;
        }
        // SAFETY: as in `file_info`, for our directory operations and `DirInfo`;
        // the value is pinned (see `set_dir_info`).
        unsafe { self.private_raw().cast::<DirInfo>().as_ref().map(|r| Pin::new_unchecked(r)) }
    }

    /// Takes the directory state back (from `->release`).
    pub(crate) fn take_dir_info(&self) -> Option<Pin<KBox<DirInfo>>> {
        let p = self.private_raw();
        if p.is_null() || !self.has_fops(super::ops::dir_fops()) {
            return None;
        }
        self.set_private_raw(core::ptr::null_mut());
        // SAFETY: as in `take_file_info`; re-pinned as it was stored.
        Some(unsafe { Pin::new_unchecked(KBox::from_raw(p.cast::<DirInfo>())) })
    }

    /// Our inode of the file.
    pub(crate) fn inode(&self) -> &super::inode::Inode {
        // SAFETY: `f_inode` of a file of ours is one of our inodes, pinned by it.
        unsafe { super::inode::Inode::from_raw((*self.as_ptr()).f_inode) }
    }

    /// The superblock of the file's inode.
    pub(crate) fn inode_sb(&self) -> &super::sb::SuperBlock {
        // SAFETY: a file of ours lives on one of our superblocks, which outlives it.
        unsafe { super::sb::SuperBlock::from_raw((*(*self.as_ptr()).f_inode).i_sb) }
    }
}

/// `->open` for `finish_open` from `->tmpfile`: the state is in place already.
unsafe extern "C" fn opened(_inode: *mut bindings::inode, _file: *mut bindings::file) -> i32 {
    0
}

/// A counted reference to one of our files.
///
/// # Invariants
///
/// The file is one of ours (`File`'s invariants hold for it while the count is held).
pub(crate) struct FileRef(ARef<KFile>);

impl FileRef {
    /// The file.
    pub(crate) fn file(&self) -> &File {
        // SAFETY: the count keeps the file valid; it is ours by the invariant.
        unsafe { File::from_raw(self.0.as_ptr()) }
    }
}

impl BackingFile {
    /// Creates an unnamed file in `parent` (`backing_tmpfile_open`: `vfs_tmpfile`
    /// with the caller's credentials) for our file `user` being opened `O_TMPFILE`;
    /// the file then does I/O with `cred`.
    pub(crate) fn tmpfile(user: &File, flags: u32, parent: &LowerPath<'_>, mode: u32, cred: &Credential) -> Result<Self> {
        let raw = parent.raw();
        // SAFETY: `user` is our file being opened, `raw` borrows counted objects,
        // `cred` is live; the result is a new counted file.
        let f = unsafe {
            bindings::backing_tmpfile_open(user.as_ptr(), flags as i32, &raw, mode as bindings::umode_t, cred.as_ptr())
        };
        let f = NonNull::new(from_err_ptr(f)?).ok_or(EIO)?;
        // SAFETY: `backing_tmpfile_open` returned a reference we own.
        Ok(BackingFile(unsafe { ARef::from_raw(f.cast()) }))
    }

    /// The branch dentry the file is open on (for a tmpfile: its unnamed dentry).
    pub(crate) fn dentry_ref(&self) -> ARef<super::dentry::LowerDentry> {
        // SAFETY: `f_path.dentry` of a live backing file is the branch's, pinned by
        // the file while we borrow it; `into` takes our own count.
        unsafe { super::dentry::LowerDentry::from_raw((*self.as_ptr()).__bindgen_anon_1.f_path.dentry) }.into()
    }

    /// Writes through the backing file (`backing_file_write_iter`); `end_write`
    /// runs after the write (to refresh our inode's size and times).
    ///
    /// # Safety
    ///
    /// `iocb` and `iter` are the live arguments of a `->write_iter` call on the user
    /// file this backing file was opened for, and the caller holds that file's
    /// inode lock (the helper removes set-id bits through `notify_change`).
    pub(crate) unsafe fn write_iter(
        &self,
        iocb: *mut bindings::kiocb,
        iter: *mut bindings::iov_iter,
        cred: &Credential,
    ) -> isize {
        let mut ctx = bindings::backing_file_ctx { cred: cred.as_ptr(), accessed: None, end_write: Some(end_write) };
        // SAFETY: per the contract; `ctx` outlives the call.
        unsafe { bindings::backing_file_write_iter(self.as_ptr(), iter, iocb, (*iocb).ki_flags, &mut ctx) }
    }

    /// Flushes `start..=end` to stable storage (`vfs_fsync_range`).
    pub(crate) fn fsync(&self, start: i64, end: i64, datasync: bool, cred: &Credential) -> Result {
        let _c = super::cred::CredGuard::new(cred);
        // SAFETY: our live backing file.
        kernel::error::to_result(unsafe { bindings::vfs_fsync_range(self.as_ptr(), start, end, datasync as i32) })
    }

    /// Allocates or punches space (`vfs_fallocate`).
    pub(crate) fn fallocate(&self, mode: i32, offset: i64, len: i64, cred: &Credential) -> Result {
        let _c = super::cred::CredGuard::new(cred);
        // SAFETY: our live backing file.
        kernel::error::to_result(unsafe { bindings::vfs_fallocate(self.as_ptr(), mode, offset, len) })
    }
}

unsafe extern "C" fn end_write(iocb: *mut bindings::kiocb, _ret: isize) {
    // SAFETY: called by the backing-file helpers during our `->write_iter`, whose
    // user file (ours) is live and whose inode we hold locked.
    let inode = unsafe { super::inode::Inode::from_raw(bindings::rustaufs_file_inode((*iocb).ki_filp)) };
    crate::inode::refresh(inode);
}

/// A file a branch object is opened as for the module's own use (copy-up data),
/// not tied to a user file (`kernel_file_open`).
pub(crate) struct KernelFile(ARef<KFile>);

impl KernelFile {
    /// Creates and opens an unnamed file (`O_TMPFILE`) in the directory `dir`, read
    /// and write, mode 0600, as `cred`. The caller holds write access to the mount.
    pub(crate) fn tmpfile(dir: &LowerPath<'_>, cred: &Credential) -> Result<Self> {
        let raw = dir.raw();
        let mode = (super::bindings_modes::S_IFREG | 0o600) as bindings::umode_t;
        let flags = bindings::O_RDWR | bindings::RUSTAUFS_O_LARGEFILE;
        // SAFETY: `raw` borrows counted objects; `cred` is live; the result is a
        // new counted file or an error.
        let f = unsafe {
            bindings::kernel_tmpfile_open(dir.mnt.idmap().0, &raw, mode, flags as i32, cred.as_ptr().cast())
        };
        let f = NonNull::new(from_err_ptr(f)?).ok_or(EIO)?;
        // SAFETY: a new reference we own.
        Ok(KernelFile(unsafe { ARef::from_raw(f.cast()) }))
    }

    /// Reads up to `buf.len()` bytes at `pos` (`kernel_read`); returns how many
    /// were read, 0 at the end of the file.
    pub(crate) fn read_at(&self, pos: i64, buf: &mut [u8]) -> Result<usize> {
        let mut p = pos;
        // SAFETY: our live file; `buf` is writable for its length.
        let n = unsafe { bindings::kernel_read(self.as_ptr(), buf.as_mut_ptr().cast(), buf.len(), &mut p) };
        usize::try_from(n).map_err(|_| Error::from_errno(n as i32))
    }

    /// Reads the little-endian `u64` at `pos`; 0 past the end of the file.
    pub(crate) fn read_u64(&self, pos: i64) -> Result<u64> {
        let mut buf = [0u8; 8];
        match self.read_at(pos, &mut buf)? {
            8 => Ok(u64::from_le_bytes(buf)),
            0 => Ok(0),
            _ => Err(EIO),
        }
    }

    /// Gives back the space of `len` bytes at `pos`, keeping the size
    /// (`vfs_fallocate` with `FALLOC_FL_PUNCH_HOLE`, which takes freeze protection
    /// itself).
    pub(crate) fn punch_hole(&self, pos: i64, len: i64) -> Result {
        // SAFETY: our live file, opened for writing.
        kernel::error::to_result(unsafe {
            bindings::vfs_fallocate(self.as_ptr(), bindings::RUSTAUFS_FALLOC_PUNCH as i32, pos, len)
        })
    }

    /// Writes `v` little-endian at `pos` (`kernel_write`, which takes freeze
    /// protection itself).
    pub(crate) fn write_u64(&self, pos: i64, v: u64) -> Result {
        let buf = v.to_le_bytes();
        let mut p = pos;
        // SAFETY: our live file, opened for writing; `buf` has 8 bytes.
        let n = unsafe { bindings::kernel_write(self.as_ptr(), buf.as_ptr().cast(), 8, &mut p) };
        match n {
            8 => Ok(()),
            n if n < 0 => Err(Error::from_errno(n as i32)),
            _ => Err(ENOSPC),
        }
    }

    /// Opens `path` with `flags` as `cred`.
    pub(crate) fn open(path: &LowerPath<'_>, flags: u32, cred: &Credential) -> Result<Self> {
        let raw = path.raw();
        // SAFETY: `raw` borrows counted objects; `cred` is live.
        let f = unsafe {
            bindings::kernel_file_open(&raw, (flags | bindings::RUSTAUFS_O_LARGEFILE) as i32, cred.as_ptr().cast())
        };
        let f = NonNull::new(from_err_ptr(f)?).ok_or(EIO)?;
        // SAFETY: a new reference we own.
        Ok(KernelFile(unsafe { ARef::from_raw(f.cast()) }))
    }

    fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }

    /// Clones the whole of `src` (`len` bytes) into this file if the filesystem can
    /// share extents (reflink); `false` if it cannot.
    pub(crate) fn clone_from(&self, src: &KernelFile, len: i64) -> bool {
        // SAFETY: both files are live and ours.
        let n = unsafe { bindings::vfs_clone_file_range(src.as_ptr(), 0, self.as_ptr(), 0, len, 0) };
        n == len
    }

    /// The next data offset at or after `pos` (`SEEK_DATA`): `Ok(None)` past the last
    /// data, `Err` if the filesystem cannot tell.
    pub(crate) fn next_data(&self, pos: i64) -> Result<Option<i64>> {
        self.seek(pos, bindings::RUSTAUFS_SEEK_DATA)
    }

    /// The end of the data region that contains `pos` (`SEEK_HOLE`; a filesystem
    /// without holes reports the file's end), `None` past the end of the file.
    pub(crate) fn next_hole(&self, pos: i64) -> Result<Option<i64>> {
        self.seek(pos, bindings::RUSTAUFS_SEEK_HOLE)
    }

    fn seek(&self, pos: i64, whence: u32) -> Result<Option<i64>> {
        // SAFETY: our live file, used by this thread only (the seek moves `f_pos`,
        // which nobody reads: the copy passes explicit offsets).
        let r = unsafe { bindings::vfs_llseek(self.as_ptr(), pos, whence as i32) };
        if r == -(ENXIO.to_errno().abs() as i64) {
            return Ok(None);
        }
        if r < 0 {
            return Err(Error::from_errno(r as i32));
        }
        Ok(Some(r))
    }

    /// Copies `len` bytes at `pos` of `src` to the same offset of this file
    /// (`vfs_copy_file_range`, which uses the filesystem's copy offload, or splice
    /// across filesystems). Returns the bytes copied.
    pub(crate) fn copy_range_from(&self, src: &KernelFile, pos: i64, len: usize) -> Result<usize> {
        for flags in [0, bindings::RUSTAUFS_COPY_FILE_SPLICE] {
            // SAFETY: both files are live; the helper checks the ranges.
            let n = unsafe { bindings::vfs_copy_file_range(src.as_ptr(), pos, self.as_ptr(), pos, len, flags) };
            if n == -(EXDEV.to_errno().abs() as isize) || n == -(EOPNOTSUPP.to_errno().abs() as isize) {
                continue;
            }
            if n < 0 {
                return Err(Error::from_errno(n as i32));
            }
            return Ok(n as usize);
        }
        Err(EXDEV)
    }

    /// Flushes the file (`vfs_fsync`).
    pub(crate) fn fsync(&self) -> Result {
        // SAFETY: our live file.
        kernel::error::to_result(unsafe { bindings::vfs_fsync_range(self.as_ptr(), 0, i64::MAX, 0) })
    }
}
