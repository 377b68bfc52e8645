// SPDX-License-Identifier: GPL-2.0
//! Lookup across branches (aufs: `fs/aufs/i_op.c` `aufs_lookup`, `dentry.c`;
//! overlayfs: `namei.c` `ovl_lookup`).
//!
//! For each branch of the parent's stack, top first:
//! 1. a positive non-directory: taken if nothing was found above, and the walk stops;
//! 2. a directory: added to the stack (directories merge); the walk stops after an
//!    opaque one (`.wh..wh..opq`), or at a non-directory below it;
//! 3. nothing, but a whiteout `.wh.<name>` on a branch that honours whiteouts: the
//!    walk stops, hiding the name on every branch below;
//! 4. nothing: go on to the next branch.
//!
//! Names starting with `.wh.` are never found (they are aufs's internal names).
#![forbid(unsafe_code)]

use crate::stack::{DentryInfo, Lower};
use crate::vfs::dentry::{Dentry, LowerDentry};
use crate::vfs::inode::Inode;
use crate::whiteout;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

fn exists(dir: &LowerDentry, name: &[u8]) -> Result<bool> {
    match dir.lookup(name) {
        Ok(d) => Ok(!d.is_negative()),
        Err(e) if e == ENOENT || e == ENAMETOOLONG => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `dir` holds a whiteout for `name`.
fn whited_out(dir: &LowerDentry, name: &[u8]) -> Result<bool> {
    let mut buf = [0u8; whiteout::NAME_MAX];
    match whiteout::whiteout_of(name, &mut buf) {
        Some(wh) => exists(dir, wh),
        None => Ok(false),
    }
}

/// Whether directory `dir` is opaque.
fn is_opaque(dir: &LowerDentry) -> Result<bool> {
    exists(dir, whiteout::OPAQUE)
}

/// `->lookup` of `name` in `dir` (whose dentry is `parent`) for the new `dentry`.
/// Returns the inode to splice, or `None` for a negative dentry.
pub(crate) fn lookup(
    dir: &Inode,
    parent: &Dentry,
    dentry: &Dentry,
    name: &[u8],
    _flags: u32,
) -> Result<Option<ARef<Inode>>> {
    let sb = dir.sb();
    let sbi = sb.info();
    if whiteout::is_internal(name) {
        dentry.set_info(DentryInfo::new(KVec::new(), sbi.wbr)?);
        return Ok(None);
    }
    let pinfo = parent.info().ok_or(EIO)?;
    let mut stack: KVec<Lower> = KVec::new();
    let mut done = false;
    pinfo.for_each(|bidx, pdir| {
        if done {
            return Ok(());
        }
        let honours = sbi.branch(bidx)?.perm.honours_whiteouts();
        let child = pdir.lookup(name)?;
        if child.is_negative() {
            done = honours && whited_out(pdir, name)?;
            return Ok(());
        }
        let is_dir = child.is_dir();
        if !stack.is_empty() && !is_dir {
            // A non-directory below a directory is hidden by it.
            done = true;
            return Ok(());
        }
        let opaque = is_dir && honours && is_opaque(&child)?;
        stack.push(Lower { bidx, dentry: child }, GFP_KERNEL)?;
        done = !is_dir || opaque;
        Ok(())
    })?;
    let info = DentryInfo::new(stack, sbi.wbr)?;
    let inode = match info.top() {
        None => None,
        Some(_) => Some(crate::inode::get(sb, &info)?),
    };
    dentry.set_info(info);
    Ok(inode)
}

/// `d_revalidate` (ref-walk, `udba=reval`): a name stays valid while every lower
/// object it was built from is still in place on its branch.
pub(crate) fn revalidate(d: &Dentry) -> Result<bool> {
    let Some(info) = d.info() else {
        return Ok(false);
    };
    if info.top().is_none() {
        // A negative name may have appeared on any branch.
        return Ok(false);
    }
    let mut valid = true;
    info.for_each(|_, l| {
        valid &= !l.is_unhashed();
        Ok(())
    })?;
    Ok(valid)
}
