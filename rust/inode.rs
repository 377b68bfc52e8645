// SPDX-License-Identifier: GPL-2.0
//! Our inodes: their data, inode numbers, `getattr` and `permission`
//! (aufs: `fs/aufs/iinfo.c`, `i_op.c`; overlayfs: `inode.c`).
//!
//! An inode stands for the top-most object of a lower stack and is found again
//! through that object (`iget5_locked` keyed by the lower inode), so every name of
//! a hard-linked lower file gives one union inode.
//!
//! Inode numbers (until the xino table lands): the lower inode number, with the
//! index of the branch's filesystem among the union's distinct filesystems in the
//! top 8 bits (0 for the top branch's filesystem, so a union of directories of one
//! filesystem shows that filesystem's numbers). They are unique within the mount
//! and stable across eviction. A lower number that already uses the top 8 bits
//! gets a number from `get_next_ino` instead (unique, not stable).
#![forbid(unsafe_code)]

use crate::sbinfo::SbInfo;
use crate::stack::{BIdx, Lower};
use crate::vfs::dentry::{Dentry, LowerDentry};
use crate::vfs::inode::{self as vinode, Inode, Kind, LowerInode, Lookup, Params};
use crate::vfs::path::PrivateMount;
use crate::vfs::sb::SuperBlock;
use crate::vfs::{bindings_modes as modes, Kstat};
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// What the union keeps per inode. Immutable for the life of the inode.
pub(crate) struct InodeInfo {
    /// The top-most lower inode (the one whose data and attributes are shown).
    pub(crate) lower: ARef<LowerInode>,
    /// Its branch.
    pub(crate) bidx: BIdx,
}

const FSIDX_SHIFT: u32 = 56;

/// The union inode number of lower inode number `ino` on branch `b`.
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

/// Finds or makes our inode for the top entry of a stack.
pub(crate) fn get(sb: &SuperBlock, top: &Lower) -> Result<ARef<Inode>> {
    let lower = top.dentry.inode().ok_or(EIO)?;
    match vinode::get_or_create(sb, lower.key())? {
        Lookup::Cached(inode) => Ok(inode),
        Lookup::New(new) => {
            let ino = union_ino(sb.info(), top.bidx, lower.ino()).unwrap_or_else(vinode::next_ino);
            let info = InodeInfo { lower: ARef::from(lower), bidx: top.bidx };
            Ok(new.init(info, lower, Params { ino, kind: kind_of(lower) }))
        }
    }
}

fn branch_mnt<'a>(sb: &'a SuperBlock, b: BIdx) -> Result<&'a PrivateMount> {
    Ok(&sb.info().branch(b)?.mnt)
}

/// `permission`: the top-most lower inode decides, with the caller's credentials
/// (as aufs with `dirperm1`, and as overlayfs's real-inode check). Write access
/// never reaches a branch yet: the superblock is read-only, so the VFS refuses
/// writes with `EROFS` before calling us.
pub(crate) fn permission(inode: &Inode, mask: u32) -> Result {
    let info = inode.info()?;
    let mnt = branch_mnt(inode.sb(), info.bidx)?;
    info.lower.permission(mnt.idmap(), mask)
}

/// `getattr`: the top-most object's attributes, with the union's device and inode
/// number; a merged directory reports one link, as overlayfs does, so that
/// tools do not infer its subdirectory count from `st_nlink`.
pub(crate) fn getattr(d: &Dentry, mut stat: Kstat<'_>, mask: u32, flags: u32) -> Result {
    let info = d.info().ok_or(EIO)?;
    let inode = d.inode().ok_or(EIO)?;
    let sb = inode.sb();
    let top = info.top();
    branch_mnt(sb, top.bidx)?.path(&top.dentry).getattr(&mut stat, mask, flags)?;
    stat.set_identity(sb.dev(), inode.ino());
    if info.is_merged() {
        stat.set_nlink(1);
    }
    Ok(())
}

/// The lower dentry whose link target `readlink` shows.
pub(crate) fn lower_link_target(d: &Dentry) -> Result<&LowerDentry> {
    lower_top(d)
}

/// The top-most lower dentry of one of our dentries.
pub(crate) fn lower_top(d: &Dentry) -> Result<&LowerDentry> {
    Ok(&d.info().ok_or(EIO)?.top().dentry)
}

/// The top-most lower dentry and its branch's idmap (for xattr reads).
pub(crate) fn lower_top_with_idmap(d: &Dentry) -> Result<(&LowerDentry, crate::vfs::Idmap)> {
    let info = d.info().ok_or(EIO)?;
    let inode = d.inode().ok_or(EIO)?;
    let top = info.top();
    Ok((&top.dentry, branch_mnt(inode.sb(), top.bidx)?.idmap()))
}
