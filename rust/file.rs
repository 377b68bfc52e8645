// SPDX-License-Identifier: GPL-2.0
//! Regular files: open the top-most lower file and pass I/O through to it
//! (aufs: `fs/aufs/f_op.c`; overlayfs: `file.c`).
//!
//! The lower file is a backing file (`backing_file_open`), so `/proc/<pid>/maps`
//! and `/proc/<pid>/fd` show the union path, while mmap maps the branch's pages.
#![forbid(unsafe_code)]

use crate::vfs::file::{BackingFile, File};
use crate::vfs::inode::Inode;
use kernel::cred::Credential;
use kernel::prelude::*;

/// The state of one of our open regular files.
pub(crate) struct FileInfo {
    real: BackingFile,
    _count: crate::stats::FileCount,
}

/// Open flags that concern only the opening of our file, not the lower one.
const OPEN_ONLY_FLAGS: u32 = crate::vfs::O_CREAT | crate::vfs::O_EXCL | crate::vfs::O_NOCTTY | crate::vfs::O_TRUNC;

/// `->open`: opens the top-most lower file with the mounter's credentials.
pub(crate) fn open(inode: &Inode, file: &File) -> Result {
    let d = file.dentry();
    let info = d.info().ok_or(EIO)?;
    let sbi = inode.sb().info();
    let top = info.top();
    let br = sbi.branch(top.bidx)?;
    let real = BackingFile::open(file, file.flags() & !OPEN_ONLY_FLAGS, &br.mnt.path(&top.dentry), &sbi.creator)?;
    // O_DIRECT works through the union when it works on the branch (aufs's `dio`).
    if real.can_odirect() {
        file.set_can_odirect();
    }
    file.set_file_info(KBox::new(FileInfo { real, _count: crate::stats::FileCount::new() }, GFP_KERNEL)?);
    Ok(())
}

/// `->release`: closes the lower file.
pub(crate) fn release(file: &File) {
    drop(file.take_file_info());
}

/// The lower file and the credentials to use it with.
pub(crate) fn backing(file: &File) -> Result<(&BackingFile, &Credential)> {
    let info = file.file_info().ok_or(EIO)?;
    Ok((&info.real, &file.inode_sb().info().creator))
}

/// `->llseek`: seeks the lower file, so that SEEK_DATA/SEEK_HOLE see its holes.
pub(crate) fn llseek(file: &File, offset: i64, whence: i32) -> Result<i64> {
    let (real, _) = backing(file)?;
    let pos = real.llseek(file.pos(), offset, whence)?;
    file.set_pos(pos);
    Ok(pos)
}
