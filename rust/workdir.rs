// SPDX-License-Identifier: GPL-2.0
//! The write branch's internal objects (aufs: `fs/aufs/whout.c`): the work
//! directory `.wh..wh.orph` where copy-up builds objects under temporary names,
//! the pseudo-link directory `.wh..wh.plnk`, the whiteout base `.wh..wh.aufs`, and the making and removing of whiteouts and
//! opaque markers.
//!
//! Everything here runs with the mounter's credentials (the caller's permission
//! was checked on the union), under a [`WriteAccess`] of the write branch.
#![forbid(unsafe_code)]

use crate::sbinfo::SbInfo;
use crate::vfs::dentry::LowerDentry;
use crate::vfs::dirop::{DirOp, WriteAccess};
use crate::whiteout;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::cred::Credential;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// The work directory's name at the root of the write branch.
pub(crate) const WORK: &[u8] = b".wh..wh.orph";
/// The whiteout base's name at the root of the write branch.
pub(crate) const BASE: &[u8] = b".wh..wh.aufs";

/// The write branch's internal objects, made at mount.
pub(crate) struct Work {
    /// `.wh..wh.orph`.
    pub(crate) dir: ARef<LowerDentry>,
    /// `.wh..wh.plnk`, the pseudo-links.
    pub(crate) plink: ARef<LowerDentry>,
    /// `.wh..wh.aufs`, unless the branch is `nolwh`.
    pub(crate) base: Option<ARef<LowerDentry>>,
    next: AtomicU64,
}

/// A temporary name in the work directory.
pub(crate) struct TempName {
    buf: [u8; 24],
    len: usize,
}

impl TempName {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Work {
    /// Makes (or reuses) the work directory and the whiteout base on `root`, the
    /// write branch's root, and empties the work directory of what a crash left.
    pub(crate) fn setup(w: &WriteAccess<'_>, root: &LowerDentry, nolwh: bool, cred: &Credential) -> Result<Work> {
        let dir = internal_dir(w, root, WORK)?;
        let plink = internal_dir(w, root, crate::plink::DIR)?;
        let base = if nolwh {
            None
        } else {
            let op = DirOp::lookup(w, root, BASE)?;
            if op.child().is_negative() {
                op.create(0o444)?;
            }
            Some(op.child_ref())
        };
        let work = Work { dir, plink, base, next: AtomicU64::new(0) };
        work.clean(w, cred);
        crate::plink::clean(w, &work.plink, cred);
        Ok(work)
    }

    /// A fresh temporary name.
    pub(crate) fn temp_name(&self) -> TempName {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let mut t = TempName { buf: [0; 24], len: 0 };
        let hex = b"0123456789abcdef";
        t.buf[0] = b'#';
        let mut len = 1;
        for i in (0..16).rev() {
            t.buf[len] = hex[((n >> (i * 4)) & 0xf) as usize];
            len += 1;
        }
        t.len = len;
        t
    }

    /// Removes whatever the work directory holds: leftovers of an interrupted
    /// copy-up (files, directories holding only internal names) or of a removed
    /// directory. Failures are reported and left for the next mount.
    pub(crate) fn clean(&self, w: &WriteAccess<'_>, cred: &Credential) {
        let mut names = KVec::new();
        if crate::readdir::names_of(w.mnt(), &self.dir, cred, &mut names).is_err() {
            return;
        }
        for name in names.iter() {
            if let Err(e) = remove_tree(w, &self.dir, name, cred) {
                pr_warn!("cannot clean the work directory: {:?}\n", e);
            }
        }
    }
}

/// Makes (or reuses) the internal directory `name` (mode 0700) in `root`.
pub(crate) fn internal_dir(w: &WriteAccess<'_>, root: &LowerDentry, name: &[u8]) -> Result<ARef<LowerDentry>> {
    let op = DirOp::lookup(w, root, name)?;
    if op.child().is_negative() {
        Ok(op.mkdir(0o700)?.child_ref())
    } else if op.child().is_dir() {
        Ok(op.child_ref())
    } else {
        pr_warn!("{}: not a directory on the write branch\n", core::str::from_utf8(name).unwrap_or("?"));
        Err(EEXIST)
    }
}

/// Removes `name` in `dir`: a non-directory, or a directory whose entries are all
/// non-directories (what copy-up and rmdir leave in the work directory).
pub(crate) fn remove_tree(w: &WriteAccess<'_>, dir: &LowerDentry, name: &[u8], cred: &Credential) -> Result {
    let child = {
        let op = DirOp::removing(w, dir, name)?;
        if !op.child().is_dir() {
            return op.unlink();
        }
        op.child_ref()
    };
    let mut names = KVec::new();
    crate::readdir::names_of(w.mnt(), &child, cred, &mut names)?;
    for n in names.iter() {
        let op = DirOp::removing(w, &child, n)?;
        if op.child().is_dir() {
            return Err(ENOTEMPTY);
        }
        op.unlink()?;
    }
    DirOp::removing_dentry(w, dir, &child)?.rmdir()
}

/// Makes the whiteout of `name` in the upper directory `dir`: a hard link of the
/// base when there is one (falling back to a new empty file when the link fails,
/// e.g. `EMLINK`), else an empty file. An existing whiteout is kept.
pub(crate) fn make_whiteout(w: &WriteAccess<'_>, sbi: &SbInfo, dir: &LowerDentry, name: &[u8]) -> Result<ARef<LowerDentry>> {
    let mut buf = [0u8; whiteout::NAME_MAX];
    let wh = whiteout::whiteout_of(name, &mut buf).ok_or(ENAMETOOLONG)?;
    let op = DirOp::lookup(w, dir, wh)?;
    if !op.child().is_negative() {
        return Ok(op.child_ref());
    }
    if let Some(base) = sbi.work.as_ref().and_then(|wk| wk.base.as_ref()) {
        if op.link(base).is_ok() {
            return Ok(op.child_ref());
        }
    }
    op.create(0o444)?;
    Ok(op.child_ref())
}

/// Removes the whiteout of `name` in `dir`, if there is one.
pub(crate) fn remove_whiteout(w: &WriteAccess<'_>, dir: &LowerDentry, name: &[u8]) -> Result {
    let mut buf = [0u8; whiteout::NAME_MAX];
    let Some(wh) = whiteout::whiteout_of(name, &mut buf) else {
        return Ok(());
    };
    match DirOp::removing(w, dir, wh) {
        Ok(op) => op.unlink(),
        Err(e) if e == ENOENT => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether `dir` holds the whiteout of `name`.
pub(crate) fn has_whiteout(dir: &LowerDentry, name: &[u8]) -> Result<bool> {
    let mut buf = [0u8; whiteout::NAME_MAX];
    match whiteout::whiteout_of(name, &mut buf) {
        Some(wh) => Ok(!dir.lookup(wh)?.is_negative()),
        None => Ok(false),
    }
}

/// Marks the upper directory `dir` opaque.
pub(crate) fn make_opaque(w: &WriteAccess<'_>, dir: &LowerDentry) -> Result {
    let op = DirOp::lookup(w, dir, whiteout::OPAQUE)?;
    if op.child().is_negative() {
        op.create(0o444)?;
    }
    Ok(())
}
