// SPDX-License-Identifier: GPL-2.0
//! The data model: branch indices and the branch objects behind one of our
//! dentries (aufs's `au_dinfo`; overlayfs's `ovl_entry` plus its upper dentry).
//!
//! A [`DentryInfo`] is made by lookup, before the dentry is visible. Its lower
//! stack never changes; its upper slot, the object on the write branch, is set at
//! most once: by lookup when the name is there already, or later by copy-up,
//! create or rename (overlayfs's "immutable lower stack with a set-once upper").
//! The lower stack holds, top first, every branch object of the name below the
//! write branch (or above it: see [`DentryInfo::top`]): for a non-directory at
//! most one, for a directory every directory of that name down to the first opaque
//! one or the first non-directory.
#![forbid(unsafe_code)]

use crate::vfs::dentry::LowerDentry;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::SetOnce;

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

/// What one of our dentries (`d_fsdata`) knows about its branches.
///
/// # Invariants
///
/// `lowers` is ordered by increasing `bidx`; every dentry in it is positive. `upper`
/// is a dentry of the write branch `wbr`, and is only ever set when no branch above
/// `wbr` has the name (`lowers` has no entry with a smaller index).
pub(crate) struct DentryInfo {
    upper: SetOnce<ARef<LowerDentry>>,
    wbr: Option<BIdx>,
    lowers: KVec<Lower>,
}

impl DentryInfo {
    /// Splits a stack built by lookup (or the branch roots for the root): its top
    /// entry becomes the upper one when it lies on the write branch `wbr`. An empty
    /// stack makes the info of a negative dentry.
    pub(crate) fn new(mut stack: KVec<Lower>, wbr: Option<BIdx>) -> Result<KBox<Self>> {
        let upper = SetOnce::new();
        if let (Some(w), Some(first)) = (wbr, stack.first()) {
            if first.bidx == w {
                let top = stack.remove(0)?;
                upper.populate(top.dentry);
            }
        }
        crate::stats::DENTRIES.inc();
        // INVARIANT: the stack is ordered and positive by construction in `lookup`
        // and `superblock::fill_super`; the upper entry was its top.
        Ok(KBox::new(DentryInfo { upper, wbr, lowers: stack }, GFP_KERNEL)?)
    }

    /// The object on the write branch, if the name has one.
    pub(crate) fn upper(&self) -> Option<&ARef<LowerDentry>> {
        self.upper.as_ref()
    }

    /// Records the name's new object on the write branch. Returns `false` (and
    /// drops `d`) if one was set already.
    pub(crate) fn set_upper(&self, d: ARef<LowerDentry>) -> bool {
        self.upper.populate(d)
    }

    /// The top-most object, whose data and attributes the union shows: the upper
    /// one if any, else the first lower one. `None` for a negative dentry.
    pub(crate) fn top(&self) -> Option<(BIdx, &LowerDentry)> {
        match (self.upper(), self.wbr) {
            (Some(u), Some(w)) => Some((w, u)),
            _ => self.lowers.first().map(|l| (l.bidx, &*l.dentry)),
        }
    }

    /// The objects below (or, for a read-only object, above) the write branch.
    pub(crate) fn lowers(&self) -> &[Lower] {
        &self.lowers
    }

    /// Whether any branch but the write branch has the name.
    pub(crate) fn has_lower(&self) -> bool {
        !self.lowers.is_empty()
    }

    /// Whether the object can be changed through the union: there is a write branch
    /// and no branch above it has the name.
    pub(crate) fn writable(&self) -> bool {
        match self.wbr {
            None => false,
            Some(w) => self.upper().is_some() || self.lowers.first().is_none_or(|l| l.bidx > w),
        }
    }

    /// Every object, top first, with its branch (the upper one included): what a
    /// merged directory is read from.
    pub(crate) fn for_each(&self, mut f: impl FnMut(BIdx, &LowerDentry) -> Result) -> Result {
        if let (Some(u), Some(w)) = (self.upper(), self.wbr) {
            f(w, u)?;
        }
        for l in self.lowers.iter() {
            f(l.bidx, &l.dentry)?;
        }
        Ok(())
    }

    /// Whether more than one branch contributes (a merged directory).
    pub(crate) fn is_merged(&self) -> bool {
        self.lowers.len() + usize::from(self.upper().is_some()) > 1
    }
}

impl Drop for DentryInfo {
    fn drop(&mut self) {
        crate::stats::DENTRIES.dec();
    }
}
