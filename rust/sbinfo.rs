// SPDX-License-Identifier: GPL-2.0
//! Per-superblock data (aufs's `au_sbinfo`, overlayfs's `ovl_fs`).
#![forbid(unsafe_code)]

use crate::branch::Branch;
use crate::opts::Udba;
use crate::stack::BIdx;
use crate::workdir::Work;
use kernel::cred::Credential;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// What a mounted union knows about itself. Immutable after `fill_super`.
pub(crate) struct SbInfo {
    /// The inode number tables (`None`: `noxino`). First: their files pin the
    /// mounts they live on.
    pub(crate) xino: Option<crate::xino::Xino>,
    /// The pseudo-links (set when `wbr` is). Before `work` and `branches`: its
    /// entries hold dentries of the branches.
    pub(crate) plinks: Option<crate::plink::Plinks>,
    /// The write branch's work directory and whiteout base (set when `wbr` is).
    /// First, so that it is dropped before the branch mounts its dentries live on.
    pub(crate) work: Option<Work>,
    /// The branches, top first.
    pub(crate) branches: KVec<Branch>,
    /// How direct changes to branches are noticed.
    pub(crate) udba: Udba,
    /// The mounter's credentials, used to open files on branches.
    pub(crate) creator: ARef<Credential>,
    /// aufs's `si=` id, shown in `/proc/mounts`.
    pub(crate) id: u32,
    /// The write branch: the top-most `rw` branch, where new names and copies go.
    pub(crate) wbr: Option<BIdx>,
}

impl SbInfo {
    /// Counts a new superblock's data.
    pub(crate) fn new(
        branches: KVec<Branch>,
        udba: Udba,
        creator: ARef<Credential>,
        id: u32,
        wbr: Option<BIdx>,
        work: Option<Work>,
        xino: Option<crate::xino::Xino>,
        plinks: Option<crate::plink::Plinks>,
    ) -> Result<KBox<Self>> {
        let b = KBox::new(SbInfo { xino, plinks, work, branches, udba, creator, id, wbr }, GFP_KERNEL)?;
        crate::stats::SUPERS.inc();
        Ok(b)
    }

    /// The write branch: `EROFS` if the union has none.
    pub(crate) fn write_branch(&self) -> Result<&Branch> {
        self.branch(self.wbr.ok_or(EROFS)?)
    }

    /// The branch at `b`. Indices come from stacks built against this table.
    pub(crate) fn branch(&self, b: BIdx) -> Result<&Branch> {
        self.branches.get(b.get()).ok_or(EIO)
    }
}

impl Drop for SbInfo {
    fn drop(&mut self) {
        crate::stats::SUPERS.dec();
    }
}
