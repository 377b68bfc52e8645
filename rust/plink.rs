// SPDX-License-Identifier: GPL-2.0
//! Pseudo-links (aufs's "plink": `fs/aufs/plink.c`): the hard links of a lower
//! file stay one file after one of its names is copied up.
//!
//! When a copy-up copies a regular file (or special file) whose lower inode has
//! more than one link, the copy gets a second name in `.wh..wh.plnk` on the
//! write branch, `<union ino>.<copy's ino>` (aufs's name), and an entry in the
//! table below. The entry is found again by the lower inode (a lookup of
//! another name of the lower file then shows the copy) and by the copy's inode
//! (a lookup of the copied-up name, after its inode left the cache). A name
//! that needs its own object on the write branch (link, rename) is made a hard
//! link of the copy, so the names stay together on the branch too.
//!
//! Link count: the union shows the copy's links but the pseudo-link, plus the
//! lower names that have no object on the write branch yet (counted down as
//! they get one or are removed).
//!
//! At umount, and on a remount with `clean_plink` or `noplink`, the
//! pseudo-links are turned into hard links ([`flush`]): the union is walked for
//! the lower names that it still shows, each gets its hard link on the write
//! branch, and the pseudo-links are removed, so that the write branch alone is
//! consistent (what aufs left to `auplink flush` in user space). The walk only
//! enters directories with lower parts and ends when no name is left.
//!
//! Lock order: the table's mutex is innermost; nothing is called on a branch
//! while it is held.
#![forbid(unsafe_code)]

use crate::sbinfo::SbInfo;
use crate::stack::DentryInfo;
use crate::vfs::dentry::{Dentry, LowerDentry};
use crate::vfs::dirop::{DirOp, WriteAccess};
use crate::vfs::inode::LowerInode;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::rbtree::{RBTree, RBTreeNodeReservation};
use kernel::sync::aref::ARef;
use kernel::sync::{new_mutex, Arc, Mutex, UniqueArc};

/// The pseudo-link directory's name at the root of the write branch.
pub(crate) const DIR: &[u8] = b".wh..wh.plnk";

/// One pseudo-linked file.
pub(crate) struct Plink {
    /// The lower object; it pins the lower inode whose address keys the table.
    lower: ARef<LowerDentry>,
    /// `.wh..wh.plnk/<ino>.<copy's ino>`: a hard link of the copy.
    pub(crate) link: ARef<LowerDentry>,
    /// The union inode number.
    ino: u64,
    /// Lower names that have no object on the write branch yet.
    left: AtomicU32,
    /// Set once the pseudo-link was turned into hard links and removed.
    flushed: AtomicBool,
}

impl Plink {
    /// A lower name got its own object on the write branch, or was removed.
    pub(crate) fn name_gone(&self) {
        let _ = self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
    }

    /// The link count the union shows for the copy's count `upper_nlink`.
    pub(crate) fn nlink(&self, upper_nlink: u32) -> u32 {
        if self.flushed.load(Ordering::Relaxed) {
            return upper_nlink;
        }
        upper_nlink.saturating_sub(1).saturating_add(self.left.load(Ordering::Relaxed))
    }
}

struct Table {
    /// By the lower inode's key.
    by_lower: RBTree<usize, Arc<Plink>>,
    /// By the copy's inode's key.
    by_upper: RBTree<usize, Arc<Plink>>,
}

/// The pseudo-links of a union with a write branch.
pub(crate) struct Plinks {
    /// `.wh..wh.plnk` on the write branch.
    dir: ARef<LowerDentry>,
    /// `plink` (default) or `noplink`.
    enabled: AtomicBool,
    /// How many entries the table has: lookups skip the mutex while it is 0.
    count: AtomicUsize,
    table: Pin<KBox<Mutex<Table>>>,
}

/// What a copy-up registers once the copy has its name: the entry and the
/// memory for its two table nodes, so that registering cannot fail.
pub(crate) struct Pending {
    plink: Arc<Plink>,
    keys: (usize, usize),
    nodes: (RBTreeNodeReservation<usize, Arc<Plink>>, RBTreeNodeReservation<usize, Arc<Plink>>),
}

impl Plinks {
    /// The table of a new union; `dir` is the write branch's `.wh..wh.plnk`.
    pub(crate) fn new(dir: ARef<LowerDentry>, enabled: bool) -> Result<Plinks> {
        let table = Table { by_lower: RBTree::new(), by_upper: RBTree::new() };
        let table = KBox::pin_init(new_mutex!(table), GFP_KERNEL)?;
        Ok(Plinks { dir, enabled: AtomicBool::new(enabled), count: AtomicUsize::new(0), table })
    }

    /// Whether a copy-up of `lower` makes a pseudo-link.
    pub(crate) fn wanted(&self, lower: &LowerInode) -> bool {
        self.enabled.load(Ordering::Relaxed) && lower.nlink() > 1 && !lower.is_dir()
    }

    /// Whether copy-ups make pseudo-links (`plink`, the default).
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    /// Turns pseudo-links on or off (`plink`/`noplink` on remount).
    pub(crate) fn set_enabled(&self, on: bool) {
        self.enabled.store(on, Ordering::Relaxed);
    }

    /// The entry of a lower inode.
    pub(crate) fn by_lower(&self, lower: &LowerInode) -> Option<Arc<Plink>> {
        self.find(lower, |t| &t.by_lower)
    }

    /// The entry of a copy on the write branch.
    pub(crate) fn by_upper(&self, upper: &LowerInode) -> Option<Arc<Plink>> {
        self.find(upper, |t| &t.by_upper)
    }

    fn find(&self, inode: &LowerInode, which: impl Fn(&Table) -> &RBTree<usize, Arc<Plink>>) -> Option<Arc<Plink>> {
        if self.count.load(Ordering::Relaxed) == 0 || inode.nlink() < 2 || inode.is_dir() {
            return None;
        }
        which(&self.table.lock()).get(&inode.key()).cloned()
    }

    /// Makes the pseudo-link of `copy` (the copy-up of `lower`, union number
    /// `ino`, still in the work directory). Returns what [`Plinks::register`]
    /// enters once the copy has its name; on failure nothing was made. The caller
    /// removes the link with [`Plinks::undo`] if the copy-up fails later.
    pub(crate) fn prepare(&self, w: &WriteAccess<'_>, lower: &LowerDentry, copy: &LowerDentry, ino: u64) -> Result<Pending> {
        let li = lower.inode().ok_or(EIO)?;
        let ci = copy.inode().ok_or(EIO)?;
        // Allocated first: once the link exists, nothing may fail but its removal.
        let nodes = (RBTreeNodeReservation::new(GFP_KERNEL)?, RBTreeNodeReservation::new(GFP_KERNEL)?);
        let arc = UniqueArc::<Plink>::new_uninit(GFP_KERNEL)?;
        let mut buf = [0u8; 48];
        let op = DirOp::lookup(w, &self.dir, name_of(&mut buf, ino, ci.ino()))?;
        if !op.child().is_negative() {
            return Err(EEXIST);
        }
        op.link(copy)?;
        let plink = arc.write(Plink {
            lower: ARef::from(lower),
            link: op.child_ref(),
            ino,
            left: AtomicU32::new(li.nlink() - 1),
            flushed: AtomicBool::new(false),
        });
        Ok(Pending { plink: plink.into(), keys: (li.key(), ci.key()), nodes })
    }

    /// Removes the pseudo-link of a copy-up that failed after [`Plinks::prepare`].
    pub(crate) fn undo(&self, w: &WriteAccess<'_>, p: Pending) {
        if let Err(e) = DirOp::removing_dentry(w, &self.dir, &p.plink.link).and_then(|op| op.unlink()) {
            pr_warn!("plink: cannot remove the pseudo-link of a failed copy-up ({:?})\n", e);
        }
    }

    /// Enters a prepared pseudo-link; the copy has its name now.
    pub(crate) fn register(&self, p: Pending) -> Arc<Plink> {
        let (n1, n2) = p.nodes;
        let mut t = self.table.lock();
        // A stale entry of the same key (its inode was freed) is replaced.
        drop(t.by_lower.insert(n1.into_node(p.keys.0, p.plink.clone())));
        if t.by_upper.insert(n2.into_node(p.keys.1, p.plink.clone())).is_none() {
            self.count.fetch_add(1, Ordering::Relaxed);
        }
        p.plink
    }
}

/// `<ino>.<copy ino>` in decimal (aufs's pseudo-link name).
fn name_of(buf: &mut [u8; 48], ino: u64, h_ino: u64) -> &[u8] {
    let mut len = 0;
    for (i, n) in [ino, h_ino].into_iter().enumerate() {
        if i == 1 {
            buf[len] = b'.';
            len += 1;
        }
        let mut digits = [0u8; 20];
        let mut k = 0;
        let mut v = n;
        loop {
            digits[k] = b'0' + (v % 10) as u8;
            k += 1;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        while k > 0 {
            k -= 1;
            buf[len] = digits[k];
            len += 1;
        }
    }
    &buf[..len]
}

/// `DT_DIR` and `DT_UNKNOWN` of a listing entry.
const DT_DIR: u8 = 4;
const DT_UNKNOWN: u8 = 0;

/// Turns the pseudo-links of the union rooted at `root` into hard links on the
/// write branch, then removes them (at umount; on remount with `clean_plink`
/// or `noplink`). Failures are logged: a pseudo-link whose copy has no other
/// link is kept, so that no data is lost, and the next mount reports it.
pub(crate) fn flush(root: &Dentry) {
    let sbi = root.sb().info();
    let Some(pl) = sbi.plinks.as_ref() else { return };
    // The entries stay in the table during the walk: a lookup of a lower name
    // that is not cached must still find the copy.
    let entries: KVec<Arc<Plink>> = {
        let t = pl.table.lock();
        let mut v = KVec::new();
        for (_, p) in t.by_upper.iter() {
            if v.push(p.clone(), GFP_KERNEL).is_err() {
                pr_warn!("plink: out of memory; pseudo-links kept\n");
                return;
            }
        }
        v
    };
    if entries.is_empty() {
        return;
    }
    if let Err(e) = walk(sbi, root, &entries) {
        pr_warn!("plink: cannot turn every pseudo-link into hard links ({:?})\n", e);
    }
    {
        let mut t = pl.table.lock();
        for p in entries.iter() {
            p.flushed.store(true, Ordering::Relaxed);
            let keys = (p.lower.inode().map(|i| i.key()), p.link.inode().map(|i| i.key()));
            if let Some(k) = keys.0 {
                if t.by_lower.get(&k).is_some_and(|q| Arc::ptr_eq(q, p)) {
                    drop(t.by_lower.remove(&k));
                }
            }
            if let Some(k) = keys.1 {
                if t.by_upper.get(&k).is_some_and(|q| Arc::ptr_eq(q, p)) && t.by_upper.remove(&k).is_some() {
                    pl.count.fetch_sub(1, Ordering::Relaxed);
                }
            }
        }
    }
    let _c = crate::vfs::cred::CredGuard::new(&sbi.creator);
    let Ok(wb) = sbi.write_branch() else { return };
    let Ok(w) = WriteAccess::new(&wb.mnt) else {
        pr_warn!("plink: write branch not writable; pseudo-links kept\n");
        return;
    };
    let mut kept = 0u32;
    for p in entries.iter() {
        let alone = p.link.inode().is_none_or(|i| i.nlink() < 2);
        let res = if alone {
            Err(EBUSY)
        } else {
            DirOp::removing_dentry(&w, &pl.dir, &p.link).and_then(|op| op.unlink())
        };
        if res.is_err() {
            kept += 1;
        }
    }
    if kept > 0 {
        pr_warn!("plink: {kept} pseudo-link(s) kept in .wh..wh.plnk: their lower names were not found\n");
    }
}

/// Walks the directories with lower parts for the names of `entries` that have
/// no object on the write branch yet, and gives each a hard link there.
fn walk(sbi: &SbInfo, root: &Dentry, entries: &[Arc<Plink>]) -> Result {
    let mut wanted: KVec<u64> = KVec::new();
    for p in entries.iter().filter(|p| p.left.load(Ordering::Relaxed) > 0) {
        wanted.push(p.ino, GFP_KERNEL)?;
    }
    wanted.sort_unstable();
    let done = || entries.iter().all(|p| p.left.load(Ordering::Relaxed) == 0);
    let mut todo: KVec<ARef<Dentry>> = KVec::new();
    todo.push(ARef::from(root), GFP_KERNEL)?;
    while let Some(dir) = todo.pop() {
        if done() {
            break;
        }
        let info: &DentryInfo = dir.info().ok_or(EIO)?;
        crate::readdir::for_each_entry(sbi, info, |name, ino, d_type| {
            let maybe_dir = d_type == DT_DIR || d_type == DT_UNKNOWN;
            let match_ = d_type != DT_DIR && wanted.binary_search(&ino).is_ok();
            if !maybe_dir && !match_ {
                return Ok(());
            }
            let child = dir.lookup_child(name)?;
            if child.info().is_some_and(|i| i.has_lower()) && child.inode().is_some_and(|i| i.is_dir()) {
                todo.push(child, GFP_KERNEL)?;
            } else if match_ {
                if let Err(e) = link_name(&dir, &child) {
                    pr_warn!("plink: cannot link a name of inode {ino} ({:?})\n", e);
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Gives the name `child` in `dir`, if it is a lower name of a pseudo-linked
/// file, its hard link on the write branch (with `dir` locked, as `link(2)`).
fn link_name(dir: &Dentry, child: &Dentry) -> Result {
    let _g = dir.inode().ok_or(EIO)?.lock();
    let (Some(info), Some(inode)) = (child.info(), child.inode()) else { return Ok(()) };
    if info.upper().is_some() || inode.info()?.plink().is_none() || child.is_unhashed() {
        return Ok(());
    }
    crate::copyup::copy_up_name(child).map(|_| ())
}

/// Empties `.wh..wh.plnk` at mount of what an unclean unmount left: a
/// pseudo-link whose copy has another name goes; one that is the copy's only
/// name is kept (its data would be lost) and reported.
pub(crate) fn clean(w: &WriteAccess<'_>, dir: &LowerDentry, cred: &kernel::cred::Credential) {
    let mut names = KVec::new();
    if crate::readdir::names_of(w.mnt(), dir, cred, &mut names).is_err() {
        return;
    }
    let mut kept = 0u32;
    for name in names.iter() {
        let res = DirOp::removing(w, dir, name).and_then(|op| {
            if op.child().inode().is_some_and(|i| i.nlink() > 1 && !i.is_dir()) {
                op.unlink()
            } else {
                Err(EBUSY)
            }
        });
        if res.is_err() {
            kept += 1;
        }
    }
    if kept > 0 {
        pr_warn!("plink: {kept} pseudo-link(s) left by an unclean unmount kept in .wh..wh.plnk (the only name of their data)\n");
    }
}
