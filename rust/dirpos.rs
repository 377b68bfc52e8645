// SPDX-License-Identifier: GPL-2.0
//! Positions (cookies) of entries in a merged directory listing.
//!
//! A position is derived from the entry's name alone, as ext4's hash cookies are,
//! so that a position saved by `telldir` or an NFS client stays meaningful when
//! other names are created or removed in between: a read resumed at a position
//! lists exactly the names whose positions are at or after it. (Positions that
//! were indices into the listing shifted on every change before them.)
//!
//! Layout: the top bits of the 64-bit FNV-1a hash of the name, then
//! [`COLLISION_BITS`] bits that number names whose hash bits are equal (in name
//! order). Positions are never below 16, so 0 (`.`) and 1 (`..`) stay free.
//! A 64-bit caller gets 63-bit positions; a 32-bit one (a compat task, or knfsd
//! for NFSv2) gets 31-bit ones, as ext4 decides. It is pure (`core` only) and
//! shared with the host tests.
#![forbid(unsafe_code)]

/// Bits that number names with equal hash bits. More than 16 names sharing
/// 59 (or 27) hash bits share the last position.
pub const COLLISION_BITS: u32 = 4;

/// FNV-1a, 64-bit: fixed, so positions are the same on every boot.
pub fn fnv1a(name: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The position of the first name with `name`'s hash bits, in positions of
/// 63 bits (`wide`) or 31 bits.
pub fn base(name: &[u8], wide: bool) -> i64 {
    let bits = if wide { 63 } else { 31 } - COLLISION_BITS;
    let key = (fnv1a(name) >> (64 - bits)).max(1);
    (key << COLLISION_BITS) as i64
}

/// The position of the `nth` name (from 0, in name order) with hash bits `base`.
pub fn with_index(base: i64, nth: usize) -> i64 {
    let max = (1usize << COLLISION_BITS) - 1;
    base | nth.min(max) as i64
}
