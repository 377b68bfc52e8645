// SPDX-License-Identifier: GPL-2.0
//! Copy-up: giving a name that lives on a lower branch its own object on the write
//! branch, before its first change (aufs: `fs/aufs/cpup.c`; overlayfs:
//! `copy_up.c`).
//!
//! Parents first: the directories above the name are copied up top-down, each
//! with its own attributes. Then the object itself, in three steps:
//!
//! 1. with write access and the mounter's credentials, an object of the same type
//!    is made in the work directory under a temporary name;
//! 2. without holding write access (the copy helpers take freeze protection per
//!    chunk), the data is copied: a reflink when the branch can share extents,
//!    else chunk by chunk with `vfs_copy_file_range`, skipping holes (SEEK_DATA);
//! 3. with write access again: xattrs, POSIX ACLs, owner, mode, times; then the temporary is
//!    renamed onto the name in the parent's upper directory.
//!
//! A failure at any step removes the temporary, so the name never shows a partial
//! copy; after a crash the temporary is in the work directory, which the next
//! mount empties. Owner is set before mode (a chown clears set-id bits), times
//! last. Copy-up of one inode is serialised by its `copy_lock`.
//!
//! Lock order: our inode's `i_rwsem` (held by the VFS for setattr, by us for
//! write) → `copy_lock` → the write branch's freeze protection → branch
//! directory locks (`lock_rename` order) → branch inode lock (`notify_change`).
#![forbid(unsafe_code)]

use crate::plink::{Pending, Plinks};
use crate::sbinfo::SbInfo;
use crate::vfs::attr::{self, Iattr, Stat};
use crate::vfs::bindings_modes as modes;
use crate::vfs::cred::CredGuard;
use crate::vfs::dentry::{Dentry, LowerDentry};
use crate::vfs::dirop::{DirOp, RenameOp, WriteAccess};
use crate::vfs::file::KernelFile;
use crate::vfs::path::LowerPath;
use crate::workdir::{self, Work};
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// Bytes copied per call: bounded so that a signal is noticed in time.
const CHUNK: usize = 1 << 20;

/// Makes sure the data object of `d` (positive) is on the write branch, copying
/// it up with (`data`) or without its contents, and returns it.
pub(crate) fn copy_up(d: &Dentry, data: bool) -> Result<ARef<LowerDentry>> {
    let inode = d.inode().ok_or(EIO)?;
    if let Some(u) = inode.info()?.upper() {
        return Ok(u.clone());
    }
    copy_up_parents(d)?;
    copy_up_one(d, data)
}

/// Makes sure the name `d` itself has an object on the write branch (for rename
/// and link, which work on names). Usually that is [`copy_up`]; for a second name
/// of a hard-linked file whose data was copied up through another name, the new
/// name is made a hard link of that copy (aufs's pseudo-link, made real).
pub(crate) fn copy_up_name(d: &Dentry) -> Result<ARef<LowerDentry>> {
    let dinfo = d.info().ok_or(EIO)?;
    if let Some(u) = dinfo.upper() {
        return Ok(u.clone());
    }
    let inode = d.inode().ok_or(EIO)?;
    let info = inode.info()?;
    // Linked from the pseudo-link if there is one: the name the copy was made
    // under may have been removed since.
    let Some(data) = info.plink().map(|p| p.link.clone()).or_else(|| info.upper().cloned()) else {
        return copy_up(d, true);
    };
    copy_up_parents(d)?;
    let parent = d.parent_ref();
    let pup = parent.info().ok_or(EIO)?.upper().ok_or(EIO)?.clone();
    let name = d.name_copy()?;
    let sbi = inode.sb().info();
    let _c = CredGuard::new(&sbi.creator);
    let w = WriteAccess::new(&sbi.write_branch()?.mnt)?;
    let op = DirOp::lookup(&w, &pup, &name)?;
    op.link(&data)?;
    let up = op.child_ref();
    dinfo.set_upper(up.clone());
    if let Some(p) = info.plink() {
        p.name_gone();
        crate::inode::refresh(inode);
    }
    Ok(up)
}

/// The upper directory of our directory `dir`, copied up if needed.
pub(crate) fn upper_dir(dir: &Dentry) -> Result<ARef<LowerDentry>> {
    if let Some(u) = dir.info().ok_or(EIO)?.upper() {
        return Ok(u.clone());
    }
    copy_up(dir, false)
}

/// Copies up the ancestors of `d` that have no upper object, top-most first
/// (iteratively: a deep tree must not exhaust the kernel stack).
fn copy_up_parents(d: &Dentry) -> Result {
    let mut missing: KVec<ARef<Dentry>> = KVec::new();
    let mut p = d.parent_ref();
    loop {
        let info = p.info().ok_or(EIO)?;
        if info.upper().is_some() {
            break;
        }
        if p.is_root() {
            // The root's upper object is the write branch's root; without it the
            // write branch lies below a read-only one.
            return Err(EROFS);
        }
        let next = p.parent_ref();
        missing.push(p, GFP_KERNEL)?;
        p = next;
    }
    while let Some(a) = missing.pop() {
        copy_up_one(&a, false)?;
    }
    Ok(())
}

fn copy_up_one(d: &Dentry, data: bool) -> Result<ARef<LowerDentry>> {
    let inode = d.inode().ok_or(EIO)?;
    let info = inode.info()?;
    let _g = info.copy_lock.lock();
    if let Some(u) = info.upper() {
        return Ok(u.clone());
    }
    let dinfo = d.info().ok_or(EIO)?;
    if !dinfo.writable() {
        return Err(EROFS);
    }
    if let Some(u) = dinfo.upper() {
        info.set_upper(u.clone());
        return Ok(u.clone());
    }
    let parent = d.parent_ref();
    let pup = parent.info().ok_or(EIO)?.upper().ok_or(EIO)?.clone();
    let name = d.name_copy()?;
    let sbi = inode.sb().info();
    let src = dinfo.lowers().first().ok_or(EIO)?;
    let src_path = sbi.branch(src.bidx)?.mnt.path(&src.dentry);
    let plinks = sbi.plinks.as_ref().filter(|p| src.dentry.inode().is_some_and(|li| p.wanted(li)));
    let (upper, pending) = build(sbi, &src_path, &pup, &name, data, inode.ino(), plinks)?;
    dinfo.set_upper(upper.clone());
    info.set_upper(upper.clone());
    if let Some(ui) = upper.inode() {
        inode.rehash(ui.key());
    }
    if let (Some(pl), Some(p)) = (plinks, pending) {
        info.set_plink(pl.register(p));
        crate::inode::refresh(inode);
    }
    Ok(upper)
}

/// Builds the copy of `src` in the work directory and renames it to `name` in
/// `pup`; on failure removes the temporary.
///
/// The copy is entered in the xino table with `ino`, the union number of the
/// original, before it gets its name, so that no lookup sees it with another.
/// With `plinks`, the copy gets its pseudo-link before its name too.
fn build(
    sbi: &SbInfo,
    src: &LowerPath<'_>,
    pup: &LowerDentry,
    name: &[u8],
    data: bool,
    ino: u64,
    plinks: Option<&Plinks>,
) -> Result<(ARef<LowerDentry>, Option<Pending>)> {
    let wb = sbi.write_branch()?;
    let work = sbi.work.as_ref().ok_or(EROFS)?;
    let _c = CredGuard::new(&sbi.creator);
    let st = Stat::of(src)?;
    let tmp_name = work.temp_name();
    let tmp = {
        let w = WriteAccess::new(&wb.mnt)?;
        make_temp(&w, work, tmp_name.as_bytes(), src, &st)?
    };
    let tmp_ino = tmp.inode().ok_or(EIO)?.ino();
    let mut pending = None;
    let res = (|| -> Result {
        if data && st.mode() & modes::S_IFMT == modes::S_IFREG {
            copy_data(sbi, src, &wb.mnt.path(&tmp), st.size())?;
        }
        {
            let w = WriteAccess::new(&wb.mnt)?;
            copy_xattrs(&w, src, &tmp)?;
            crate::acl::copy(&w, src, &tmp)?;
            set_attrs(&w, &tmp, &st, data)?;
        }
        // The table write takes the branch's freeze protection itself.
        if let Some(x) = &sbi.xino {
            x.set(wb.fsidx, tmp_ino, ino)?;
        }
        let w = WriteAccess::new(&wb.mnt)?;
        if let Some(p) = plinks {
            pending = Some(p.prepare(&w, src.dentry, &tmp, ino)?);
        }
        let mut r = RenameOp::new(&w, &work.dir, &tmp, pup, name, crate::vfs::RENAME_NOREPLACE)?;
        r.rename()
    })();
    if let Err(e) = res {
        if let (Some(pl), Some(p)) = (plinks, pending.take()) {
            if let Ok(w) = WriteAccess::new(&wb.mnt) {
                pl.undo(&w, p);
            }
        }
        if let Some(x) = &sbi.xino {
            let _ = x.clear(wb.fsidx, tmp_ino);
        }
        if let Ok(w) = WriteAccess::new(&wb.mnt) {
            if let Err(e2) = workdir::remove_tree(&w, &work.dir, tmp_name.as_bytes(), &sbi.creator) {
                pr_warn!("copy-up: cannot remove a temporary ({:?}); the next mount will\n", e2);
            }
        }
        return Err(e);
    }
    Ok((tmp, pending))
}

/// Makes the temporary object: same type as `st`, private mode until the
/// attributes are set.
fn make_temp(w: &WriteAccess<'_>, work: &Work, name: &[u8], src: &LowerPath<'_>, st: &Stat) -> Result<ARef<LowerDentry>> {
    let op = DirOp::lookup(w, &work.dir, name)?;
    if !op.child().is_negative() {
        return Err(EEXIST);
    }
    match st.mode() & modes::S_IFMT {
        modes::S_IFREG => op.create(0o600)?,
        modes::S_IFDIR => return Ok(op.mkdir(0o700)?.child_ref()),
        modes::S_IFLNK => {
            let target = src.dentry.link_target()?;
            op.symlink(&target)?;
        }
        _ => op.mknod(st.mode(), st.rdev())?,
    }
    Ok(op.child_ref())
}

fn copy_data(sbi: &SbInfo, src: &LowerPath<'_>, dst: &LowerPath<'_>, len: i64) -> Result {
    if len == 0 {
        return Ok(());
    }
    // The copy is not an access by anyone: the lower file's atime stays as it was.
    let from = KernelFile::open(src, crate::vfs::O_RDONLY | crate::vfs::O_NOATIME, &sbi.creator)?;
    let to = KernelFile::open(dst, crate::vfs::O_WRONLY, &sbi.creator)?;
    if to.clone_from(&from, len) {
        return Ok(());
    }
    let mut pos = 0i64;
    while pos < len {
        if crate::vfs::fatal_signal_pending() {
            return Err(EINTR);
        }
        let start = match from.next_data(pos) {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(_) => pos,
        };
        if start >= len {
            break;
        }
        // Up to the next hole only: copying across it would fill it with zeros.
        let end = match from.next_hole(start) {
            Ok(Some(e)) if e > start => e.min(len),
            _ => len,
        };
        let want = usize::try_from(end - start).unwrap_or(CHUNK).min(CHUNK);
        let n = to.copy_range_from(&from, start, want)?;
        if n == 0 {
            return Err(EIO);
        }
        pos = start + n as i64;
    }
    to.fsync()
}

/// Copies every xattr the branch lets us read; ones the write branch does not
/// support are skipped (as overlayfs does), other failures fail the copy-up.
fn copy_xattrs(w: &WriteAccess<'_>, src: &LowerPath<'_>, dst: &LowerDentry) -> Result {
    let mut names = KVec::new();
    attr::list_xattrs(src.dentry, &mut names)?;
    let mut value = KVec::new();
    for name in names.split(|&c| c == 0).filter(|n| !n.is_empty() && !crate::acl::is_acl_alias(n)) {
        let mut cname = KVec::with_capacity(name.len() + 1, GFP_KERNEL)?;
        cname.extend_from_slice(name, GFP_KERNEL)?;
        cname.push(0, GFP_KERNEL)?;
        let cname = kernel::str::CStr::from_bytes_with_nul(&cname).map_err(|_| EINVAL)?;
        match attr::get_xattr(src.mnt.idmap(), src.dentry, cname, &mut value) {
            Ok(()) => {}
            Err(e) if e == ENODATA || e == EOPNOTSUPP || e == EPERM => continue,
            Err(e) => return Err(e),
        }
        match attr::set_xattr(w, dst, cname, &value, 0) {
            Ok(()) => {}
            Err(e) if e == EOPNOTSUPP => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Owner, then mode (not for symlinks), then size (a sparse tail), then times.
fn set_attrs(w: &WriteAccess<'_>, tmp: &LowerDentry, st: &Stat, data: bool) -> Result {
    attr::setattr(w, tmp, &mut Iattr::new().owner(st.owner()))?;
    let is_reg = st.mode() & modes::S_IFMT == modes::S_IFREG;
    if st.mode() & modes::S_IFMT != modes::S_IFLNK {
        attr::setattr(w, tmp, &mut Iattr::new().mode(st.mode()))?;
    }
    if is_reg && data {
        attr::setattr(w, tmp, &mut Iattr::new().size(st.size()))?;
    }
    attr::setattr(w, tmp, &mut Iattr::new().times_of(st))
}
