// SPDX-License-Identifier: GPL-2.0
//! Regular files: I/O passed through to a branch file (aufs: `fs/aufs/f_op.c`;
//! overlayfs: `file.c`).
//!
//! Open does not copy up: a file whose data is on a read-only branch is opened
//! there read-only, whatever the open mode, and is copied up by its first real
//! change (write, truncate, fallocate, a shared writable mapping). Then, and when
//! another file or process copied it up meanwhile, this open file switches to the
//! copy: reads and `fstat` through an fd opened before the copy-up see the new
//! data (an anomaly aufs documents and overlayfs has). Locks live on our inode, so
//! they survive copy-up. A shared writable mapping copies up before it maps (see
//! [`for_mmap`]). `O_TMPFILE` files are made on the write branch (`namei::tmpfile`).
//!
//! The branch files are backing files (`backing_file_open`), so `/proc/<pid>/maps`
//! and `/proc/<pid>/fd` show the union path, while mmap maps the branch's pages.
#![forbid(unsafe_code)]

use crate::vfs::file::{BackingFile, File};
use crate::vfs::inode::Inode;
use crate::vfs::{O_ACCMODE, O_RDONLY};
use kernel::cred::Credential;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::SetOnce;

/// The state of one of our open regular files.
pub(crate) struct FileInfo {
    /// The branch file opened by `open`.
    first: BackingFile,
    /// Whether `first` is the copy on the write branch.
    first_is_upper: bool,
    /// The file on the write branch, opened after a copy-up.
    upper: SetOnce<BackingFile>,
    /// Why the copy-up queued by a shared writable `mmap` failed (an errno, or 0).
    mmap_err: Atomic<i32>,
    _count: crate::stats::FileCount,
}

/// Open flags that concern only the opening of our file, not the branch's.
const OPEN_ONLY_FLAGS: u32 = crate::vfs::O_CREAT | crate::vfs::O_EXCL | crate::vfs::O_NOCTTY | crate::vfs::O_TRUNC;

/// `->open`: opens the data object with the mounter's credentials; read-only if it
/// is still on a read-only branch.
pub(crate) fn open(inode: &Inode, file: &File) -> Result {
    let info = inode.info()?;
    let sbi = inode.sb().info();
    let (b, top) = info.top(sbi).ok_or(EIO)?;
    let first_is_upper = info.upper().is_some();
    let mut flags = file.flags() & !OPEN_ONLY_FLAGS;
    if !first_is_upper {
        flags = (flags & !O_ACCMODE) | O_RDONLY;
    }
    let real = BackingFile::open(file, flags, &sbi.branch(b)?.mnt.path(top), &sbi.creator)?;
    // O_DIRECT works through the union when it works on the branch (aufs's `dio`).
    if real.can_odirect() {
        file.set_can_odirect();
    }
    file.set_file_info(FileInfo::new(real, first_is_upper)?);
    Ok(())
}

impl FileInfo {
    fn new(first: BackingFile, first_is_upper: bool) -> Result<KBox<Self>> {
        let fi = FileInfo {
            first,
            first_is_upper,
            upper: SetOnce::new(),
            mmap_err: Atomic::new(0),
            _count: crate::stats::FileCount::new(),
        };
        Ok(KBox::new(fi, GFP_KERNEL)?)
    }
}

/// Opens `file`, being made by `->tmpfile` on its new dentry, on `real`, the
/// unnamed file on the write branch.
pub(crate) fn open_tmpfile(file: &File, real: BackingFile) -> Result {
    file.set_file_info(FileInfo::new(real, true)?);
    // On failure the info comes back (no `->release` will free it) and is dropped.
    file.finish_tmpfile(file.dentry()).map_err(|(e, _info)| e)
}

/// `->release`: closes the branch files.
pub(crate) fn release(file: &File) {
    drop(file.take_file_info());
}

fn creds(file: &File) -> &Credential {
    &file.inode_sb().info().creator
}

/// Opens the copy on the write branch for this file, with its open mode.
fn upper_file<'a>(file: &File, fi: &'a FileInfo) -> Result<&'a BackingFile> {
    if fi.first_is_upper {
        return Ok(&fi.first);
    }
    if let Some(u) = fi.upper.as_ref() {
        return Ok(u);
    }
    let inode = file.inode();
    let up = inode.info()?.upper().ok_or(EIO)?;
    let sbi = inode.sb().info();
    let f = BackingFile::open(file, file.flags() & !OPEN_ONLY_FLAGS, &sbi.write_branch()?.mnt.path(up), &sbi.creator)?;
    // A racing opener may have won; its file is as good as ours.
    fi.upper.populate(f);
    fi.upper.as_ref().ok_or(EIO)
}

/// The branch file to read from: the copy on the write branch once there is one.
pub(crate) fn backing(file: &File) -> Result<(&BackingFile, &Credential)> {
    let fi = file.file_info().ok_or(EIO)?;
    let real = if !fi.first_is_upper && file.inode().info()?.upper().is_some() {
        upper_file(file, fi)?
    } else {
        &fi.first
    };
    Ok((real, creds(file)))
}

/// The branch file to write to, after copying the file up. The caller holds our
/// inode's lock.
pub(crate) fn for_write(file: &File) -> Result<(&BackingFile, &Credential)> {
    let fi = file.file_info().ok_or(EIO)?;
    crate::copyup::copy_up(file.dentry(), true)?;
    Ok((upper_file(file, fi)?, creds(file)))
}

/// `->llseek`: seeks the branch file, so that SEEK_DATA/SEEK_HOLE see its holes.
pub(crate) fn llseek(file: &File, offset: i64, whence: i32) -> Result<i64> {
    let (real, _) = backing(file)?;
    let pos = real.llseek(file.pos(), offset, whence)?;
    file.set_pos(pos);
    Ok(pos)
}

/// `->fsync`: flushes the copy on the write branch (a file still on a read-only
/// branch has nothing to flush).
pub(crate) fn fsync(file: &File, start: i64, end: i64, datasync: bool) -> Result {
    if file.inode().info()?.upper().is_none() {
        return Ok(());
    }
    let (real, cred) = backing(file)?;
    real.fsync(start, end, datasync, cred)
}

/// `->fallocate`: copies up, then allocates on the copy. The caller holds our
/// inode's lock.
pub(crate) fn fallocate(file: &File, mode: i32, offset: i64, len: i64) -> Result {
    file.remove_privs()?;
    let (real, cred) = for_write(file)?;
    let r = real.fallocate(mode, offset, len, cred);
    crate::inode::refresh(file.inode());
    r
}

/// The branch file to map, and whether the mapping may become writable.
///
/// A private mapping never copies up. A shared writable mapping needs the copy on
/// the write branch, but `->mmap` runs under `mmap_lock`, which ranks below freeze
/// protection and directory locks (a write or `getdents` faults user pages while
/// holding them), so it cannot copy up itself. It queues the copy-up to run on the
/// task's way back to user space, where no lock is held, and returns
/// `ERESTARTNOINTR`: the kernel then restarts `mmap(2)`, which finds the copy. If
/// that copy-up failed, the restarted call returns its error. A shared mapping
/// without `PROT_WRITE` of a file still on a read-only branch is made read-only
/// for good (`false`: the caller clears `VM_MAYWRITE`, so a later `mprotect`
/// asking for write fails with `EACCES`), so that it never maps stale pages.
pub(crate) fn for_mmap(file: &File, shared: bool, write: bool) -> Result<(&BackingFile, &Credential, bool)> {
    let (real, cred) = backing(file)?;
    if !shared || file.inode().info()?.upper().is_some() {
        return Ok((real, cred, true));
    }
    if !write {
        return Ok((real, cred, false));
    }
    let fi = file.file_info().ok_or(EIO)?;
    let err = fi.mmap_err.xchg(0, Relaxed);
    if err != 0 {
        return Err(Error::from_errno(err));
    }
    let f = file.get_ref();
    crate::vfs::task::on_return_to_user(move || mmap_copy_up(f.file()))?;
    Err(ERESTARTNOINTR)
}

/// The copy-up queued by [`for_mmap`]: as for a write, under our inode's lock.
fn mmap_copy_up(file: &File) {
    let _lock = file.inode().lock();
    if let Err(e) = crate::copyup::copy_up(file.dentry(), true) {
        if let Some(fi) = file.file_info() {
            fi.mmap_err.store(e.to_errno(), Relaxed);
        }
    }
}
