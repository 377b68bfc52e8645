// SPDX-License-Identifier: GPL-2.0
//! aufs's on-disk names: whiteouts, the opaque marker and other internal names.
//!
//! This is the only file that knows the `.wh.` spelling (aufs: `fs/aufs/whout.c`).
//! It is pure (`core` only) and shared with the host tests.
//!
//! - `.wh.<name>` in a directory of branch *b* hides `<name>` on the branches below *b*.
//! - `.wh..wh..opq` in a directory of branch *b* makes it opaque: the same directory on
//!   branches below *b* is not merged.
//! - Every name that starts with `.wh.` is internal: never listed, never looked up.
#![forbid(unsafe_code)]

/// The whiteout prefix.
pub const PREFIX: &[u8] = b".wh.";
/// The name of the opaque marker.
pub const OPAQUE: &[u8] = b".wh..wh..opq";
/// The longest name a directory entry may have (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;
/// The longest name that can be created through the union: aufs keeps room for its
/// temporary names (`.wh..wh.<name>.<4 hex>`), so its limit is 242.
pub const MAX_NAME_LEN: usize = NAME_MAX - 2 * PREFIX.len() - 1 - 4;

/// Whether `name` is an aufs-internal name (a whiteout, the opaque marker, the
/// pseudo-link or orphan directories), which the union never shows.
pub fn is_internal(name: &[u8]) -> bool {
    name.starts_with(PREFIX)
}

/// A buffer large enough for any whiteout name.
pub type NameBuf = [u8; NAME_MAX];

/// Writes the whiteout name of `name` into `buf` and returns it; `None` when the
/// result would exceed `NAME_MAX` (such a whiteout cannot exist on any branch).
pub fn whiteout_of<'a>(name: &[u8], buf: &'a mut NameBuf) -> Option<&'a [u8]> {
    let len = PREFIX.len() + name.len();
    if len > NAME_MAX {
        return None;
    }
    buf[..PREFIX.len()].copy_from_slice(PREFIX);
    buf[PREFIX.len()..len].copy_from_slice(name);
    Some(&buf[..len])
}

/// The name a whiteout entry hides: `Some(name)` for `.wh.name`, `None` for other
/// names and for aufs's own `.wh..wh.*` names (which hide nothing).
pub fn hidden_name(entry: &[u8]) -> Option<&[u8]> {
    let rest = entry.strip_prefix(PREFIX)?;
    if rest.starts_with(PREFIX) || rest.is_empty() {
        return None;
    }
    Some(rest)
}
