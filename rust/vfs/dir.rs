// SPDX-License-Identifier: GPL-2.0
//! Directory iteration: reading a branch directory ([`read_lower_dir`]) and
//! emitting entries to the caller of `getdents` ([`Emitter`]).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h) (`struct dir_context`)

use super::bindings;
use super::path::LowerPath;
use core::ptr::NonNull;
use kernel::cred::Credential;
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;

/// A callback collecting one entry: name, branch inode number, `DT_*` type.
/// Returning an error stops the walk and is returned by [`read_lower_dir`].
pub(crate) type Sink<'a> = &'a mut dyn FnMut(&[u8], u64, u32) -> Result;

#[repr(C)]
struct Collector<'a, 'b> {
    // Must stay first: the actor gets a pointer to it and casts back.
    ctx: bindings::dir_context,
    sink: &'a mut Sink<'b>,
    err: Result,
    emitted: usize,
}

unsafe extern "C" fn actor(
    ctx: *mut bindings::dir_context,
    name: *const kernel::ffi::c_char,
    len: i32,
    _offset: i64,
    ino: u64,
    d_type: u32,
) -> bool {
    // SAFETY: `ctx` is the first field of the `Collector` passed to `iterate_dir`
    // (`repr(C)`), and we are called synchronously within that call.
    let c = unsafe { &mut *ctx.cast::<Collector<'_, '_>>() };
    // SAFETY: the filesystem passes `len` valid bytes at `name` for this call.
    let name = unsafe { core::slice::from_raw_parts(name.cast::<u8>(), len as usize) };
    c.emitted += 1;
    match (c.sink)(name, ino, d_type) {
        Ok(()) => true,
        Err(e) => {
            c.err = Err(e);
            false
        }
    }
}

/// Reads every entry of a branch directory into `sink` (`dentry_open` +
/// `iterate_dir`, repeated until the directory is exhausted).
pub(crate) fn read_lower_dir(path: &LowerPath<'_>, cred: &Credential, mut sink: Sink<'_>) -> Result {
    let raw = path.raw();
    let flags = bindings::O_RDONLY | bindings::O_DIRECTORY | bindings::O_LARGEFILE;
    // SAFETY: `raw` borrows counted objects; `cred` is live; the result is a new
    // counted file that we release below.
    let f = unsafe { bindings::dentry_open(&raw, flags as i32, cred.as_ptr()) };
    let f = NonNull::new(from_err_ptr(f)?).ok_or(EIO)?;
    let mut c = Collector {
        ctx: bindings::dir_context { actor: Some(actor), pos: 0, count: i32::MAX, dt_flags_mask: 0 },
        sink: &mut sink,
        err: Ok(()),
        emitted: 0,
    };
    let ret = loop {
        c.emitted = 0;
        // SAFETY: `f` is our open directory; `c.ctx` is first in the `repr(C)`
        // collector the actor expects.
        let r = unsafe { bindings::iterate_dir(f.as_ptr(), &mut c.ctx) };
        if r < 0 {
            break to_result(r);
        }
        if c.err.is_err() || c.emitted == 0 {
            break core::mem::replace(&mut c.err, Ok(()));
        }
    };
    // SAFETY: we own the file reference from `dentry_open`.
    unsafe { bindings::fput(f.as_ptr()) };
    ret
}

/// The `dir_context` of a `getdents` call on one of our directories.
pub(crate) struct Emitter<'a>(&'a mut bindings::dir_context);

impl<'a> Emitter<'a> {
    /// Wraps the context of an `->iterate_shared` call.
    ///
    /// # Safety
    ///
    /// `ctx` is the live context of the current `->iterate_shared` call.
    pub(crate) unsafe fn from_raw(ctx: *mut bindings::dir_context) -> Self {
        // SAFETY: per the contract.
        Emitter(unsafe { &mut *ctx })
    }

    /// The position to continue from.
    pub(crate) fn pos(&self) -> i64 {
        self.0.pos
    }

    /// Sets the position (done after each entry is accepted).
    pub(crate) fn set_pos(&mut self, pos: i64) {
        self.0.pos = pos;
    }

    /// Emits an entry at the current position; `false` when the caller's buffer is
    /// full (the entry was not taken and must be emitted again next time).
    pub(crate) fn emit(&mut self, name: &[u8], ino: u64, d_type: u32) -> bool {
        let Some(actor) = self.0.actor else { return false };
        let pos = self.0.pos;
        // SAFETY: `actor` is the VFS's filldir for this context; `name` is valid for
        // its length during the call.
        unsafe { actor(self.0, name.as_ptr().cast(), name.len() as i32, pos, ino, d_type) }
    }
}
