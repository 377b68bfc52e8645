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
//! they survive copy-up.
//!
//! The branch files are backing files (`backing_file_open`), so `/proc/<pid>/maps`
//! and `/proc/<pid>/fd` show the union path, while mmap maps the branch's pages.
#![forbid(unsafe_code)]

use crate::vfs::file::{BackingFile, File};
use crate::vfs::inode::Inode;
use crate::vfs::{O_ACCMODE, O_RDONLY};
use kernel::cred::Credential;
use kernel::prelude::*;
use kernel::sync::SetOnce;

/// The state of one of our open regular files.
pub(crate) struct FileInfo {
    /// The branch file opened by `open`.
    first: BackingFile,
    /// Whether `first` is the copy on the write branch.
    first_is_upper: bool,
    /// The file on the write branch, opened after a copy-up.
    upper: SetOnce<BackingFile>,
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
    let fi = FileInfo { first: real, first_is_upper, upper: SetOnce::new(), _count: crate::stats::FileCount::new() };
    file.set_file_info(KBox::new(fi, GFP_KERNEL)?);
    Ok(())
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
    let (real, cred) = for_write(file)?;
    let r = real.fallocate(mode, offset, len, cred);
    crate::inode::refresh(file.inode());
    r
}

/// The branch file to map. A private mapping never copies up. A shared mapping
/// that may be written needs the copy on the write branch, but `->mmap` runs under
/// `mmap_lock`, which ranks below freeze protection and directory locks, so it
/// cannot copy up: a file that is still on a read-only branch is mapped read-only
/// (`false` returned: the caller clears `VM_MAYWRITE`) and a writable shared
/// mapping of it fails with `EACCES` until its first write copies it up.
pub(crate) fn for_mmap(file: &File, shared: bool, write: bool) -> Result<(&BackingFile, &Credential, bool)> {
    let (real, cred) = backing(file)?;
    let on_upper = file.inode().info()?.upper().is_some();
    if shared && !on_upper {
        if write {
            kernel::pr_info_once!("shared writable mmap of a file on a read-only branch: write to it first\n");
            return Err(EACCES);
        }
        return Ok((real, cred, false));
    }
    Ok((real, cred, true))
}
