// SPDX-License-Identifier: GPL-2.0
//! Mount option grammar: aufs's option strings turned into typed values.
//!
//! This file is pure: it uses only `core`, so the same source is compiled into the
//! module and into the host test crate (`tests/host`), where `cargo test` runs its
//! tests without a kernel. Nothing here allocates; lists are returned as iterators
//! over the caller's string. The aufs counterpart is `fs/aufs/opts.c`.
//!
//! Grammar (see `Documentation/filesystems/rustaufs.rst`):
//! ```text
//! options  := option ("," option)*
//! option   := key | key "=" value | branchkey ":" value
//! branches := entry (":" entry)*
//! entry    := path | path "=" perm
//! perm     := ("rw" | "ro" | "rr") ("+" attr)*
//! attr     := "wh" | "nolwh"
//! ```
#![forbid(unsafe_code)]

use core::fmt;

/// The most branches one union may have, as in aufs's default build.
pub const MAX_BRANCHES: usize = 127;

/// What the union may do with a branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Perm {
    /// Writable.
    Rw,
    /// Read-only for the union; the branch may still change underneath.
    Ro,
    /// Really read-only: the branch promises never to change.
    Rr,
}

impl Perm {
    /// The name aufs uses for this permission.
    pub fn name(self) -> &'static str {
        match self {
            Perm::Rw => "rw",
            Perm::Ro => "ro",
            Perm::Rr => "rr",
        }
    }
}

/// A branch permission with its attributes, as written after `=` in a branch entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchPerm {
    /// The base permission.
    pub perm: Perm,
    /// `+wh`: whiteouts on this read-only branch hide names below it.
    pub wh: bool,
    /// `+nolwh`: whiteouts made on this writable branch are not hardlinked.
    pub nolwh: bool,
}

impl BranchPerm {
    /// The default permission of the branch at `index` (0 = top): aufs makes the
    /// first branch `rw` and the rest `ro`.
    pub fn default_for(index: usize) -> Self {
        let perm = if index == 0 { Perm::Rw } else { Perm::Ro };
        BranchPerm { perm, wh: false, nolwh: false }
    }

    /// Whether whiteouts and opaque markers found on this branch take effect.
    ///
    /// Yes on a writable branch (the union made them) and on `+wh` branches; no on
    /// plain `ro`/`rr` branches, as in aufs.
    pub fn honours_whiteouts(self) -> bool {
        self.perm == Perm::Rw || self.wh
    }
}

impl fmt::Display for BranchPerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.perm.name())?;
        if self.wh {
            f.write_str("+wh")?;
        }
        if self.nolwh {
            f.write_str("+nolwh")?;
        }
        Ok(())
    }
}

/// One entry of a branch list: a path and its permission (`None` = the default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BranchSpec<'a> {
    /// The path as written; resolved by the caller.
    pub path: &'a str,
    /// The permission, if the entry has one.
    pub perm: Option<BranchPerm>,
}

/// How changes made directly on a branch are noticed (aufs's `udba=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Udba {
    /// Not at all: fastest, for branches nobody else touches.
    None,
    /// Cached names are revalidated against the branch on access (the default).
    Reval,
    /// As `Reval` in rustaufs (aufs uses fsnotify for this).
    Notify,
}

/// One parsed option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opt<'a> {
    /// `br`/`dirs`: replaces the branch list; iterate it with [`branches`].
    Branches(&'a str),
    /// `udba=`.
    Udba(Udba),
    /// `xino=FILE`: the inode number tables go to FILE's directory.
    Xino(&'a str),
    /// `noxino`: no inode number table.
    NoXino,
    /// `plink` (true) / `noplink` (false): keep pseudo-links.
    Plink(bool),
    /// `clean_plink`: on remount, turn the pseudo-links into hard links now.
    CleanPlink,
    /// `persist_ino` (true) / `nopersist_ino` (false): keep inode numbers across
    /// mounts, in named tables on the write branch.
    PersistIno(bool),
    /// `trunc_xino` (true) / `notrunc_xino` (false): give back the space of
    /// cleared inode number table entries.
    TruncXino(bool),
    /// An option rustaufs accepts for compatibility and ignores (named for the log).
    Ignored(&'a str),
    /// An aufs option that rustaufs accepts but does not implement yet; the caller
    /// warns that it has no effect.
    NotYet(&'a str),
}

/// A parse error. [`fmt::Display`] gives the message shown to the user; every
/// variant maps to `EINVAL` except [`OptError::TooManyBranches`] (`E2BIG`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptError<'a> {
    /// The key is not an option of rustaufs or aufs.
    UnknownOption(&'a str),
    /// The option needs a value (`br` without `=`).
    MissingValue(&'a str),
    /// The option takes no value (`dio=1`).
    UnexpectedValue(&'a str),
    /// The value is not one of the option's values.
    BadValue {
        /// The option.
        key: &'a str,
        /// What was given.
        value: &'a str,
    },
    /// `br=` with no entry at all.
    EmptyBranchList,
    /// An entry with an empty path (`br=/a::/b`).
    EmptyPath,
    /// The permission of an entry is not `rw`, `ro` or `rr` (with attributes).
    UnknownPerm {
        /// The branch path.
        path: &'a str,
        /// The permission text.
        perm: &'a str,
    },
    /// An attribute that the branch's permission does not allow (`rw+wh`, `ro+nolwh`).
    BadAttr {
        /// The branch path.
        path: &'a str,
        /// The permission text.
        perm: &'a str,
    },
    /// More than [`MAX_BRANCHES`] entries.
    TooManyBranches(usize),
}

/// `EINVAL`, as a positive number, for [`OptError::errno`].
pub const EINVAL: i32 = 22;
/// `E2BIG`, as a positive number, for [`OptError::errno`].
pub const E2BIG: i32 = 7;

impl OptError<'_> {
    /// The errno (positive) that the mount fails with.
    pub fn errno(&self) -> i32 {
        match self {
            OptError::TooManyBranches(_) => E2BIG,
            _ => EINVAL,
        }
    }
}

impl fmt::Display for OptError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptError::UnknownOption(k) => write!(f, "unknown option '{k}'"),
            OptError::MissingValue(k) => write!(f, "option '{k}' needs a value"),
            OptError::UnexpectedValue(k) => write!(f, "option '{k}' takes no value"),
            OptError::BadValue { key, value } => write!(f, "bad value '{value}' for option '{key}'"),
            OptError::EmptyBranchList => write!(f, "empty branch list"),
            OptError::EmptyPath => write!(f, "empty branch path in branch list"),
            OptError::UnknownPerm { path, perm } => write!(
                f,
                "{path}: unknown branch permission '{perm}' (expected rw, ro or rr, optionally +wh or +nolwh)"
            ),
            OptError::BadAttr { path, perm } => write!(
                f,
                "{path}: bad branch attribute in '{perm}' (wh is for ro/rr branches, nolwh for rw branches)"
            ),
            OptError::TooManyBranches(n) => {
                write!(f, "too many branches: {n} (at most {MAX_BRANCHES})")
            }
        }
    }
}

/// The options whose value may follow `:` as well as `=` (`br:/a:/b`).
const BRANCH_KEYS: [&str; 8] = ["br", "dirs", "add", "ins", "append", "prepend", "del", "mod"];

/// Splits one item of a comma-separated option string into key and value.
///
/// `br:/a=rw:/b` and `br=/a:/b` both give key `br`: for branch keys the value starts
/// after the first `=` or `:`, whichever comes first; for other keys after `=`.
pub fn split_key_value(item: &str) -> (&str, Option<&str>) {
    let cut = item.find(['=', ':']);
    if let Some(i) = cut {
        let key = &item[..i];
        if BRANCH_KEYS.contains(&key) {
            return (key, Some(&item[i + 1..]));
        }
    }
    match item.split_once('=') {
        Some((k, v)) => (k, Some(v)),
        None => (item, None),
    }
}

/// Iterates over the non-empty comma-separated items of a mount data string.
pub fn items(data: &str) -> impl Iterator<Item = &str> {
    data.split(',').filter(|s| !s.is_empty())
}

fn flag<'a>(key: &'a str, value: Option<&'a str>, opt: Opt<'a>) -> Result<Opt<'a>, OptError<'a>> {
    match value {
        None => Ok(opt),
        Some(_) => Err(OptError::UnexpectedValue(key)),
    }
}

fn valued<'a>(key: &'a str, value: Option<&'a str>) -> Result<&'a str, OptError<'a>> {
    value.ok_or(OptError::MissingValue(key))
}

fn number<'a>(key: &'a str, value: Option<&'a str>) -> Result<Opt<'a>, OptError<'a>> {
    let v = valued(key, value)?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(OptError::BadValue { key, value: v });
    }
    Ok(Opt::NotYet(key))
}

/// Checks an aufs creation/copy-up policy value (`create=mfs:60`, `cpup=bup`).
fn policy<'a>(key: &'a str, value: Option<&'a str>, names: &[&str]) -> Result<Opt<'a>, OptError<'a>> {
    let v = valued(key, value)?;
    let name = v.split(':').next().unwrap_or("");
    let args_ok = v.split(':').skip(1).all(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()));
    if names.contains(&name) && args_ok && v.split(':').count() <= 3 {
        Ok(Opt::NotYet(key))
    } else {
        Err(OptError::BadValue { key, value: v })
    }
}

/// Parses one option given as key and optional value.
///
/// The caller handles `source` (the VFS's own key) before calling this.
pub fn parse<'a>(key: &'a str, value: Option<&'a str>) -> Result<Opt<'a>, OptError<'a>> {
    match key {
        "br" | "dirs" => {
            let v = valued(key, value)?;
            Ok(Opt::Branches(v))
        }
        "udba" => match valued(key, value)? {
            "none" => Ok(Opt::Udba(Udba::None)),
            "reval" => Ok(Opt::Udba(Udba::Reval)),
            "notify" | "inotify" => Ok(Opt::Udba(Udba::Notify)),
            v => Err(OptError::BadValue { key, value: v }),
        },
        // Accepted for compatibility; rustaufs already behaves this way.
        "dirperm1" | "nodirperm1" | "warn_perm" | "nowarn_perm" | "verbose" | "v" | "quiet"
        | "q" | "noverbose" | "dio" | "nodio" | "nodlgt" | "relatime"
        | "acl" | "noacl" => flag(key, value, Opt::Ignored(key)),
        "si" | "debug" | "delete" | "imap" => {
            valued(key, value)?;
            Ok(Opt::Ignored(key))
        }
        // aufs options whose behaviour lands with later work: checked, then warned about.
        "noxino" => flag(key, value, Opt::NoXino),
        "plink" => flag(key, value, Opt::Plink(true)),
        "noplink" => flag(key, value, Opt::Plink(false)),
        "clean_plink" => flag(key, value, Opt::CleanPlink),
        "persist_ino" => flag(key, value, Opt::PersistIno(true)),
        "nopersist_ino" => flag(key, value, Opt::PersistIno(false)),
        "trunc_xino" => flag(key, value, Opt::TruncXino(true)),
        "notrunc_xino" => flag(key, value, Opt::TruncXino(false)),
        "trunc_xib" | "notrunc_xib" | "shwh" | "noshwh" | "sum" | "nosum" | "dirren" | "nodirren" => {
            flag(key, value, Opt::NotYet(key))
        }
        "xino" => {
            let v = valued(key, value)?;
            if !v.starts_with('/') || v.ends_with('/') {
                return Err(OptError::BadValue { key, value: v });
            }
            Ok(Opt::Xino(v))
        }
        "dirwh" | "rdcache" | "rdblk" | "rdhash" | "fhsm_sec" | "itrunc_xino" => number(key, value),
        "trunc_xino_path" => valued(key, value).map(|_| Opt::NotYet(key)),
        "diropq" => match valued(key, value)? {
            "w" | "whiteouted" | "a" | "always" => Ok(Opt::NotYet(key)),
            v => Err(OptError::BadValue { key, value: v }),
        },
        "create" => policy(
            key,
            value,
            &["tdp", "top-down-parent", "rr", "round-robin", "mfs", "most-free-space", "mfsrr", "tdmfs", "pmfs", "pmfsrr"],
        ),
        "cpup" => policy(key, value, &["tdp", "top-down-parent", "bup", "bottom-up-parent", "bu", "bottom-up"]),
        _ => Err(OptError::UnknownOption(key)),
    }
}

/// Parses a permission string such as `ro+wh`.
pub fn parse_perm<'a>(path: &'a str, text: &'a str) -> Result<BranchPerm, OptError<'a>> {
    let mut parts = text.split('+');
    let perm = match parts.next() {
        Some("rw") => Perm::Rw,
        Some("ro") => Perm::Ro,
        Some("rr") => Perm::Rr,
        _ => return Err(OptError::UnknownPerm { path, perm: text }),
    };
    let mut bp = BranchPerm { perm, wh: false, nolwh: false };
    for attr in parts {
        match attr {
            "wh" if perm != Perm::Rw => bp.wh = true,
            "nolwh" if perm == Perm::Rw => bp.nolwh = true,
            "wh" | "nolwh" => return Err(OptError::BadAttr { path, perm: text }),
            _ => return Err(OptError::UnknownPerm { path, perm: text }),
        }
    }
    Ok(bp)
}

/// Parses one branch entry `path[=perm]`.
///
/// The permission is what follows the last `=`, so a path may itself contain `=` only
/// when a permission is given.
pub fn parse_branch(entry: &str) -> Result<BranchSpec<'_>, OptError<'_>> {
    let (path, perm) = match entry.rsplit_once('=') {
        Some((p, perm)) => (p, Some(perm)),
        None => (entry, None),
    };
    if path.is_empty() {
        return Err(OptError::EmptyPath);
    }
    let perm = match perm {
        Some(text) => Some(parse_perm(path, text)?),
        None => None,
    };
    Ok(BranchSpec { path, perm })
}

/// Iterates over the entries of a branch list (`/a=rw:/b`), top first, checking the
/// list's length.
///
/// A trailing `:` is allowed (aufs accepts it); an empty list is an error.
pub fn branches(list: &str) -> impl Iterator<Item = Result<BranchSpec<'_>, OptError<'_>>> {
    let trimmed = list.strip_suffix(':').unwrap_or(list);
    let count = if trimmed.is_empty() { 0 } else { trimmed.split(':').count() };
    let head = match count {
        0 => Some(Err(OptError::EmptyBranchList)),
        n if n > MAX_BRANCHES => Some(Err(OptError::TooManyBranches(n))),
        _ => None,
    };
    let failed = head.is_some();
    head.into_iter().chain(
        trimmed
            .split(':')
            .filter(move |_| !failed)
            .map(parse_branch),
    )
}
