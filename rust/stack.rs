// SPDX-License-Identifier: GPL-2.0
//! The data model: branch indices and the lower stack of a dentry.
//!
//! A [`DentryInfo`] is built once by lookup and never edited: the branches where
//! the name exists, top first (overlayfs's `ovl_entry`). For a non-directory it has
//! one entry; for a directory, every directory of that name down to the first
//! opaque one or the first non-directory.
#![forbid(unsafe_code)]

use crate::vfs::dentry::LowerDentry;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// A branch index: 0 is the top branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct BIdx(pub(crate) u16);

impl BIdx {
    /// The index into the branch table.
    pub(crate) fn get(self) -> usize {
        usize::from(self.0)
    }
}

/// One branch's object in a stack.
pub(crate) struct Lower {
    /// Which branch.
    pub(crate) bidx: BIdx,
    /// The branch's dentry (positive).
    pub(crate) dentry: ARef<LowerDentry>,
}

/// The lower stack of one of our dentries (`d_fsdata`).
///
/// # Invariants
///
/// `stack` is non-empty, ordered by increasing `bidx`, and every dentry in it is
/// positive.
pub(crate) struct DentryInfo {
    stack: KVec<Lower>,
}

impl DentryInfo {
    /// Wraps a stack built by lookup (or the branch roots for the root).
    pub(crate) fn new(stack: KVec<Lower>) -> Result<KBox<Self>> {
        if stack.is_empty() {
            return Err(EINVAL);
        }
        crate::stats::DENTRIES.inc();
        // INVARIANT: non-empty (checked); ordered and positive by construction in
        // `lookup` and `superblock::fill_super`.
        Ok(KBox::new(DentryInfo { stack }, GFP_KERNEL)?)
    }

    /// The top-most entry: the object whose data and attributes the union shows.
    pub(crate) fn top(&self) -> &Lower {
        &self.stack[0]
    }

    /// All entries, top first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Lower> {
        self.stack.iter()
    }

    /// Whether more than one branch contributes (a merged directory).
    pub(crate) fn is_merged(&self) -> bool {
        self.stack.len() > 1
    }
}

impl Drop for DentryInfo {
    fn drop(&mut self) {
        crate::stats::DENTRIES.dec();
    }
}
