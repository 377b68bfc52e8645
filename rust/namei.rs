// SPDX-License-Identifier: GPL-2.0
//! Namespace operations: create, mkdir, mknod, symlink, link, unlink, rmdir and
//! rename (aufs: `fs/aufs/i_op_add.c`, `i_op_del.c`, `i_op_ren.c`; overlayfs:
//! `dir.c`).
//!
//! The VFS holds our parent directory locked (both, for rename) and has checked
//! permission on the union. Each operation copies the parent up, then changes the
//! write branch with `vfs_*` helpers under a [`WriteAccess`] and a [`DirOp`] (the
//! parent locked, the name looked up under the lock). Objects users create are
//! made with the caller's credentials, so they get the caller's owner and the
//! branch applies its own rules; aufs's internal names (whiteouts, opaque
//! markers, the work directory) are made with the mounter's.
//!
//! Multi-step operations order their steps so that every intermediate state shows
//! either the old or the new union, and undo what they did on failure:
//!
//! - removing a name that a lower branch has: the whiteout is made first (it has
//!   no effect while the upper object exists), then the upper object is removed;
//!   if that fails, the whiteout is removed again;
//! - a directory is removed by renaming its upper part into the work directory
//!   after the whiteout is in place, then emptying it there;
//! - a new directory over a whiteout is built opaque in the work directory and
//!   renamed into place, then the whiteout is removed;
//! - rename makes the whiteout of the source name before renaming.
//!
//! After a successful removal our dentry is unhashed (`d_drop`), so a later
//! creation of the name starts from a fresh lookup.
#![forbid(unsafe_code)]

use crate::copyup::{self, upper_dir};
use crate::sbinfo::SbInfo;
use crate::stack::DentryInfo;
use crate::vfs::acl::{Acl, AclType};
use crate::vfs::attr::{self, Iattr};
use crate::vfs::cred::{CredGuard, Owner};
use crate::vfs::dentry::{Dentry, LowerDentry};
use crate::vfs::dirop::{DirOp, RenameOp, WriteAccess};
use crate::vfs::file::{BackingFile, File};
use crate::vfs::inode::Inode;
use crate::whiteout;
use crate::workdir;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// What a new object is.
pub(crate) enum New<'a> {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A device, FIFO or socket, with its device number.
    Node(u32),
    /// A symbolic link to the target.
    Symlink(&'a kernel::str::CStr),
}

/// Names the union refuses to create: aufs's internal names (`EPERM`) and names
/// longer than aufs's limit (`ENAMETOOLONG`).
fn check_new_name(name: &[u8]) -> Result {
    if whiteout::is_internal(name) {
        return Err(EPERM);
    }
    if name.len() > whiteout::MAX_NAME_LEN {
        return Err(ENAMETOOLONG);
    }
    Ok(())
}

/// Whether a branch below the write branch shows `name` in the union directory
/// `parent` (so that removing it from the union needs a whiteout). Looked up again
/// rather than remembered, so that hard links, renames and direct changes to
/// branches are all answered by the branches themselves.
fn lower_has_name(sbi: &SbInfo, parent: &Dentry, name: &[u8]) -> Result<bool> {
    let wbr = sbi.wbr.ok_or(EROFS)?;
    for l in parent.info().ok_or(EIO)?.lowers().iter().filter(|l| l.bidx > wbr) {
        let child = l.dentry.lookup(name)?;
        if !child.is_negative() {
            return Ok(true);
        }
        if sbi.branch(l.bidx)?.perm.honours_whiteouts() && workdir::has_whiteout(&l.dentry, name)? {
            return Ok(false);
        }
    }
    Ok(false)
}

/// Attaches the new upper object `child` to our negative dentry `d`.
fn instantiate(d: &Dentry, child: ARef<LowerDentry>) -> Result {
    let info = d.info().ok_or(EIO)?;
    if !info.set_upper(child) {
        return Err(EIO);
    }
    let inode = crate::inode::get(d.sb(), info)?;
    d.instantiate(inode);
    Ok(())
}

/// `->create`, `->mkdir`, `->mknod`, `->symlink` of `d` in `dir`.
pub(crate) fn create(dir: &Inode, d: &Dentry, name: &[u8], what: New<'_>, mode: u32) -> Result {
    check_new_name(name)?;
    let parent = d.parent_ref();
    let pup = upper_dir(&parent)?;
    let sbi = dir.sb().info();
    let mnt = &sbi.write_branch()?.mnt;
    let w = WriteAccess::new(mnt)?;
    let whited = workdir::has_whiteout(&pup, name)?;
    let child = if matches!(what, New::Dir) && (whited || lower_has_name(sbi, &parent, name)?) {
        mkdir_opaque(sbi, &w, dir, &pup, name, mode)?
    } else {
        let op = DirOp::lookup(&w, &pup, name)?;
        if !op.child().is_negative() {
            return Err(EEXIST);
        }
        match what {
            New::Dir => op.mkdir(mode)?.child_ref(),
            New::File => {
                op.create(mode)?;
                op.child_ref()
            }
            New::Node(dev) => {
                op.mknod(mode, dev)?;
                op.child_ref()
            }
            New::Symlink(target) => {
                op.symlink(target)?;
                op.child_ref()
            }
        }
    };
    // The new inode's number may be written to the xino table, which takes the
    // branch's freeze protection itself: not while we hold write access.
    drop(w);
    if let Err(e) = instantiate(d, child.clone()) {
        // No inode (ENOMEM, a full xino table): the new object goes again, so
        // that the failed call changed nothing.
        undo_create(sbi, &pup, &child);
        d.drop_from_cache();
        return Err(e);
    }
    if whited {
        let _c = CredGuard::new(&sbi.creator);
        let res = WriteAccess::new(mnt).and_then(|w| workdir::remove_whiteout(&w, &pup, name));
        if let Err(e) = res {
            // Harmless: the new object hides it.
            pr_warn!("cannot remove a whiteout after create: {:?}\n", e);
        }
    }
    refresh_dir(dir);
    Ok(())
}

/// Removes the object a failed `create` made on the write branch.
fn undo_create(sbi: &SbInfo, pup: &LowerDentry, child: &LowerDentry) {
    let res = sbi.write_branch().and_then(|wb| WriteAccess::new(&wb.mnt)).and_then(|w| {
        let _c = CredGuard::new(&sbi.creator);
        if child.is_dir() {
            remove_upper_dir(sbi, &w, pup, child)
        } else {
            DirOp::removing_dentry(&w, pup, child)?.unlink()
        }
    });
    if let Err(e) = res {
        pr_warn!("cannot remove an object after a failed create ({:?})\n", e);
    }
}

/// A new directory over a whiteout: built in the work directory, made opaque,
/// given the caller's owner, then renamed into place.
fn mkdir_opaque(
    sbi: &SbInfo,
    w: &WriteAccess<'_>,
    dir: &Inode,
    pup: &LowerDentry,
    name: &[u8],
    mode: u32,
) -> Result<ARef<LowerDentry>> {
    let owner = dir.owner_for_child(Owner::current());
    // The VFS left the umask to us (the union has ACLs): apply it, or the parent's
    // default ACL, as the branch would have for a directory made in place.
    let mut mode = dir.mode_for_child_dir(mode);
    let (dacl, acl) = Acl::for_new(pup.inode().ok_or(EIO)?, &mut mode)?;
    let _c = CredGuard::new(&sbi.creator);
    let work = sbi.work.as_ref().ok_or(EROFS)?;
    let tmp_name = work.temp_name();
    let tmp = DirOp::lookup(w, &work.dir, tmp_name.as_bytes())?.mkdir(0o700)?.child_ref();
    let res = (|| -> Result {
        workdir::make_opaque(w, &tmp)?;
        for (ty, a) in [(AclType::Default, &dacl), (AclType::Access, &acl)] {
            if let Some(a) = a {
                Acl::set(w, &tmp, ty, Some(a))?;
            }
        }
        attr::setattr(w, &tmp, &mut Iattr::new().owner(owner))?;
        attr::setattr(w, &tmp, &mut Iattr::new().mode(mode))?;
        RenameOp::new(w, &work.dir, &tmp, pup, name, crate::vfs::RENAME_NOREPLACE)?.rename()
    })();
    if let Err(e) = res {
        let _ = workdir::remove_tree(w, &work.dir, tmp_name.as_bytes(), &sbi.creator);
        return Err(e);
    }
    Ok(tmp)
}

/// A rename of an upper-only directory `src` onto a merged directory that shows
/// no entries but has an upper part `up` (holding the whiteouts that hide the
/// lower entries, so the branch would refuse to replace it). overlayfs first
/// swaps `up` for an empty directory made opaque by an xattr; our opaque marker
/// is a file, so instead `src` (already opaque) and `up` are exchanged, which
/// shows the new tree at once, and `up` is moved from the old name into the work
/// directory and removed. If that move fails the exchange is undone. A crash
/// between the two steps leaves `up`, an empty directory, at the old name.
fn replace_merged(
    sbi: &SbInfo,
    w: &WriteAccess<'_>,
    opup: &LowerDentry,
    src: &ARef<LowerDentry>,
    npup: &LowerDentry,
    name: &[u8],
    up: &ARef<LowerDentry>,
) -> Result {
    use crate::vfs::{RENAME_EXCHANGE, RENAME_NOREPLACE};
    let work = sbi.work.as_ref().ok_or(EROFS)?;
    RenameOp::new(w, opup, src, npup, name, RENAME_EXCHANGE)
        .and_then(|mut r| r.rename())
        // A branch without RENAME_EXCHANGE: mv(1) copies instead.
        .map_err(|e| if e == EINVAL { EXDEV } else { e })?;
    let _c = CredGuard::new(&sbi.creator);
    let tmp_name = work.temp_name();
    let res = RenameOp::new(w, opup, up, &work.dir, tmp_name.as_bytes(), RENAME_NOREPLACE).and_then(|mut r| r.rename());
    if let Err(e) = res {
        let back = RenameOp::new(w, opup, up, npup, name, RENAME_EXCHANGE).and_then(|mut r| r.rename());
        if let Err(e2) = back {
            pr_warn!("cannot undo a directory exchange after a failed rename ({:?})\n", e2);
        }
        return Err(e);
    }
    if let Err(e) = workdir::remove_tree(w, &work.dir, tmp_name.as_bytes(), &sbi.creator) {
        pr_warn!("cannot remove a replaced directory from the work dir ({:?})\n", e);
    }
    Ok(())
}

fn refresh_dir(dir: &Inode) {
    crate::inode::refresh(dir);
}

/// `->link`: the source is copied up, then linked on the write branch.
pub(crate) fn link(old: &Dentry, dir: &Inode, d: &Dentry, name: &[u8]) -> Result {
    check_new_name(name)?;
    let src = copyup::copy_up_name(old)?;
    let parent = d.parent_ref();
    let pup = upper_dir(&parent)?;
    let sbi = dir.sb().info();
    let w = WriteAccess::new(&sbi.write_branch()?.mnt)?;
    let whited = workdir::has_whiteout(&pup, name)?;
    let child = {
        let op = DirOp::lookup(&w, &pup, name)?;
        op.link(&src)?;
        op.child_ref()
    };
    if whited {
        let _c = CredGuard::new(&sbi.creator);
        let _ = workdir::remove_whiteout(&w, &pup, name);
    }
    let info = d.info().ok_or(EIO)?;
    info.set_upper(child);
    let inode = old.inode().ok_or(EIO)?;
    crate::inode::refresh(inode);
    d.instantiate(ARef::from(inode));
    refresh_dir(dir);
    Ok(())
}

/// `->tmpfile`: an unnamed file made in the parent's copy on the write branch
/// (`vfs_tmpfile` through `backing_tmpfile_open`, with the caller's credentials
/// as for `create`), opened as `file`. `linkat` can give it a name later: its
/// upper object is linkable (unless `O_EXCL`), and `link` links it.
pub(crate) fn tmpfile(dir: &Inode, file: &File, mode: u32) -> Result {
    let d = file.dentry();
    let pup = upper_dir(&d.parent_ref())?;
    let sbi = dir.sb().info();
    let mnt = &sbi.write_branch()?.mnt;
    let real = {
        let _w = WriteAccess::new(mnt)?;
        BackingFile::tmpfile(file, file.flags(), &mnt.path(&pup), mode, &sbi.creator)?
    };
    // The inode number is entered in the xino table without write access held.
    let info = DentryInfo::new(KVec::new(), sbi.wbr)?;
    info.set_upper(real.dentry_ref());
    let inode = crate::inode::get(dir.sb(), &info)?;
    d.set_info(info);
    d.instantiate_tmpfile(file, inode);
    crate::file::open_tmpfile(file, real)
}

/// `->unlink` and `->rmdir` of `d` in `dir`.
pub(crate) fn remove(dir: &Inode, d: &Dentry, name: &[u8], is_dir: bool) -> Result {
    let sbi = dir.sb().info();
    let info = d.info().ok_or(EIO)?;
    if !info.writable() {
        return Err(EROFS);
    }
    let parent = d.parent_ref();
    if is_dir && !crate::readdir::is_empty(sbi, info)? {
        return Err(ENOTEMPTY);
    }
    let needs_wh = lower_has_name(sbi, &parent, name)?;
    let upper = info.upper().cloned();
    if !needs_wh && upper.is_none() {
        return Err(ENOENT);
    }
    let pup = upper_dir(&parent)?;
    let gone = upper.clone();
    let w = WriteAccess::new(&sbi.write_branch()?.mnt)?;
    let wh = if needs_wh {
        let _c = CredGuard::new(&sbi.creator);
        Some(workdir::make_whiteout(&w, sbi, &pup, name)?)
    } else {
        None
    };
    if let Some(up) = upper {
        let res = if is_dir { remove_upper_dir(sbi, &w, &pup, &up) } else { unlink_upper(&w, &pup, &up) };
        if let Err(e) = res {
            if wh.is_some() {
                let _c = CredGuard::new(&sbi.creator);
                if let Err(e2) = workdir::remove_whiteout(&w, &pup, name) {
                    pr_warn!("cannot undo a whiteout ({:?})\n", e2);
                }
            }
            return Err(e);
        }
    }
    if let Some(inode) = d.inode() {
        if is_dir {
            inode.clear_nlink();
        } else if let Some(p) = inode.info()?.plink() {
            // A lower name of a pseudo-linked file is gone (an upper one is
            // counted by the copy's link count).
            if gone.is_none() {
                p.name_gone();
            }
            crate::inode::refresh(inode);
        } else if inode.info()?.upper().is_some_and(|u| !u.is_negative() && !u.is_unhashed()) {
            crate::inode::refresh(inode);
        } else {
            inode.drop_nlink();
        }
    }
    d.drop_from_cache();
    drop(w);
    if let Some(ui) = gone.as_ref().and_then(|u| u.inode()) {
        forget_number(sbi, ui.ino(), ui.nlink());
    }
    refresh_dir(dir);
    Ok(())
}

/// Clears the xino entry of an upper object whose last link is gone, so that a
/// new object the branch gives the same inode number gets a new union number
/// (a lower hard link of the object's original keeps the old one).
fn forget_number(sbi: &SbInfo, h_ino: u64, nlink: u32) {
    if let (Some(x), Ok(wb), 0) = (&sbi.xino, sbi.write_branch(), nlink) {
        // A failure is logged by the table; the entry stays, as before.
        let _ = x.clear(wb.fsidx, h_ino);
    }
}

fn unlink_upper(w: &WriteAccess<'_>, pup: &LowerDentry, up: &LowerDentry) -> Result {
    let op = DirOp::removing_dentry(w, pup, up)?;
    op.unlink()
}

/// Moves the upper part of a removed directory into the work directory, then
/// empties and removes it there (best effort: leftovers go at the next mount).
fn remove_upper_dir(sbi: &SbInfo, w: &WriteAccess<'_>, pup: &LowerDentry, up: &LowerDentry) -> Result {
    let _c = CredGuard::new(&sbi.creator);
    let work = sbi.work.as_ref().ok_or(EROFS)?;
    let tmp_name = work.temp_name();
    RenameOp::new(w, pup, up, &work.dir, tmp_name.as_bytes(), crate::vfs::RENAME_NOREPLACE)?.rename()?;
    if let Err(e) = workdir::remove_tree(w, &work.dir, tmp_name.as_bytes(), &sbi.creator) {
        pr_warn!("removed directory left in the work directory ({:?})\n", e);
    }
    Ok(())
}

/// `->rename` of `old` in `old_dir` to `new` in `new_dir`.
/// The VFS holds both parents locked (`lock_rename`), which keeps both names stable.
pub(crate) fn rename(
    old_dir: &Inode,
    old: &Dentry,
    old_name: &[u8],
    new_dir: &Inode,
    new: &Dentry,
    new_name: &[u8],
    flags: u32,
) -> Result {
    use crate::vfs::{RENAME_EXCHANGE, RENAME_NOREPLACE};
    if flags & !(RENAME_EXCHANGE | RENAME_NOREPLACE) != 0 {
        return Err(EINVAL);
    }
    let exchange = flags & RENAME_EXCHANGE != 0;
    check_new_name(new_name)?;
    if exchange {
        check_new_name(old_name)?;
    }
    let sbi = old_dir.sb().info();
    let oinfo = old.info().ok_or(EIO)?;
    let ninfo = new.info().ok_or(EIO)?;
    let old_is_dir = old.inode().is_some_and(|i| i.is_dir());
    let new_is_dir = new.inode().is_some_and(|i| i.is_dir());
    // A target directory that shows entries cannot be replaced (as overlayfs).
    if new_is_dir && !exchange && ninfo.has_lower() && !crate::readdir::is_empty(sbi, ninfo)? {
        return Err(ENOTEMPTY);
    }
    // Directories with lower parts are not moved: mv(1) copies them instead. An
    // empty merged target is replaced (below), but not exchanged.
    if (old_is_dir && oinfo.has_lower()) || (new_is_dir && exchange && ninfo.has_lower()) {
        return Err(EXDEV);
    }
    let clear_target = new_is_dir && !exchange && ninfo.has_lower();
    let old_parent = old.parent_ref();
    let new_parent = new.parent_ref();
    let src = copyup::copy_up_name(old)?;
    if exchange {
        copyup::copy_up_name(new)?;
    }
    let opup = upper_dir(&old_parent)?;
    let npup = upper_dir(&new_parent)?;
    let src_wh = !exchange && lower_has_name(sbi, &old_parent, old_name)?;
    let dst_whited = workdir::has_whiteout(&npup, new_name)?;
    let dst_lower = new.inode().is_none() && lower_has_name(sbi, &new_parent, new_name)?;
    let victim_up = if exchange { None } else { ninfo.upper().cloned() };
    let w = WriteAccess::new(&sbi.write_branch()?.mnt)?;
    if old_is_dir && (dst_whited || dst_lower || clear_target) {
        let _c = CredGuard::new(&sbi.creator);
        workdir::make_opaque(&w, &src)?;
    }
    let wh = if src_wh {
        let _c = CredGuard::new(&sbi.creator);
        Some(workdir::make_whiteout(&w, sbi, &opup, old_name)?)
    } else {
        None
    };
    let res = match victim_up.as_ref().filter(|_| clear_target) {
        Some(up) => replace_merged(sbi, &w, &opup, &src, &npup, new_name, up),
        None => (|| -> Result {
            let mut r = RenameOp::new(&w, &opup, &src, &npup, new_name, flags)?;
            if exchange && r.target().is_negative() {
                return Err(ENOENT);
            }
            r.rename()
        })(),
    };
    if let Err(e) = res {
        if wh.is_some() {
            let _c = CredGuard::new(&sbi.creator);
            let _ = workdir::remove_whiteout(&w, &opup, old_name);
        }
        return Err(e);
    }
    if dst_whited && !exchange {
        let _c = CredGuard::new(&sbi.creator);
        let _ = workdir::remove_whiteout(&w, &npup, new_name);
    }
    if let Some(victim) = new.inode() {
        if !exchange {
            if victim.is_dir() {
                victim.clear_nlink();
            } else if let Some(p) = victim.info()?.plink() {
                if victim_up.is_none() {
                    p.name_gone();
                }
                crate::inode::refresh(victim);
            } else {
                victim.drop_nlink();
            }
        }
    }
    drop(w);
    if let Some(ui) = victim_up.as_ref().and_then(|u| u.inode()) {
        forget_number(sbi, ui.ino(), ui.nlink());
    }
    refresh_dir(old_dir);
    refresh_dir(new_dir);
    Ok(())
}
