// SPDX-License-Identifier: GPL-2.0
//! rustaufs: aufs, the multi-layered union filesystem, in Rust.
//!
//! Glossary (used throughout the sources):
//! - *branch*: one directory tree of the union, with a permission (`rw`, `ro`,
//!   `rr`); branches are ordered top (index 0) to bottom.
//! - *bindex* ([`stack::BIdx`]): a branch's index.
//! - *lower stack*: for one union name, the objects of that name on the branches
//!   that contribute to it, top first ([`stack::DentryInfo`]).
//! - *whiteout*: `.wh.<name>` on a branch, hiding `<name>` on the branches below.
//! - *opaque*: a directory holding `.wh..wh..opq`: lower directories of the same
//!   name are not merged into it.
//! - *copy-up*: copying a lower file to a writable branch before its first change.
//! - *xino*: the table of persistent inode numbers; *plink*: pseudo-links, which
//!   keep hard links together across copy-up; *udba*: how direct changes to
//!   branches are noticed ("user's direct branch access").
//!
//! Layout: `vfs/` is the only module with `unsafe` code (typed wrappers of the C
//! VFS objects and the C callbacks); every other module is safe Rust, one concern
//! per file.

mod acl;
mod branch;
mod copyup;
// Shared with the host tests, as `opts`.
#[allow(unreachable_pub)]
mod dirpos;
mod export;
mod file;
mod inode;
mod lookup;
mod namei;
// Shared with the host tests (tests/host), where its items are public API.
#[allow(unreachable_pub, dead_code)]
mod opts;
mod plink;
mod readdir;
mod sbinfo;
mod stack;
mod stats;
mod superblock;
mod vfs;
mod workdir;
mod xino;
// Shared with the host tests, as `opts`.
#[allow(unreachable_pub, dead_code)]
mod whiteout;

use kernel::prelude::*;

module! {
    type: Rustaufs,
    name: "rustaufs",
    authors: ["rustaufs developers"],
    description: "aufs-compatible union filesystem",
    license: "GPL",
}

struct Rustaufs {
    _fs: vfs::fc::Registration,
    _debugfs: stats::Debugfs,
}

impl kernel::Module for Rustaufs {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let debugfs = stats::Debugfs::new()?;
        let fs = vfs::fc::Registration::new(module)?;
        Ok(Rustaufs { _fs: fs, _debugfs: debugfs })
    }
}

impl Drop for Rustaufs {
    fn drop(&mut self) {
        if !stats::Debugfs::all_zero() {
            pr_warn!("objects still live at unload: {:?}\n", stats::Objects);
        }
    }
}
