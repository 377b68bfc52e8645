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
//! With `persist_ino` the tables are named files in `.wh..wh.xino` on the write
//! branch, one per branch filesystem, named after the filesystem's UUID
//! (`uuid-<32 hex digits>`) or, without one, its device (`dev-<major>-<minor>`),
//! with the same layout; `next` there holds the high-water mark of the numbers
//! handed out (a little-endian `u64`, reserved [`RESERVE`] at a time and
//! fsync'ed before a number beyond it is used), so numbers survive umount and
//! mount, and a branch added later finds its old numbers again.
//!
//! A branch inode number too large for a table file (`EFBIG`) gets a number that
//! is unique but not recorded. Failing to read or write the table (its
//! filesystem is full: `ENOSPC`) fails the lookup that needed the number, with a
//! message in the kernel log: a wrong or changing `st_ino` would be worse.
#![forbid(unsafe_code)]

use crate::branch::Branch;
use crate::stack::BIdx;
use crate::vfs::cred::CredGuard;
use crate::vfs::dentry::LowerDentry;
use crate::vfs::dirop::{DirOp, WriteAccess};
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
/// The unit of space `trunc_xino` gives back: a page of entries.
const BLOCK: usize = 4096;

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
    /// `trunc_xino` (the default) or `notrunc_xino`.
    trunc: Atomic<bool>,
    /// With `persist_ino`: where the high-water mark is kept.
    hwm: Option<Hwm>,
    /// The mount of `xino=`'s directory, if the tables live there.
    _mnt: Option<PrivateMount>,
}

/// The high-water mark of handed-out numbers, kept in `.wh..wh.xino/next`.
struct Hwm {
    file: KernelFile,
    /// The value in the file: every number below it may have been handed out.
    reserved: Pin<KBox<Mutex<u64>>>,
}

/// The persistent tables' directory on the write branch.
pub(crate) const DIR: &[u8] = b".wh..wh.xino";
/// How many numbers the high-water mark reserves at a time.
const RESERVE: u64 = 1024;

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
        Ok(Xino {
            tables,
            next: Atomic::new(FIRST_INO),
            reported: Atomic::new(false),
            trunc: Atomic::new(true),
            hwm: None,
            _mnt: mnt,
        })
    }

    /// Opens (or makes) the named tables of `persist_ino` in `.wh..wh.xino` on the
    /// write branch `wb`: one per filesystem of `brs`, and the high-water mark.
    fn open_persistent(w: &WriteAccess<'_>, wb: &Branch, brs: &[Branch], nfs: usize, cred: &Credential) -> Result<Xino> {
        let dir = crate::workdir::internal_dir(w, wb.user.dentry(), DIR)?;
        let mut tables = KVec::with_capacity(nfs, GFP_KERNEL)?;
        for i in 0..nfs {
            let b = brs.iter().find(|b| usize::from(b.fsidx) == i).ok_or(EIO)?;
            let mut buf = [0u8; 40];
            let file = open_named(w, wb, &dir, fs_name(&mut buf, &b.user), cred)?;
            let lock = KBox::pin_init(new_mutex!(()), GFP_KERNEL)?;
            tables.push(Table { file, lock }, GFP_KERNEL)?;
        }
        let file = open_named(w, wb, &dir, b"next", cred)?;
        let start = file.read_u64(0)?.max(FIRST_INO);
        let reserved = KBox::pin_init(new_mutex!(start), GFP_KERNEL)?;
        Ok(Xino {
            tables,
            next: Atomic::new(start),
            reported: Atomic::new(false),
            trunc: Atomic::new(true),
            hwm: Some(Hwm { file, reserved }),
            _mnt: None,
        })
    }

    /// Makes sure number `n` lies below the stored high-water mark before it is
    /// used (`persist_ino`), so that no later mount hands it out again.
    fn reserve(&self, n: u64) -> Result {
        let Some(h) = &self.hwm else { return Ok(()) };
        let mut r = h.reserved.lock();
        if n < *r {
            return Ok(());
        }
        let new = n.checked_add(RESERVE).ok_or(EOVERFLOW)?;
        h.file.write_u64(0, new).and_then(|()| h.file.fsync()).inspect_err(|e| self.report("write", *e))?;
        *r = new;
        Ok(())
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
        self.reserve(n)?;
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

    /// Clears the entry of inode `h_ino` of branch filesystem `fsidx` (its object
    /// is gone). With `trunc_xino`, a table block left without entries is punched
    /// out, so that a table shrinks again as objects go (where the table's
    /// filesystem can punch holes; elsewhere the block stays).
    pub(crate) fn clear(&self, fsidx: u8, h_ino: u64) -> Result {
        let t = self.table(fsidx)?;
        let Some(pos) = offset(h_ino) else { return Ok(()) };
        let _g = t.lock.lock();
        match t.file.write_u64(pos, 0) {
            Err(e) if e == EFBIG => return Ok(()),
            r => r.inspect_err(|e| self.report("write", *e))?,
        }
        if self.trunc.load(Relaxed) {
            // Under the table lock: no entry of this block is handed out meanwhile.
            let start = pos & !(BLOCK as i64 - 1);
            let mut buf = KVec::from_elem(0u8, BLOCK, GFP_KERNEL)?;
            let n = t.file.read_at(start, &mut buf)?;
            if buf[..n].iter().all(|&b| b == 0) {
                // A filesystem that cannot punch keeps the block: nothing is lost.
                let _ = t.file.punch_hole(start, BLOCK as i64);
            }
        }
        Ok(())
    }

    /// Turns `trunc_xino` on or off (also on remount).
    pub(crate) fn set_trunc(&self, on: bool) {
        self.trunc.store(on, Relaxed);
    }

    /// Whether the tables are kept across mounts (`persist_ino`).
    pub(crate) fn persistent(&self) -> bool {
        self.hwm.is_some()
    }

    /// Whether `trunc_xino` is on.
    pub(crate) fn trunc(&self) -> bool {
        self.trunc.load(Relaxed)
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
pub(crate) fn setup(
    fc: &FsContext,
    at: XinoAt,
    persist: bool,
    brs: &[Branch],
    wbr: Option<BIdx>,
    cred: &Credential,
) -> Result<Option<Xino>> {
    let nfs = brs.iter().map(|b| usize::from(b.fsidx) + 1).max().unwrap_or(1);
    let _c = CredGuard::new(cred);
    if persist {
        let (XinoAt::Default, Some(w)) = (&at, wbr) else {
            fc.error(format_args!("persist_ino: needs a writable branch, and keeps the tables there (not with xino= or noxino)"));
            return Err(EINVAL);
        };
        let br = brs.get(w.get()).ok_or(EIO)?;
        let res = WriteAccess::new(&br.mnt).and_then(|wa| Xino::open_persistent(&wa, br, brs, nfs, cred));
        return res.map(Some).inspect_err(|e| {
            fc.error(format_args!("persist_ino: cannot open the inode number tables in .wh..wh.xino: {e:?}"));
        });
    }
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

/// Opens (or makes, mode 0600) the regular file `name` in `dir` on the write
/// branch `wb`, read-write.
fn open_named(w: &WriteAccess<'_>, wb: &Branch, dir: &LowerDentry, name: &[u8], cred: &Credential) -> Result<KernelFile> {
    let child = {
        let op = DirOp::lookup(w, dir, name)?;
        if op.child().is_negative() {
            op.create(0o600)?;
        }
        op.child_ref()
    };
    if child.is_dir() {
        return Err(EISDIR);
    }
    KernelFile::open(&wb.mnt.path(&child), crate::vfs::O_RDWR, cred)
}

/// The name of a filesystem's persistent table: `uuid-<hex>`, or `dev-<maj>-<min>`.
fn fs_name<'a>(buf: &'a mut [u8; 40], p: &Path) -> &'a [u8] {
    let hex = b"0123456789abcdef";
    let uuid = p.fs_uuid();
    let mut len = 0;
    let mut put = |buf: &mut [u8; 40], s: &[u8]| {
        buf[len..len + s.len()].copy_from_slice(s);
        len += s.len();
    };
    if uuid.iter().any(|&b| b != 0) {
        put(buf, b"uuid-");
        for b in uuid {
            put(buf, &[hex[usize::from(b >> 4)], hex[usize::from(b & 15)]]);
        }
    } else {
        let dev = p.fs_dev();
        put(buf, b"dev-");
        for (i, v) in [dev >> 20, dev & 0xfffff].into_iter().enumerate() {
            if i == 1 {
                put(buf, b"-");
            }
            let mut d = [0u8; 10];
            let mut k = 0;
            let mut x = v;
            loop {
                d[k] = b'0' + (x % 10) as u8;
                k += 1;
                x /= 10;
                if x == 0 {
                    break;
                }
            }
            d[..k].reverse();
            put(buf, &d[..k]);
        }
    }
    &buf[..len]
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
