// SPDX-License-Identifier: GPL-2.0
//! Branches: resolving, checking and holding the directories a union is made of.
//!
//! aufs counterpart: `fs/aufs/branch.c`. A branch holds the user's path (for
//! `/proc/mounts`, and so that the branch cannot be unmounted under the union) and
//! a private clone of its mount (which all union I/O goes through).
#![forbid(unsafe_code)]

use crate::opts::{BranchPerm, Perm};
use crate::stack::BIdx;
use crate::vfs::fc::FsContext;
use crate::vfs::inode::SbId;
use crate::vfs::path::{Path, PrivateMount};
use kernel::prelude::*;

/// Magic numbers of filesystems that cannot be branches: their contents are not
/// files (aufs refuses the same list).
const REFUSED_MAGICS: [(u64, &str); 6] = [
    (0x9fa0, "proc"),
    (0x62656572, "sysfs"),
    (0x62656570, "configfs"),
    (0x64626720, "debugfs"),
    (0x73636673, "securityfs"),
    (0x74726163, "tracefs"),
];

/// Magic numbers of filesystems that can never change: their branches default to
/// `rr` (squashfs, iso9660, cramfs, romfs, erofs).
const NEVER_CHANGING_MAGICS: [u64; 5] = [0x73717368, 0x9660, 0x28cd3d45, 0x7275, 0xe0f5e1e2];

/// A branch being configured: resolved, not yet checked against the others.
pub(crate) struct NewBranch {
    /// What the user wrote, for messages.
    pub(crate) name: KVec<u8>,
    /// The resolved directory.
    pub(crate) path: Path,
    /// The permission, if given.
    pub(crate) perm: Option<BranchPerm>,
}

impl NewBranch {
    /// The permission, explicit or by aufs's defaults for the branch at `index`:
    /// the top branch is `rw` when its filesystem is writable, the rest `ro`, and
    /// filesystems that never change are `rr`.
    pub(crate) fn perm_at(&self, index: usize) -> BranchPerm {
        if let Some(p) = self.perm {
            return p;
        }
        let mut p = BranchPerm::default_for(index);
        if NEVER_CHANGING_MAGICS.contains(&self.path.fs_magic()) {
            p.perm = Perm::Rr;
        } else if p.perm == Perm::Rw && self.path.is_rdonly() {
            p.perm = Perm::Ro;
        }
        p
    }

    fn name(&self) -> &str {
        core::str::from_utf8(&self.name).unwrap_or("?")
    }
}

/// A branch of a mounted union.
pub(crate) struct Branch {
    /// The user's path (pins the branch's mount; printed in `/proc/mounts`).
    pub(crate) user: Path,
    /// The private mount all union I/O goes through.
    pub(crate) mnt: PrivateMount,
    /// Permission and attributes.
    pub(crate) perm: BranchPerm,
    /// Index of the branch's filesystem among the distinct filesystems of the union,
    /// in branch order (used to build inode numbers).
    pub(crate) fsidx: u8,
}

/// Checks the branches of a new union against each other and against the rules,
/// and builds them. Every refusal is logged into `fc` with the branch's name.
pub(crate) fn build(fc: &FsContext, new: KVec<NewBranch>) -> Result<KVec<Branch>> {
    if new.is_empty() {
        fc.error(format_args!("no branch given (use br=/dir1:/dir2...)"));
        return Err(EINVAL);
    }
    for (i, b) in new.iter().enumerate() {
        check_one(fc, b, i)?;
        for earlier in &new[..i] {
            check_pair(fc, earlier, b)?;
        }
    }
    let mut out = KVec::with_capacity(new.len(), GFP_KERNEL)?;
    let mut sbs: KVec<SbId> = KVec::new();
    for (i, b) in new.into_iter().enumerate() {
        let sb = b.path.sb();
        let fsidx = match sbs.iter().position(|s| *s == sb) {
            Some(k) => k,
            None => {
                sbs.push(sb, GFP_KERNEL)?;
                sbs.len() - 1
            }
        };
        let mnt = b.path.clone_private().inspect_err(|e| {
            fc.error(format_args!("{}: cannot clone the branch's mount ({:?})", b.name(), e));
        })?;
        let perm = b.perm_at(i);
        let fsidx = u8::try_from(fsidx).map_err(|_| E2BIG)?;
        out.push(Branch { user: b.path, mnt, perm, fsidx }, GFP_KERNEL)?;
    }
    Ok(out)
}

fn check_one(fc: &FsContext, b: &NewBranch, index: usize) -> Result {
    let magic = b.path.fs_magic();
    if let Some((_, fs)) = REFUSED_MAGICS.iter().find(|(m, _)| *m == magic) {
        fc.error(format_args!("{}: a branch cannot be on {}", b.name(), fs));
        return Err(EINVAL);
    }
    if b.path.is_fs_type(fc.fs_type()) {
        fc.error(format_args!("{}: a branch cannot be inside a rustaufs union", b.name()));
        return Err(EINVAL);
    }
    if b.path.stack_depth() + 1 > crate::vfs::MAX_STACK_DEPTH {
        fc.error(format_args!("{}: filesystems stacked too deep", b.name()));
        return Err(EINVAL);
    }
    if b.perm_at(index).perm == Perm::Rw && b.path.is_rdonly() {
        fc.error(format_args!("{}: rw branch on a read-only filesystem", b.name()));
        return Err(EROFS);
    }
    Ok(())
}

fn check_pair(fc: &FsContext, a: &NewBranch, b: &NewBranch) -> Result {
    if a.path.sb() != b.path.sb() {
        return Ok(());
    }
    let (da, db) = (a.path.dentry(), b.path.dentry());
    if core::ptr::eq(da, db) {
        fc.error(format_args!("{}: same directory as branch {}", b.name(), a.name()));
        return Err(EINVAL);
    }
    if db.is_subdir_of(da) {
        fc.error(format_args!("{}: branch is inside branch {}", b.name(), a.name()));
        return Err(EINVAL);
    }
    if da.is_subdir_of(db) {
        fc.error(format_args!("{}: branch contains branch {}", b.name(), a.name()));
        return Err(EINVAL);
    }
    Ok(())
}

/// The index of the `i`-th branch.
pub(crate) fn bidx(i: usize) -> BIdx {
    // NO-OVERFLOW: the option parser allows at most 127 branches.
    BIdx(i as u16)
}
