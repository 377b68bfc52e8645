// SPDX-License-Identifier: GPL-2.0
//! Our inodes: their data, inode numbers, `getattr`, `permission` and `setattr`
//! (aufs: `fs/aufs/iinfo.c`, `i_op.c`; overlayfs: `inode.c`).
//!
//! An inode stands for the data object of a name: its object on the write branch
//! once there is one (the "upper" object, set at most once, by lookup, creation
//! or copy-up), else the top-most lower object. Inodes are found again through
//! that object (`iget5_locked` keyed by its inode; re-keyed by copy-up), so every
//! name of a hard-linked file gives one union inode.
//!
//! Inode numbers come from the xino table ([`crate::xino`]); with `noxino`, from
//! [`union_ino`].
#![forbid(unsafe_code)]

use crate::sbinfo::SbInfo;
use crate::stack::{BIdx, DentryInfo, Lower};
use crate::vfs::attr::{self, Iattr};
use crate::vfs::cred::CredGuard;
use crate::vfs::dentry::{Dentry, LowerDentry};
use crate::vfs::dirop::WriteAccess;
use crate::vfs::inode::{self as vinode, Inode, Kind, LowerInode, Lookup, Params};
use crate::vfs::path::PrivateMount;
use crate::vfs::sb::SuperBlock;
use crate::vfs::{bindings_modes as modes, Kstat};
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::{new_mutex, Arc, Mutex, SetOnce};
use crate::plink::Plink;

/// What the union keeps per inode.
///
/// # Invariants
///
/// `upper` is a dentry of the write branch and is set at most once, under
/// `copy_lock` (or before the inode is visible); `lower` never changes.
pub(crate) struct InodeInfo {
    upper: SetOnce<ARef<LowerDentry>>,
    lower: Option<Lower>,
    /// The pseudo-link of the copy, once a copy-up made one ([`crate::plink`]).
    plink: SetOnce<Arc<Plink>>,
    /// Serialises copy-up of this inode's data.
    pub(crate) copy_lock: Pin<KBox<Mutex<()>>>,
}

impl InodeInfo {
    /// The data object on the write branch, if there is one yet.
    pub(crate) fn upper(&self) -> Option<&ARef<LowerDentry>> {
        self.upper.as_ref()
    }

    /// Records the upper object; the caller holds `copy_lock`.
    pub(crate) fn set_upper(&self, d: ARef<LowerDentry>) {
        self.upper.populate(d);
    }

    /// The top-most lower data object, if any.
    pub(crate) fn lower(&self) -> Option<&Lower> {
        self.lower.as_ref()
    }

    /// The pseudo-link of this inode's copy, if it has one.
    pub(crate) fn plink(&self) -> Option<&Arc<Plink>> {
        self.plink.as_ref()
    }

    /// Records the pseudo-link made by the copy-up; the caller holds `copy_lock`.
    pub(crate) fn set_plink(&self, p: Arc<Plink>) {
        self.plink.populate(p);
    }

    /// The object whose data and attributes the union shows, with its branch.
    pub(crate) fn top(&self, sbi: &SbInfo) -> Option<(BIdx, &LowerDentry)> {
        match (self.upper(), sbi.wbr) {
            (Some(u), Some(w)) => Some((w, u)),
            _ => self.lower.as_ref().map(|l| (l.bidx, &*l.dentry)),
        }
    }
}

const FSIDX_SHIFT: u32 = 56;

/// The union inode number of the object with inode number `h_ino` on branch `b`:
/// from the xino table, or without one (`noxino`) from [`union_ino`] (or, for a
/// number that does not fit, a fresh one).
pub(crate) fn number(sbi: &SbInfo, b: BIdx, h_ino: u64) -> Result<u64> {
    match &sbi.xino {
        Some(x) => x.ino(sbi.branch(b)?.fsidx, h_ino),
        None => Ok(union_ino(sbi, b, h_ino).unwrap_or_else(vinode::next_ino)),
    }
}

/// Without a xino table: the union inode number of branch inode number `ino` on
/// branch `b`.
pub(crate) fn union_ino(sbi: &SbInfo, b: BIdx, ino: u64) -> Option<u64> {
    let fsidx = u64::from(sbi.branch(b).ok()?.fsidx);
    (ino >> FSIDX_SHIFT == 0).then_some(ino | (fsidx << FSIDX_SHIFT))
}

fn kind_of(lower: &LowerInode) -> Kind {
    let mode = lower.mode();
    match mode & modes::S_IFMT {
        modes::S_IFDIR => Kind::Dir,
        modes::S_IFREG => Kind::Reg,
        modes::S_IFLNK => Kind::Symlink,
        _ => Kind::Special(mode, lower.rdev()),
    }
}

/// Finds or makes our inode for the name described by `info` (positive).
///
/// A lower name of a pseudo-linked file is given the inode of the copy (found
/// through the table by the lower inode), so every name shows the same file.
pub(crate) fn get(sb: &SuperBlock, info: &DentryInfo) -> Result<ARef<Inode>> {
    let sbi = sb.info();
    let (bidx, top) = info.top().ok_or(EIO)?;
    let top_inode = top.inode().ok_or(EIO)?;
    let plink = sbi.plinks.as_ref().and_then(|p| match info.upper() {
        Some(_) => p.by_upper(top_inode),
        None => p.by_lower(top_inode),
    });
    let data = match (&plink, info.upper()) {
        (Some(p), None) => &*p.link,
        _ => top,
    };
    let data_inode = data.inode().ok_or(EIO)?;
    match vinode::get_or_create(sb, data_inode.key())? {
        Lookup::Cached(inode) => Ok(inode),
        Lookup::New(new) => {
            let ino = number(sbi, bidx, top_inode.ino())?;
            let upper = SetOnce::new();
            if let Some(u) = info.upper() {
                upper.populate(u.clone());
            } else if plink.is_some() {
                upper.populate(ARef::from(data));
            }
            let lower = info.lowers().first().map(|l| Lower { bidx: l.bidx, dentry: l.dentry.clone() });
            let copy_lock = KBox::pin_init(new_mutex!(()), GFP_KERNEL)?;
            let pl = SetOnce::new();
            if let Some(p) = &plink {
                pl.populate(p.clone());
            }
            // INVARIANT: a new inode, not yet visible; `upper` set from the name
            // or its pseudo-link.
            let data = InodeInfo { upper, lower, plink: pl, copy_lock };
            let inode = new.init(data, data_inode, Params { ino, kind: kind_of(data_inode) });
            refresh(&inode);
            Ok(inode)
        }
    }
}

fn branch_mnt<'a>(sb: &'a SuperBlock, b: BIdx) -> Result<&'a PrivateMount> {
    Ok(&sb.info().branch(b)?.mnt)
}

/// Copies the attributes of the data object into our inode (after a change).
pub(crate) fn refresh(inode: &Inode) {
    let Ok(info) = inode.info() else { return };
    if let Some((_, top)) = info.top(inode.sb().info()) {
        if let Some(li) = top.inode() {
            inode.copy_attr(li);
            if let Some(p) = info.plink() {
                inode.set_nlink(p.nlink(li.nlink()));
            }
        }
    }
}

/// `permission`: the caller's credentials against our inode's attributes (a copy
/// of the data object's), then against the data object itself. A write to an
/// object that is still on a read-only branch is checked as a read there: the
/// write will go to its copy on the write branch (as overlayfs does).
pub(crate) fn permission(inode: &Inode, mask: u32) -> Result {
    let info = inode.info()?;
    let sb = inode.sb();
    let (b, top) = info.top(sb.info()).ok_or(EIO)?;
    let li = top.inode().ok_or(EIO)?;
    let write = kernel::bindings::MAY_WRITE | kernel::bindings::MAY_APPEND;
    let mut m = mask;
    if info.upper().is_none() && mask & write != 0 && !inode.is_special() {
        inode.generic_permission(mask)?;
        m = (mask & !write) | kernel::bindings::MAY_READ;
    }
    li.permission(branch_mnt(sb, b)?.idmap(), m)
}

/// `getattr`: the data object's attributes, with the union's device and inode
/// number; a merged directory reports one link, as overlayfs does, so that tools
/// do not infer its subdirectory count from `st_nlink`.
pub(crate) fn getattr(d: &Dentry, mut stat: Kstat<'_>, mask: u32, flags: u32) -> Result {
    let dinfo = d.info().ok_or(EIO)?;
    let inode = d.inode().ok_or(EIO)?;
    let sb = inode.sb();
    let (b, top) = inode.info()?.top(sb.info()).ok_or(EIO)?;
    branch_mnt(sb, b)?.path(top).getattr(&mut stat, mask, flags)?;
    stat.set_identity(sb.dev(), inode.ino());
    if dinfo.is_merged() && inode.is_dir() {
        stat.set_nlink(1);
    }
    if let (Some(p), Some(li)) = (inode.info()?.plink(), top.inode()) {
        stat.set_nlink(p.nlink(li.nlink()));
    }
    Ok(())
}

/// `setattr`: checked against our inode with the caller's credentials, then the
/// object is copied up (without data when it is truncated to zero) and changed on
/// the write branch with the mounter's credentials. The VFS holds our inode lock.
pub(crate) fn setattr(d: &Dentry, attr: &mut Iattr) -> Result {
    let inode = d.inode().ok_or(EIO)?;
    refresh(inode);
    d.setattr_prepare(attr)?;
    let data = attr.new_size().is_none_or(|s| s != 0);
    let upper = crate::copyup::copy_up(d, data)?;
    attr.for_branch();
    let sbi = inode.sb().info();
    let mnt = &sbi.write_branch()?.mnt;
    {
        let _c = CredGuard::new(&sbi.creator);
        let w = WriteAccess::new(mnt)?;
        attr::setattr(&w, &upper, attr)?;
    }
    refresh(inode);
    Ok(())
}

/// The lower dentry whose link target `readlink` shows.
pub(crate) fn lower_link_target(d: &Dentry) -> Result<&LowerDentry> {
    lower_top(d)
}

/// The data object of one of our dentries.
pub(crate) fn lower_top(d: &Dentry) -> Result<&LowerDentry> {
    let inode = d.inode().ok_or(EIO)?;
    Ok(inode.info()?.top(inode.sb().info()).ok_or(EIO)?.1)
}

/// The data object and its branch's idmap (for xattr reads).
pub(crate) fn lower_top_with_idmap(d: &Dentry) -> Result<(&LowerDentry, crate::vfs::Idmap)> {
    let inode = d.inode().ok_or(EIO)?;
    let (b, top) = inode.info()?.top(inode.sb().info()).ok_or(EIO)?;
    Ok((top, branch_mnt(inode.sb(), b)?.idmap()))
}

/// Sets (`Some`) or removes (`None`) an xattr: the object is copied up, then
/// changed on the write branch with the mounter's credentials (the VFS checked
/// the caller's permission on our inode, which it holds locked).
pub(crate) fn set_xattr(d: &Dentry, name: &kernel::str::CStr, value: Option<&[u8]>, flags: i32) -> Result {
    let inode = d.inode().ok_or(EIO)?;
    let upper = crate::copyup::copy_up(d, true)?;
    let sbi = inode.sb().info();
    {
        let _c = CredGuard::new(&sbi.creator);
        let w = WriteAccess::new(&sbi.write_branch()?.mnt)?;
        match value {
            Some(v) => attr::set_xattr(&w, &upper, name, v, flags)?,
            None => attr::remove_xattr(&w, &upper, name)?,
        }
    }
    refresh(inode);
    Ok(())
}
