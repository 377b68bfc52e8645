// SPDX-License-Identifier: GPL-2.0
//! The VFS boundary: every `unsafe` block of rustaufs lives in this module.
//!
//! Above it the filesystem is safe Rust (each file starts with
//! `#![forbid(unsafe_code)]`). Here are small typed wrappers over the C objects:
//!
//! | wrapper | C object | ownership |
//! |---|---|---|
//! | [`dentry::Dentry`] | our `struct dentry` | borrowed; `d_fsdata` = `KBox<DentryInfo>` |
//! | [`dentry::LowerDentry`] | a branch's dentry | `ARef` = one `dget` count |
//! | [`inode::Inode`] | our inode, inside a `Container` with its `InodeInfo` | `ARef` = `ihold` |
//! | [`inode::LowerInode`] | a branch's inode | `ARef` = `ihold` |
//! | [`inode::NewInode`] | an `I_NEW` inode | `Drop` = `iget_failed` |
//! | [`path::Path`] | a `struct path` from `kern_path` | `path_get` counts |
//! | [`path::PrivateMount`] | `clone_private_mount` of a branch | `kern_unmount_array` |
//! | [`file::BackingFile`] | `backing_file_open` on a branch | `fput` |
//! | [`sb::SuperBlock`] | our superblock | `s_fs_info` = `KBox<SbInfo>` |
//! | [`fc::FsContext`] | `struct fs_context` | `fs_private` = `KBox<MountOptions>` |
//!
//! # Conventions
//!
//! - Every `unsafe` block has a `// SAFETY:` comment; every wrapper type states its
//!   `# Invariants`; every `unsafe fn` states its `# Safety` contract.
//! - Objects of branches are typed apart from ours (`LowerDentry` vs `Dentry`), so a
//!   branch dentry can never be handed to a function that expects one of ours.
//! - Callbacks from C are trampolines in [`ops`] and [`fc`]: they wrap the raw
//!   pointers, call one safe function and map `Result` to an errno.
//!
//! # Lock order
//!
//! The read side takes no lock of its own. The locks it causes, outermost first:
//!
//! 1. our directory's `i_rwsem` (shared, taken by the VFS around `->lookup`)
//!    → a branch directory's `i_rwsem` (shared, taken by `lookup_noperm_unlocked`).
//! 2. our directory's `i_rwsem` (shared, by `iterate_dir` around `->iterate_shared`)
//!    → our `DirInfo` mutex → a branch directory's `i_rwsem` (shared, by
//!    `iterate_dir` on the branch directory).
//!
//! Branch locks are always taken after ours and never the other way round, because
//! branches never call into the union (a branch inside the union is refused at
//! mount time).

pub(crate) mod acl;
pub(crate) mod attr;
pub(crate) mod bindings;
pub(crate) mod cred;
pub(crate) mod dentry;
pub(crate) mod dir;
pub(crate) mod dirop;
pub(crate) mod export;
pub(crate) mod fc;
pub(crate) mod file;
pub(crate) mod inode;
pub(crate) mod ops;
pub(crate) mod path;
pub(crate) mod sb;
pub(crate) mod task;

use kernel::prelude::*;
use kernel::str::CStr;

/// File type bits of `i_mode`.
pub(crate) mod bindings_modes {
    pub(crate) const S_IFMT: u32 = super::bindings::S_IFMT;
    pub(crate) const S_IFDIR: u32 = super::bindings::S_IFDIR;
    pub(crate) const S_IFREG: u32 = super::bindings::S_IFREG;
    pub(crate) const S_IFLNK: u32 = super::bindings::S_IFLNK;
}

/// Open flags.
pub(crate) const O_CREAT: u32 = bindings::O_CREAT;
/// Open flags.
pub(crate) const O_EXCL: u32 = bindings::O_EXCL;
/// Open flags.
pub(crate) const O_NOCTTY: u32 = bindings::O_NOCTTY;
/// Open flags.
pub(crate) const O_TRUNC: u32 = bindings::O_TRUNC;
/// Open flags.
pub(crate) const O_RDONLY: u32 = bindings::O_RDONLY;
/// Open flags.
pub(crate) const O_WRONLY: u32 = bindings::O_WRONLY;
/// `O_RDWR`.
pub(crate) const O_RDWR: u32 = bindings::O_RDWR;
/// Open flags: reads through this file leave the inode's atime alone.
pub(crate) const O_NOATIME: u32 = bindings::RUSTAUFS_O_NOATIME;
/// Open flags: the access mode bits.
pub(crate) const O_ACCMODE: u32 = bindings::O_ACCMODE;
/// `renameat2` flags.
pub(crate) const RENAME_NOREPLACE: u32 = bindings::RUSTAUFS_RENAME_NOREPLACE;
/// `renameat2` flags.
pub(crate) const RENAME_EXCHANGE: u32 = bindings::RUSTAUFS_RENAME_EXCHANGE;

/// Whether the current task is being killed (`fatal_signal_pending`): long copies
/// stop early.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: no preconditions; reads the current task.
    unsafe { bindings::rustaufs_signal_pending() }
}

/// A mount's idmap (`struct mnt_idmap`), passed through to permission checks.
/// Only ever obtained from a live mount and used while that mount is pinned.
#[derive(Clone, Copy)]
pub(crate) struct Idmap(pub(crate) *mut bindings::mnt_idmap);

/// How deep filesystems may stack (`FILESYSTEM_MAX_STACK_DEPTH`).
pub(crate) const MAX_STACK_DEPTH: i32 = bindings::RUSTAUFS_FILESYSTEM_MAX_STACK_DEPTH as i32;

/// The attributes `getattr` fills (`struct kstat`).
///
/// # Invariants
///
/// Points to the caller's live kstat for the duration of a `->getattr` call.
pub(crate) struct Kstat<'a>(&'a mut bindings::kstat);

impl Kstat<'_> {
    /// Wraps the kstat of a `->getattr` call.
    ///
    /// # Safety
    ///
    /// `p` is the live kstat of the current call.
    pub(crate) unsafe fn from_raw<'a>(p: *mut bindings::kstat) -> Kstat<'a> {
        // SAFETY: per the contract.
        Kstat(unsafe { &mut *p })
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut bindings::kstat {
        self.0
    }

    /// Sets the device and inode number the union reports.
    pub(crate) fn set_identity(&mut self, dev: u32, ino: u64) {
        self.0.dev = dev;
        self.0.ino = ino;
    }

    /// Sets the link count.
    pub(crate) fn set_nlink(&mut self, n: u32) {
        self.0.nlink = n;
    }
}

/// The buffer `statfs` fills (`struct kstatfs`).
pub(crate) struct StatfsBuf<'a>(&'a mut bindings::kstatfs);

impl StatfsBuf<'_> {
    /// Wraps the buffer of a `->statfs` call.
    ///
    /// # Safety
    ///
    /// `p` is the live buffer of the current call.
    pub(crate) unsafe fn from_raw<'a>(p: *mut bindings::kstatfs) -> StatfsBuf<'a> {
        // SAFETY: per the contract.
        StatfsBuf(unsafe { &mut *p })
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut bindings::kstatfs {
        self.0
    }

    /// Sets the filesystem type reported to the caller.
    pub(crate) fn set_type(&mut self, magic: u64) {
        self.0.f_type = magic as _;
    }
}

/// The `seq_file` of `/proc/mounts` output.
pub(crate) struct SeqFile(*mut bindings::seq_file);

impl SeqFile {
    /// Wraps a live seq_file.
    ///
    /// # Safety
    ///
    /// `m` is live and used by this thread only for the wrapper's lifetime.
    pub(crate) unsafe fn from_raw(m: *mut bindings::seq_file) -> Self {
        SeqFile(m)
    }

    /// Writes `s` verbatim.
    pub(crate) fn puts(&mut self, s: &str) {
        // SAFETY: the seq_file is live (contract of `from_raw`); `s` is valid for
        // its length.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
    }

    /// Writes a path as seen from the caller's root, escaping the characters in
    /// `esc` (`seq_path`).
    pub(crate) fn path(&mut self, p: &path::Path, esc: &CStr) {
        // SAFETY: as for `puts`; `p` is a counted path.
        unsafe { bindings::seq_path(self.0, p.as_raw(), esc.as_char_ptr()) };
    }
}
