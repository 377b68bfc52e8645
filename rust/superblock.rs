// SPDX-License-Identifier: GPL-2.0
//! Mounting: options into a [`MountOptions`], `fill_super`, remount, `statfs` and
//! `/proc/mounts` (aufs: `fs/aufs/super.c`, `opts.c`; overlayfs: `params.c`, `super.c`).
#![forbid(unsafe_code)]

use crate::branch::{self, NewBranch};
use crate::opts::{self, Opt, Udba};
use crate::sbinfo::SbInfo;
use crate::stack::{DentryInfo, Lower};
use crate::vfs::cred::CredGuard;
use crate::vfs::dentry::Dentry;
use crate::vfs::dirop::WriteAccess;
use crate::workdir::Work;
use crate::xino::XinoAt;
use kernel::cred::Credential;
use crate::vfs::fc::{self, FsContext};
use crate::vfs::path::Path;
use crate::vfs::sb::{NewSuperBlock, SuperBlock};
use crate::vfs::{SeqFile, StatfsBuf};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::aref::ARef;

/// aufs's superblock magic ("aufs"), which `statfs` reports as `f_type`.
pub(crate) const MAGIC: u64 = 0x6175_6673;

/// The options of a mount request, filled option by option (`fs_private`).
pub(crate) struct MountOptions {
    branches: KVec<NewBranch>,
    branches_given: bool,
    udba: Udba,
    xino: XinoAt,
    /// `plink`/`noplink`, if given.
    plink: Option<bool>,
    /// `clean_plink` (acted on by remount).
    clean_plink: bool,
    /// `trunc_xino`/`notrunc_xino`, if given.
    trunc_xino: Option<bool>,
    /// `persist_ino`: inode numbers kept across mounts.
    persist_ino: bool,
}

impl MountOptions {
    /// Defaults: no branch yet, `udba=reval`.
    pub(crate) fn new() -> Self {
        MountOptions {
            branches: KVec::new(),
            branches_given: false,
            udba: Udba::Reval,
            xino: XinoAt::Default,
            plink: None,
            clean_plink: false,
            trunc_xino: None,
            persist_ino: false,
        }
    }
}

fn errno_text(e: Error) -> &'static str {
    match e {
        e if e == ENOENT => "No such file or directory",
        e if e == ENOTDIR => "Not a directory",
        e if e == EACCES => "Permission denied",
        e if e == ELOOP => "Too many levels of symbolic links",
        e if e == ENAMETOOLONG => "File name too long",
        _ => "cannot be resolved",
    }
}

/// Resolves a branch list (`br=`, `dirs=`), replacing any earlier one.
fn set_branches(fc: &mut FsContext, key: &str, list: &str) -> Result {
    let mut new = KVec::new();
    for spec in opts::branches(list) {
        let spec = spec.map_err(|e| {
            fc.error(format_args!("{key}: {e}"));
            Error::from_errno(-e.errno())
        })?;
        let cpath = CString::try_from_fmt(format_args!("{}", spec.path))?;
        let path = Path::lookup_dir(&cpath).inspect_err(|e| {
            fc.error(format_args!("{key}: {}: {}", spec.path, errno_text(*e)));
        })?;
        let mut name = KVec::new();
        name.extend_from_slice(spec.path.as_bytes(), GFP_KERNEL)?;
        new.push(NewBranch { name, path, perm: spec.perm }, GFP_KERNEL)?;
    }
    let o = fc.options();
    o.branches = new;
    o.branches_given = true;
    Ok(())
}

/// `parse_param`: one option, from fsconfig(2) or split out of mount(2) data.
pub(crate) fn parse_param(fc: &mut FsContext, key: &str, value: Option<&str>) -> Result {
    if key == "source" {
        return Err(fc::enoparam());
    }
    let opt = opts::parse(key, value).map_err(|e| {
        fc.error(format_args!("{e}"));
        Error::from_errno(-e.errno())
    })?;
    match opt {
        Opt::Branches(list) => set_branches(fc, key, list),
        Opt::Udba(u) => {
            fc.options().udba = u;
            Ok(())
        }
        Opt::Xino(path) => {
            let dir = &path[..path.rfind('/').unwrap_or(0).max(1)];
            let dir = CString::try_from_fmt(format_args!("{dir}"))?;
            let file = CString::try_from_fmt(format_args!("{path}"))?;
            fc.options().xino = XinoAt::File { dir, file };
            Ok(())
        }
        Opt::NoXino => {
            fc.options().xino = XinoAt::Off;
            Ok(())
        }
        Opt::Plink(on) => {
            fc.options().plink = Some(on);
            Ok(())
        }
        Opt::CleanPlink => {
            fc.options().clean_plink = true;
            Ok(())
        }
        Opt::PersistIno(on) => {
            fc.options().persist_ino = on;
            Ok(())
        }
        Opt::TruncXino(on) => {
            fc.options().trunc_xino = Some(on);
            Ok(())
        }
        Opt::Ignored(_) => Ok(()),
        Opt::NotYet(k) => {
            fc.warn(format_args!("{k}: accepted but not implemented yet; ignored"));
            Ok(())
        }
    }
}

static NEXT_ID: AtomicU32 = AtomicU32::new(1);

/// `fill_super`: builds the branch table and the root.
pub(crate) fn fill_super(sb: &NewSuperBlock, fc: &mut FsContext) -> Result {
    let o = fc.options();
    if !o.branches_given {
        fc.error(format_args!("no branch given (use br=/dir1:/dir2...)"));
        return Err(EINVAL);
    }
    let new = core::mem::take(&mut o.branches);
    let udba = o.udba;
    let branches = branch::build(fc, new)?;
    let max_bytes = branches.iter().map(|b| b.user.max_bytes()).max().unwrap_or(0);
    let depth = branches.iter().map(|b| b.user.stack_depth()).max().unwrap_or(0) + 1;
    let wbr = branches.iter().position(|b| b.perm.perm == opts::Perm::Rw).map(branch::bidx);
    let creator = ARef::from(fc.cred());
    let work = match wbr {
        Some(w) => Some(setup_work(fc, &branches[w.get()], &creator)?),
        None => None,
    };
    let xat = core::mem::replace(&mut fc.options().xino, XinoAt::Default);
    let persist = fc.options().persist_ino;
    let xino = crate::xino::setup(fc, xat, persist, &branches, wbr, &creator)?;
    if let (Some(x), Some(on)) = (&xino, fc.options().trunc_xino) {
        x.set_trunc(on);
    }
    let plink_on = fc.options().plink.unwrap_or(true);
    let plinks = match &work {
        Some(w) => Some(crate::plink::Plinks::new(w.plink.clone(), plink_on)?),
        None => None,
    };
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    sb.set_info(SbInfo::new(branches, udba, creator, id, wbr, work, xino, plinks)?);
    // A union without a writable branch is read-only (aufs and overlayfs alike).
    sb.set_params(MAGIC, max_bytes, depth, wbr.is_none(), udba != Udba::None);

    let sbi = sb.sb().info();
    let mut stack = KVec::with_capacity(sbi.branches.len(), GFP_KERNEL)?;
    for (i, br) in sbi.branches.iter().enumerate() {
        stack.push(Lower { bidx: branch::bidx(i), dentry: ARef::from(br.user.dentry()) }, GFP_KERNEL)?;
    }
    let info = DentryInfo::new(stack, sbi.wbr)?;
    if let (Some(x), Some(top)) = (&sbi.xino, sbi.branches.first()) {
        x.set(top.fsidx, top.user.dentry().inode().ok_or(EIO)?.ino(), crate::xino::ROOT_INO)?;
    }
    let inode = crate::inode::get(sb.sb(), &info)?;
    sb.set_root(inode, info)
}

/// Makes the write branch's work directory and whiteout base (as the mounter).
fn setup_work(fc: &FsContext, br: &crate::branch::Branch, creator: &Credential) -> Result<Work> {
    let _c = CredGuard::new(creator);
    let res = WriteAccess::new(&br.mnt)
        .and_then(|w| Work::setup(&w, br.user.dentry(), br.perm.nolwh, creator));
    res.inspect_err(|e| {
        fc.error(format_args!("cannot set up the work directory .wh..wh.orph on the write branch: {e:?}"));
    })
}

/// `reconfigure` (remount): options are checked; nothing changes yet, and the
/// union stays read-only.
///
/// mount(8) passes the options of `/proc/mounts` back on `mount -o remount DIR`,
/// so a branch list equal to the current one (same directories, same
/// permissions) is accepted; a different one is refused until dynamic branches
/// land.
pub(crate) fn reconfigure(fc: &mut FsContext) -> Result {
    let o = fc.options();
    if o.branches_given {
        let new = core::mem::take(&mut o.branches);
        let same = fc.root_sb().is_some_and(|sb| {
            let cur = &sb.info().branches;
            cur.len() == new.len()
                && cur.iter().zip(new.iter()).enumerate().all(|(i, (c, n))| {
                    core::ptr::eq(c.user.dentry(), n.path.dentry()) && c.perm == n.perm_at(i)
                })
        });
        if !same {
            fc.error(format_args!("br: changing branches on remount is not supported yet"));
            return Err(EINVAL);
        }
    }
    if let Some(sb) = fc.root_sb() {
        if sb.info().wbr.is_none() {
            fc.force_rdonly();
        }
    }
    let (plink, clean, trunc) = (fc.options().plink, fc.options().clean_plink, fc.options().trunc_xino);
    if let (Some(x), Some(on)) = (fc.root_sb().and_then(|sb| sb.info().xino.as_ref()), trunc) {
        x.set_trunc(on);
    }
    if let Some(pl) = fc.root_sb().and_then(|sb| sb.info().plinks.as_ref()) {
        // aufs puts its pseudo-links on `clean_plink` and when they are turned
        // off; here they become hard links on the write branch.
        if clean || plink == Some(false) {
            if let Some(sb) = fc.root_sb() {
                crate::plink::flush(sb.root());
            }
        }
        if let Some(on) = plink {
            pl.set_enabled(on);
        }
    }
    Ok(())
}

/// Before the superblock goes (`kill_sb`, while every object still works):
/// the pseudo-links become hard links on the write branch.
pub(crate) fn shutdown(sb: &SuperBlock) {
    crate::plink::flush(sb.root());
}

/// `sync_fs` (from `syncfs(2)`, and `umount`): writes the write branch's
/// filesystem back, once, when asked to wait (as overlayfs). Read-only branches
/// have nothing of ours to write.
pub(crate) fn sync_fs(sb: &SuperBlock, wait: bool) -> Result {
    match sb.info().write_branch() {
        Ok(wb) if wait => wb.mnt.sync_fs(),
        _ => Ok(()),
    }
}

/// `statfs`: the top branch's numbers, with our magic.
pub(crate) fn statfs(sb: &SuperBlock, _d: &Dentry, buf: &mut StatfsBuf<'_>) -> Result {
    let br = sb.info().branches.first().ok_or(EIO)?;
    br.mnt.path(br.user.dentry()).statfs(buf, MAGIC)
}

/// `show_options`: `si=<id>`, the branch list as `br:` (paths escaped so that
/// mount(8) can read them back) and non-default options.
pub(crate) fn show_options(sb: &SuperBlock, seq: &mut SeqFile) -> Result {
    let sbi = sb.info();
    let mut buf = [0u8; 32];
    seq.puts(fmt_into(&mut buf, format_args!(",si={:x}", sbi.id)));
    seq.puts(",br:");
    for (i, br) in sbi.branches.iter().enumerate() {
        if i > 0 {
            seq.puts(":");
        }
        seq.path(&br.user, c" \t\n\\,:=");
        seq.puts(fmt_into(&mut buf, format_args!("={}", br.perm)));
    }
    if sbi.plinks.as_ref().is_some_and(|p| !p.enabled()) {
        seq.puts(",noplink");
    }
    if let Some(x) = &sbi.xino {
        if !x.trunc() {
            seq.puts(",notrunc_xino");
        }
        if x.persistent() {
            seq.puts(",persist_ino");
        }
    }
    match sbi.udba {
        Udba::Reval => {}
        Udba::None => seq.puts(",udba=none"),
        Udba::Notify => seq.puts(",udba=notify"),
    }
    Ok(())
}

/// Formats into a small stack buffer (truncating, which cannot happen for the
/// short values printed here).
fn fmt_into<'a>(buf: &'a mut [u8], args: core::fmt::Arguments<'_>) -> &'a str {
    struct W<'b> {
        buf: &'b mut [u8],
        len: usize,
    }
    impl core::fmt::Write for W<'_> {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            let n = s.len().min(self.buf.len() - self.len);
            self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
            self.len += n;
            Ok(())
        }
    }
    let mut w = W { buf, len: 0 };
    let _ = core::fmt::write(&mut w, args);
    let len = w.len;
    core::str::from_utf8(&w.buf[..len]).unwrap_or("")
}
