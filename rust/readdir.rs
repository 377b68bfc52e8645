// SPDX-License-Identifier: GPL-2.0
//! Reading merged directories (aufs: `fs/aufs/readdir.c`, `vdir.c`; overlayfs:
//! `readdir.c`).
//!
//! On the first `getdents` (and again after a rewind to 0) the directories of the
//! stack are read, top first, into one list: each name appears once, from the
//! top-most branch that has it; names whited out by a branch above that one, and
//! aufs's internal `.wh.*` names, are dropped. The list lives with the open file
//! and is kept in position order: position 0 is `.`, 1 is `..`, and an entry's
//! position comes from its name ([`crate::dirpos`]), so a saved position stays
//! valid for `telldir`/`seekdir` and for a new open (knfsd) even when names were
//! created or removed since.
#![forbid(unsafe_code)]

use crate::dirpos;
use crate::inode::union_ino;
use crate::stack::BIdx;
use crate::sbinfo::SbInfo;
use crate::stack::DentryInfo;
use crate::vfs::dentry::LowerDentry;
use crate::vfs::path::PrivateMount;
use crate::vfs::dir::{read_lower_dir, Emitter};
use crate::vfs::file::File;
use crate::vfs::inode::Inode;
use crate::whiteout;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// `DT_DIR`: the type of `.` and `..`.
const DT_DIR: u32 = 4;
/// Positions before the first real entry: `.` and `..`.
const DOTS: i64 = 2;

/// One entry of the merged list.
struct Entry {
    /// Offset of the name in `Listing::names`.
    off: u32,
    len: u16,
    /// Branch order of the directory it came from (0 = top of the stack).
    level: u16,
    /// `DT_*` type.
    d_type: u8,
    /// The union inode number.
    ino: u64,
    /// The position ([`dirpos`]); set once the listing is merged.
    pos: i64,
}

/// A merged listing: names in one buffer, entries pointing into it.
#[derive(Default)]
struct Listing {
    names: KVec<u8>,
    entries: KVec<Entry>,
    /// Names whited out at a level: (offset, len, level).
    whiteouts: KVec<(u32, u16, u16)>,
}

/// The name at `off`, `len` in a listing's name buffer.
fn name_in(names: &[u8], off: u32, len: u16) -> &[u8] {
    &names[off as usize..off as usize + len as usize]
}

impl Listing {
    fn name(&self, off: u32, len: u16) -> &[u8] {
        name_in(&self.names, off, len)
    }

    fn add_name(&mut self, name: &[u8]) -> Result<(u32, u16)> {
        let off = u32::try_from(self.names.len()).map_err(|_| ENOMEM)?;
        let len = u16::try_from(name.len()).map_err(|_| ENAMETOOLONG)?;
        self.names.extend_from_slice(name, GFP_KERNEL)?;
        Ok((off, len))
    }

    /// Sorts by name (then level) and keeps, per name, the top-most entry if no
    /// whiteout above it hides it.
    fn merge(&mut self) -> Result {
        let names = &self.names;
        let key = |off: u32, len: u16| name_in(names, off, len);
        self.entries.sort_unstable_by(|a, b| key(a.off, a.len).cmp(key(b.off, b.len)).then(a.level.cmp(&b.level)));
        self.whiteouts.sort_unstable_by(|a, b| key(a.0, a.1).cmp(key(b.0, b.1)).then(a.2.cmp(&b.2)));
        let mut kept: KVec<Entry> = KVec::with_capacity(self.entries.len(), GFP_KERNEL)?;
        let mut w = 0usize;
        for e in self.entries.drain_all() {
            let name = key(e.off, e.len);
            if let Some(last) = kept.last() {
                if key(last.off, last.len) == name {
                    continue;
                }
            }
            // Advance to the whiteouts of this name; one at a level above the
            // entry's hides it.
            while w < self.whiteouts.len() && key(self.whiteouts[w].0, self.whiteouts[w].1) < name {
                w += 1;
            }
            let hidden = w < self.whiteouts.len()
                && key(self.whiteouts[w].0, self.whiteouts[w].1) == name
                && self.whiteouts[w].2 < e.level;
            if !hidden {
                kept.push(e, GFP_KERNEL)?;
            }
        }
        self.entries = kept;
        Ok(())
    }

    /// Gives each entry its position and puts the entries in position order.
    fn place(&mut self, wide: bool) {
        let names = &self.names;
        let key = |off: u32, len: u16| name_in(names, off, len);
        for e in self.entries.iter_mut() {
            e.pos = dirpos::base(key(e.off, e.len), wide);
        }
        self.entries.sort_unstable_by(|a, b| a.pos.cmp(&b.pos).then(key(a.off, a.len).cmp(key(b.off, b.len))));
        let mut nth = 0usize;
        let mut prev = None;
        for e in self.entries.iter_mut() {
            nth = if prev == Some(e.pos) { nth + 1 } else { 0 };
            prev = Some(e.pos);
            e.pos = dirpos::with_index(e.pos, nth);
        }
    }
}

/// The state of one of our open directories.
#[pin_data]
pub(crate) struct DirInfo {
    #[pin]
    listing: Mutex<Option<Listing>>,
    _count: crate::stats::FileCount,
}

/// `->open` of a directory: the listing is read lazily by the first `getdents`.
pub(crate) fn open(_inode: &Inode, file: &File) -> Result {
    let info = KBox::pin_init(
        pin_init!(DirInfo { listing <- new_mutex!(None), _count: crate::stats::FileCount::new() }),
        GFP_KERNEL,
    )?;
    file.set_dir_info(info);
    Ok(())
}

/// `->release` of a directory.
pub(crate) fn release(file: &File) {
    drop(file.take_dir_info());
}

fn read_listing(file: &File) -> Result<Listing> {
    let info = file.dentry().info().ok_or(EIO)?;
    let mut l = merged(file.inode_sb().info(), info)?;
    l.place(!file.wants_32bit_positions());
    Ok(l)
}

/// Reads the merged listing of the directory `info` describes.
///
/// Entries carry the branch inode number until the listing is merged; then the
/// union numbers are filled in, from the xino table outside the branch
/// directories' locks (the table's file may live on one of those filesystems).
fn merged(sbi: &SbInfo, info: &DentryInfo) -> Result<Listing> {
    let mut l = Listing::default();
    let mut level = 0u16;
    let mut levels: KVec<BIdx> = KVec::new();
    info.for_each(|bidx, dir| {
        let br = sbi.branch(bidx)?;
        let honours = br.perm.honours_whiteouts();
        let mut sink = |name: &[u8], ino: u64, d_type: u32| -> Result {
            if name == b"." || name == b".." {
                return Ok(());
            }
            if let Some(hidden) = whiteout::hidden_name(name) {
                if honours {
                    let (off, len) = l.add_name(hidden)?;
                    l.whiteouts.push((off, len, level), GFP_KERNEL)?;
                }
                return Ok(());
            }
            if whiteout::is_internal(name) {
                return Ok(());
            }
            let (off, len) = l.add_name(name)?;
            l.entries.push(Entry { off, len, level, d_type: d_type as u8, ino, pos: 0 }, GFP_KERNEL)?;
            Ok(())
        };
        read_lower_dir(&br.mnt.path(dir), &sbi.creator, &mut sink)?;
        levels.push(bidx, GFP_KERNEL)?;
        level = level.checked_add(1).ok_or(EINVAL)?;
        Ok(())
    })?;
    l.merge()?;
    for e in l.entries.iter_mut() {
        let bidx = *levels.get(usize::from(e.level)).ok_or(EIO)?;
        e.ino = match &sbi.xino {
            Some(_) => crate::inode::number(sbi, bidx, e.ino)?,
            None => union_ino(sbi, bidx, e.ino).unwrap_or(e.ino),
        };
    }
    Ok(l)
}

/// Calls `f` with every entry of the merged directory `info`: its name, union
/// inode number and `DT_*` type (for walks the union makes of itself).
pub(crate) fn for_each_entry(sbi: &SbInfo, info: &DentryInfo, mut f: impl FnMut(&[u8], u64, u8) -> Result) -> Result {
    let l = merged(sbi, info)?;
    for e in l.entries.iter() {
        f(l.name(e.off, e.len), e.ino, e.d_type)?;
    }
    Ok(())
}

/// Whether the merged directory `info` shows no entry (what `rmdir` needs).
pub(crate) fn is_empty(sbi: &SbInfo, info: &DentryInfo) -> Result<bool> {
    Ok(merged(sbi, info)?.entries.is_empty())
}

/// Every name in the branch directory `dir` but `.` and `..`, internal ones
/// included (for cleaning the work directory and removed directories).
pub(crate) fn names_of(
    mnt: &PrivateMount,
    dir: &LowerDentry,
    cred: &kernel::cred::Credential,
    out: &mut KVec<KVec<u8>>,
) -> Result {
    let mut sink = |name: &[u8], _ino: u64, _t: u32| -> Result {
        if name != b"." && name != b".." {
            let mut n = KVec::new();
            n.extend_from_slice(name, GFP_KERNEL)?;
            out.push(n, GFP_KERNEL)?;
        }
        Ok(())
    };
    read_lower_dir(&mnt.path(dir), cred, &mut sink)
}

/// `->iterate_shared`: emits the listing from the file position on.
pub(crate) fn iterate(file: &File, mut ctx: Emitter<'_>) -> Result {
    let info = file.dir_info().ok_or(EIO)?;
    let mut guard = info.listing.lock();
    if ctx.pos() == 0 || guard.is_none() {
        *guard = Some(read_listing(file)?);
    }
    let Some(l) = guard.as_ref() else { return Err(EIO) };
    let d = file.dentry();
    while ctx.pos() < DOTS {
        let (name, ino): (&[u8], u64) = if ctx.pos() == 0 {
            (b".", d.inode().map_or(0, |i| i.ino()))
        } else {
            (b"..", d.parent_ino())
        };
        if !ctx.emit(name, ino, DT_DIR) {
            return Ok(());
        }
        ctx.set_pos(ctx.pos() + 1);
    }
    // The first entry at or after the position: a saved position whose entry was
    // removed since resumes at the next name.
    let start = l.entries.partition_point(|e| e.pos < ctx.pos());
    for e in l.entries.iter().skip(start) {
        if !ctx.emit(l.name(e.off, e.len), e.ino, u32::from(e.d_type)) {
            break;
        }
        // The position after this entry, which `d_off` reports for it.
        ctx.set_pos(e.pos + 1);
    }
    Ok(())
}

/// `->llseek` of a directory: any position may be set; a read resumes at the
/// first entry at or after it.
pub(crate) fn llseek(file: &File, offset: i64, whence: i32) -> Result<i64> {
    let pos = match whence {
        0 => offset,
        1 => file.pos().checked_add(offset).ok_or(EINVAL)?,
        _ => return Err(EINVAL),
    };
    if pos < 0 {
        return Err(EINVAL);
    }
    file.set_pos(pos);
    Ok(pos)
}
