// SPDX-License-Identifier: GPL-2.0
//! Live-object counters, published as `/sys/kernel/debug/rustaufs/objects`.
//!
//! kmemleak misses some leaks of Rust allocations, so the tests also check that
//! these counts return to zero once every union is unmounted.
#![forbid(unsafe_code)]

use core::fmt;
use core::sync::atomic::{AtomicI64, Ordering};
use kernel::debugfs;
use kernel::prelude::*;

/// One counter.
pub(crate) struct Counter(AtomicI64);

impl Counter {
    const fn new() -> Self {
        Counter(AtomicI64::new(0))
    }

    /// Counts an object in.
    pub(crate) fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts an object out.
    pub(crate) fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// The current count.
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Superblock infos.
pub(crate) static SUPERS: Counter = Counter::new();
/// Inodes (allocated containers).
pub(crate) static INODES: Counter = Counter::new();
/// Dentry infos.
pub(crate) static DENTRIES: Counter = Counter::new();
/// Open regular files and directories.
pub(crate) static FILES: Counter = Counter::new();

/// Counts one open file for as long as it lives (a field of the file's state).
pub(crate) struct FileCount(());

impl FileCount {
    /// Counts a file in.
    pub(crate) fn new() -> Self {
        FILES.inc();
        FileCount(())
    }
}

impl Drop for FileCount {
    fn drop(&mut self) {
        FILES.dec();
    }
}

/// What the debugfs file prints.
pub(crate) struct Objects;

impl fmt::Debug for Objects {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "super {}", SUPERS.get())?;
        writeln!(f, "inode {}", INODES.get())?;
        writeln!(f, "dentry {}", DENTRIES.get())?;
        write!(f, "file {}", FILES.get())
    }
}

/// The debugfs directory and file; removed when dropped.
pub(crate) struct Debugfs {
    _file: Pin<KBox<debugfs::File<Objects>>>,
    _dir: debugfs::Dir,
}

impl Debugfs {
    /// Creates `rustaufs/objects` in debugfs.
    pub(crate) fn new() -> Result<Self> {
        let dir = debugfs::Dir::new(c"rustaufs");
        let file = KBox::pin_init(dir.read_only_file(c"objects", Objects), GFP_KERNEL)?;
        Ok(Debugfs { _file: file, _dir: dir })
    }

    /// Whether every counter is back to zero.
    pub(crate) fn all_zero() -> bool {
        [&SUPERS, &INODES, &DENTRIES, &FILES].iter().all(|c| c.get() == 0)
    }
}
