// SPDX-License-Identifier: GPL-2.0
//! File handles, for `name_to_handle_at`/`open_by_handle_at` and NFS export
//! (aufs: `fs/aufs/export.c`; overlayfs: `export.c`).
//!
//! A handle names the object the union shows through the branch that holds it:
//!
//! ```text
//! word 0     0x52 << 24 | branch handle type << 16 | branch index
//! words 1-2  the union inode number (low, high)
//! words 3-   the branch's own handle of the object (with its parent
//!            directory, where the branch filesystem records one)
//! ```
//!
//! Decoding asks the branch for its object (connected to the branch's root:
//! exportfs reconnects directories, and non-directories through the parent
//! recorded in the branch handle), then follows the object's path from the
//! branch root through the union, so the result is an ordinary connected union
//! dentry, and checks that it is the same union inode. A handle therefore
//! stays valid across eviction (`drop_caches`), copy-up and renames of the
//! object on its branch; it goes stale (`ESTALE`) when the path no longer leads
//! to the same file through the union (the name was removed, renamed through the
//! union after the handle was made of its lower object, or hidden). Handles of
//! a copied-up object name the copy. With `persist_ino` a handle also survives
//! umount and mount, as long as the branch keeps its place in the list.
#![forbid(unsafe_code)]

use crate::stack::BIdx;
use crate::vfs::dentry::Dentry;
use crate::vfs::export::MAX_WORDS;
use crate::vfs::inode::Inode;
use crate::vfs::sb::SuperBlock;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// Our handle type (`fh_type`).
pub(crate) const FH_TYPE: i32 = 0x52;
const MAGIC: u32 = 0x52;
const HEADER: usize = 3;

/// Encodes the handle of `inode`: the words and their number.
pub(crate) fn encode(inode: &Inode) -> Result<([u32; MAX_WORDS], usize)> {
    let sbi = inode.sb().info();
    let info = inode.info()?;
    // A pseudo-linked file is named by its lower object: its copy's extra name
    // lives in an internal directory that the union does not show.
    let (bidx, obj) = match (info.plink(), info.lower()) {
        (Some(_), Some(l)) => (l.bidx, &*l.dentry),
        _ => info.top(sbi).ok_or(EIO)?,
    };
    let li = obj.inode().ok_or(EIO)?;
    let parent = (!li.is_dir()).then(|| obj.parent_ref());
    let mut lower = [0u32; MAX_WORDS];
    let (n, t) = li.encode_fh(parent.as_ref().and_then(|p| p.inode()), &mut lower)?;
    let t = u8::try_from(t).map_err(|_| EOVERFLOW)?;
    if n + HEADER > MAX_WORDS {
        return Err(EOVERFLOW);
    }
    let mut out = [0u32; MAX_WORDS];
    out[0] = MAGIC << 24 | u32::from(t) << 16 | u32::from(bidx.0);
    let ino = inode.ino();
    out[1] = ino as u32;
    out[2] = (ino >> 32) as u32;
    out[HEADER..HEADER + n].copy_from_slice(&lower[..n]);
    Ok((out, n + HEADER))
}

/// Decodes a handle of type `fh_type` into our dentry (`ESTALE` if it no longer
/// leads to the same file).
pub(crate) fn decode(sb: &SuperBlock, w: &[u32], fh_type: i32) -> Result<ARef<Dentry>> {
    if fh_type != FH_TYPE || w.len() <= HEADER || w[0] >> 24 != MAGIC {
        return Err(ESTALE);
    }
    let bidx = BIdx((w[0] & 0xffff) as u16);
    let ltype = ((w[0] >> 16) & 0xff) as i32;
    let ino = u64::from(w[1]) | u64::from(w[2]) << 32;
    let br = sb.info().branch(bidx).map_err(|_| ESTALE)?;
    let obj = br.mnt.decode_fh(&w[HEADER..], ltype).map_err(|_| ESTALE)?;
    // The names from the branch root down to the object.
    let root = br.user.dentry();
    let mut names = KVec::new();
    let mut cur = obj;
    while !core::ptr::eq(cur.as_ptr(), root.as_ptr()) {
        if cur.is_fs_root() {
            // Not below the branch root (or not connected).
            return Err(ESTALE);
        }
        let parent = cur.parent_ref();
        names.push(cur.name_copy()?, GFP_KERNEL)?;
        cur = parent;
    }
    let mut d = ARef::from(sb.root());
    for n in names.iter().rev() {
        d = d.lookup_child(n)?;
        if d.inode().is_none() {
            return Err(ESTALE);
        }
    }
    match d.inode() {
        Some(i) if i.ino() == ino => Ok(d),
        _ => Err(ESTALE),
    }
}
