// SPDX-License-Identifier: GPL-2.0
//! The inode number table (aufs's "xino"): which union inode number each branch
//! object has, so that a file keeps its `st_ino` for the life of the mount:
//! across eviction of its inode and dentry, and across copy-up (the copy is
//! entered with the number the original had).
//!
//! One table per distinct branch filesystem (branch inode numbers are per
//! filesystem): a sparse file of little-endian `u64`, indexed by the branch inode
//! number, holding the union number (0: none yet). The files are unnamed
//! (`O_TMPFILE`) on the first writable branch, or in the directory of `xino=`,
//! kept open for the life of the mount and gone with it. Numbers are handed out
//! in order from 11 (aufs's first), the root's is 2; they are not reused within
//! a mount (a 64-bit counter), so they stay small and unique.
//!
//! A branch inode number too large for a table file (`EFBIG`) gets a number that
//! is unique but not recorded. Failing to read or write the table (its
//! filesystem is full: `ENOSPC`) fails the lookup that needed the number, with a
//! message in the kernel log: a wrong or changing `st_ino` would be worse.
#![forbid(unsafe_code)]

use crate::branch::Branch;
use crate::stack::BIdx;
use crate::vfs::cred::CredGuard;
use crate::vfs::dirop::WriteAccess;
use crate::vfs::fc::FsContext;
use crate::vfs::file::KernelFile;
use crate::vfs::path::{LowerPath, Path, PrivateMount};
use kernel::str::{CStr, CString};

use kernel::cred::Credential;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};
use kernel::sync::{new_mutex, Mutex};

/// The root directory's number (aufs's `AUFS_ROOT_INO`).
pub(crate) const ROOT_INO: u64 = 2;
/// The first number handed out (aufs's `AUFS_FIRST_INO`).
const FIRST_INO: u64 = 11;
const ENTRY: u64 = 8;

/// The table of one branch filesystem.
struct Table {
    file: KernelFile,
    /// Serialises allocation (read, then write) in this table.
    lock: Pin<KBox<Mutex<()>>>,
}

/// The inode number tables of a union.
pub(crate) struct Xino {
    /// Indexed by `Branch::fsidx`.
    tables: KVec<Table>,
    next: Atomic<u64>,
    /// Whether a table I/O failure was logged (once per mount).
    reported: Atomic<bool>,
    /// The mount of `xino=`'s directory, if the tables live there.
    _mnt: Option<PrivateMount>,
}

impl Xino {
    /// Creates `nfs` tables in the directory `dir` (the caller holds write access
    /// to its mount), as the mounter `cred`.
    pub(crate) fn create(
        _w: &WriteAccess<'_>,
        dir: &LowerPath<'_>,
        nfs: usize,
        cred: &Credential,
        mnt: Option<PrivateMount>,
    ) -> Result<Xino> {
        let mut tables = KVec::with_capacity(nfs, GFP_KERNEL)?;
        for _ in 0..nfs {
            let file = KernelFile::tmpfile(dir, cred)?;
            let lock = KBox::pin_init(new_mutex!(()), GFP_KERNEL)?;
            tables.push(Table { file, lock }, GFP_KERNEL)?;
        }
        Ok(Xino { tables, next: Atomic::new(FIRST_INO), reported: Atomic::new(false), _mnt: mnt })
    }

    fn table(&self, fsidx: u8) -> Result<&Table> {
        self.tables.get(usize::from(fsidx)).ok_or(EIO)
    }

    /// The union number of inode `h_ino` of branch filesystem `fsidx`, handed out
    /// and recorded if it has none yet.
    pub(crate) fn ino(&self, fsidx: u8, h_ino: u64) -> Result<u64> {
        let t = self.table(fsidx)?;
        let Some(pos) = offset(h_ino) else {
            return Ok(self.unrecorded(h_ino));
        };
        let found = t.file.read_u64(pos).inspect_err(|e| self.report("read", *e))?;
        if found != 0 {
            return Ok(found);
        }
        let _g = t.lock.lock();
        let found = t.file.read_u64(pos).inspect_err(|e| self.report("read", *e))?;
        if found != 0 {
            return Ok(found);
        }
        let n = self.next.fetch_add(1, Relaxed);
        match t.file.write_u64(pos, n) {
            Ok(()) => Ok(n),
            Err(e) if e == EFBIG => Ok(self.unrecorded(h_ino)),
            Err(e) => {
                self.report("write", e);
                Err(e)
            }
        }
    }

    /// Records that inode `h_ino` of branch filesystem `fsidx` has union number
    /// `ino` (the root at mount; a copy at copy-up).
    pub(crate) fn set(&self, fsidx: u8, h_ino: u64, ino: u64) -> Result {
        let t = self.table(fsidx)?;
        let Some(pos) = offset(h_ino) else { return Ok(()) };
        let _g = t.lock.lock();
        match t.file.write_u64(pos, ino) {
            Err(e) if e == EFBIG => Ok(()),
            r => r.inspect_err(|e| self.report("write", *e)),
        }
    }

    fn unrecorded(&self, h_ino: u64) -> u64 {
        kernel::pr_warn_once!("xino: branch inode number {h_ino} too large for the table; not recorded\n");
        self.next.fetch_add(1, Relaxed)
    }
}

/// Where the tables go (`xino=`, `noxino`).
pub(crate) enum XinoAt {
    /// The first writable branch; without one, `/tmp` (as aufs).
    Default,
    /// `xino=FILE`: the tables go to FILE's directory `dir` (FILE itself is not
    /// made, so concurrent mounts naming the same FILE do not collide).
    File { dir: CString, file: CString },
    /// No tables (`noxino`).
    Off,
}

/// Makes the tables of a new union with branches `brs` and write branch `wbr`.
/// Failure to place them where asked fails the mount; the default place falling
/// back to `/tmp` and then to no table is logged.
pub(crate) fn setup(fc: &FsContext, at: XinoAt, brs: &[Branch], wbr: Option<BIdx>, cred: &Credential) -> Result<Option<Xino>> {
    let nfs = brs.iter().map(|b| usize::from(b.fsidx) + 1).max().unwrap_or(1);
    let _c = CredGuard::new(cred);
    match (at, wbr) {
        (XinoAt::Off, _) => Ok(None),
        (XinoAt::Default, Some(w)) => {
            let br = brs.get(w.get()).ok_or(EIO)?;
            let res = WriteAccess::new(&br.mnt)
                .and_then(|wa| Xino::create(&wa, &br.mnt.path(br.user.dentry()), nfs, cred, None));
            res.map(Some).inspect_err(|e| {
                fc.error(format_args!("xino: cannot make the inode number table on the write branch: {e:?}"));
            })
        }
        (XinoAt::Default, None) => match in_dir(c"/tmp", nfs, cred) {
            Ok(x) => Ok(Some(x)),
            Err(e) => {
                fc.warn(format_args!("xino: no writable branch and /tmp unusable ({e:?}): noxino"));
                Ok(None)
            }
        },
        (XinoAt::File { dir, file }, _) => in_dir(&dir, nfs, cred).map(Some).inspect_err(|e| {
            let f = core::str::from_utf8(file.to_bytes()).unwrap_or("?");
            fc.error(format_args!("xino={f}: cannot make the table in its directory: {e:?}"));
        }),
    }
}

fn in_dir(dir: &CStr, nfs: usize, cred: &Credential) -> Result<Xino> {
    let path = Path::lookup_dir(dir)?;
    let mnt = path.clone_private()?;
    let x = {
        let w = WriteAccess::new(&mnt)?;
        Xino::create(&w, &mnt.path(path.dentry()), nfs, cred, None)?
    };
    Ok(Xino { _mnt: Some(mnt), ..x })
}

/// Where an entry of `h_ino` lies in its table.
fn offset(h_ino: u64) -> Option<i64> {
    h_ino.checked_mul(ENTRY).and_then(|p| i64::try_from(p).ok())
}

impl Xino {
    /// Logs the first table I/O failure of this mount (each fails its operation).
    fn report(&self, what: &str, e: Error) {
        if !self.reported.xchg(true, Relaxed) {
            pr_err!("xino: cannot {what} the inode number table: {e:?} (further failures not logged)\n");
        }
    }
}
