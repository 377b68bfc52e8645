// SPDX-License-Identifier: GPL-2.0
//! Per-superblock data (aufs's `au_sbinfo`, overlayfs's `ovl_fs`).
#![forbid(unsafe_code)]

use crate::branch::Branch;
use crate::opts::Udba;
use crate::stack::BIdx;
use kernel::cred::Credential;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// What a mounted union knows about itself. Immutable after `fill_super`.
pub(crate) struct SbInfo {
    /// The branches, top first.
    pub(crate) branches: KVec<Branch>,
    /// How direct changes to branches are noticed.
    pub(crate) udba: Udba,
    /// The mounter's credentials, used to open files on branches.
    pub(crate) creator: ARef<Credential>,
    /// aufs's `si=` id, shown in `/proc/mounts`.
    pub(crate) id: u32,
}

impl SbInfo {
    /// Counts a new superblock's data.
    pub(crate) fn new(branches: KVec<Branch>, udba: Udba, creator: ARef<Credential>, id: u32) -> Result<KBox<Self>> {
        let b = KBox::new(SbInfo { branches, udba, creator, id }, GFP_KERNEL)?;
        crate::stats::SUPERS.inc();
        Ok(b)
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
