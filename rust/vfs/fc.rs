// SPDX-License-Identifier: GPL-2.0
//! Filesystem registration and the mount API (`struct fs_context`).
//!
//! C headers: [`include/linux/fs_context.h`](srctree/include/linux/fs_context.h)
//!
//! `init_fs_context` gives each context a boxed [`MountOptions`] in `fs_private`;
//! `parse_monolithic` (mount(2) data) and `parse_param` (fsconfig(2)) fill it;
//! `get_tree` creates the superblock through `get_tree_nodev`; `free` drops the box.

use super::bindings;
use crate::superblock::MountOptions;
use core::cell::UnsafeCell;
use core::fmt;
use kernel::error::{to_result, Error};
use kernel::prelude::*;
use kernel::str::{CStr, CString};

/// A mount or reconfiguration request.
///
/// # Invariants
///
/// `ptr` is a live context whose `fs_private` is a `MountOptions` box, and the VFS
/// serialises calls on one context (`uapi_mutex`), so `&mut self` is exclusive.
pub(crate) struct FsContext {
    ptr: *mut bindings::fs_context,
}

impl FsContext {
    /// Logs an error into the context (`errorfc`): `read(2)` on an fsopen(2) fd
    /// returns it, and mount(2) callers find it in the kernel log.
    pub(crate) fn error(&self, args: fmt::Arguments<'_>) {
        self.log(b'e', args);
    }

    /// Logs a warning into the context (`warnfc`).
    pub(crate) fn warn(&self, args: fmt::Arguments<'_>) {
        self.log(b'w', args);
    }

    fn log(&self, level: u8, args: fmt::Arguments<'_>) {
        let Ok(msg) = CString::try_from_fmt(args) else { return };
        // SAFETY: the context is live (type invariant); the format string takes one
        // NUL-terminated string argument, `msg`, which outlives the call.
        unsafe {
            let log = core::ptr::addr_of_mut!((*self.ptr).log);
            bindings::logfc((*log).log, (*log).prefix, level as _, c"%s".as_ptr().cast(), msg.as_char_ptr());
        }
    }

    /// The options being built.
    pub(crate) fn options(&mut self) -> &mut MountOptions {
        // SAFETY: by the type invariant `fs_private` is a `MountOptions` and we have
        // the context exclusively.
        unsafe { &mut *(*self.ptr).fs_private.cast::<MountOptions>() }
    }

    /// The superblock being reconfigured (remount only).
    pub(crate) fn root_sb(&self) -> Option<&super::sb::SuperBlock> {
        // SAFETY: for a reconfiguration `fc->root` is our live root, pinned by the
        // context, and its superblock is a rustaufs superblock past `fill_super`.
        unsafe {
            let root = (*self.ptr).root;
            (!root.is_null()).then(|| super::sb::SuperBlock::from_raw((*root).d_sb))
        }
    }

    /// Keeps the superblock read-only across this remount.
    pub(crate) fn force_rdonly(&mut self) {
        // SAFETY: the context is ours for the call (type invariant).
        unsafe { (*self.ptr).sb_flags |= bindings::RUSTAUFS_SB_RDONLY as u32 };
    }

    /// The filesystem type (to recognise our own superblocks among branches).
    pub(crate) fn fs_type(&self) -> *const bindings::file_system_type {
        // SAFETY: the context is live.
        unsafe { (*self.ptr).fs_type.cast() }
    }

    /// The mounter's credentials.
    pub(crate) fn cred(&self) -> &kernel::cred::Credential {
        // SAFETY: `fc->cred` lives as long as the context.
        unsafe { kernel::cred::Credential::from_ptr((*self.ptr).cred) }
    }

}

/// Turns a `Result` into the `int` a C callback returns.
pub(crate) fn ret(r: Result) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

unsafe extern "C" fn free(fc: *mut bindings::fs_context) {
    // SAFETY: called once per context by the VFS; `fs_private` is null or ours.
    unsafe {
        let p = core::mem::replace(&mut (*fc).fs_private, core::ptr::null_mut());
        if !p.is_null() {
            drop(KBox::from_raw(p.cast::<MountOptions>()));
        }
    }
}

unsafe extern "C" fn parse_param(fc: *mut bindings::fs_context, param: *mut bindings::fs_parameter) -> i32 {
    // INVARIANT: the VFS calls us with a live context holding our options.
    let mut ctx = FsContext { ptr: fc };
    // SAFETY: `param` is live for the call; `key` is a NUL-terminated string; the
    // value is a NUL-terminated string for `fs_value_is_string` and absent for flags.
    let (key, value) = unsafe {
        let key = CStr::from_char_ptr((*param).key);
        let value = match (*param).type_() {
            bindings::fs_value_type_fs_value_is_string => {
                Some(CStr::from_char_ptr((*param).__bindgen_anon_1.string))
            }
            bindings::fs_value_type_fs_value_is_flag => None,
            _ => {
                ctx.error(format_args!("{}: only string values are supported", key.to_str().unwrap_or("?")));
                return EINVAL.to_errno();
            }
        };
        (key, value)
    };
    let (Ok(key), Ok(value)) = (key.to_str(), value.map(|v| v.to_str()).transpose()) else {
        ctx.error(format_args!("option is not valid UTF-8"));
        return EINVAL.to_errno();
    };
    ret(crate::superblock::parse_param(&mut ctx, key, value))
}

unsafe extern "C" fn parse_monolithic(fc: *mut bindings::fs_context, data: *mut c_void) -> i32 {
    // INVARIANT: as in `parse_param`.
    let ctx = FsContext { ptr: fc };
    if data.is_null() {
        return 0;
    }
    // SAFETY: mount(2) data for a filesystem without FS_BINARY_MOUNTDATA is a
    // NUL-terminated string of at most a page.
    let data = unsafe { CStr::from_char_ptr(data.cast()) };
    let Ok(data) = data.to_str() else {
        ctx.error(format_args!("mount options are not valid UTF-8"));
        return EINVAL.to_errno();
    };
    ret(parse_items(&ctx, data))
}

/// Splits mount(2) data into options and hands each to `vfs_parse_fs_string`, so
/// that the VFS sees superblock flags and `source` and we see the rest through
/// `parse_param`: one path for mount(2) and fsconfig(2). Unlike the generic
/// splitter, `br:/a:/b` is split at the `:`.
fn parse_items(ctx: &FsContext, data: &str) -> Result {
    for item in crate::opts::items(data) {
        let (key, value) = crate::opts::split_key_value(item);
        let key = CString::try_from_fmt(format_args!("{key}"))?;
        let value = value.map(|v| CString::try_from_fmt(format_args!("{v}"))).transpose()?;
        let vptr = value.as_ref().map_or(core::ptr::null(), |v| v.as_char_ptr());
        // SAFETY: the context is live; key and value are NUL-terminated and outlive
        // the call, which copies what it keeps.
        to_result(unsafe { bindings::rustaufs_vfs_parse_fs_string(ctx.ptr, key.as_char_ptr(), vptr) })?;
    }
    Ok(())
}

unsafe extern "C" fn fill_super(sb: *mut bindings::super_block, fc: *mut bindings::fs_context) -> i32 {
    // INVARIANT: `get_tree_nodev` calls us with the context it was given.
    let mut ctx = FsContext { ptr: fc };
    // SAFETY: a new superblock, exclusively ours until we return.
    let sb = unsafe { super::sb::NewSuperBlock::from_raw(sb) };
    ret(crate::superblock::fill_super(&sb, &mut ctx))
}

unsafe extern "C" fn get_tree(fc: *mut bindings::fs_context) -> i32 {
    // SAFETY: `fc` is live; `fill_super` matches what `get_tree_nodev` expects.
    unsafe { bindings::get_tree_nodev(fc, Some(fill_super)) }
}

unsafe extern "C" fn reconfigure(fc: *mut bindings::fs_context) -> i32 {
    // INVARIANT: as in `parse_param`.
    let mut ctx = FsContext { ptr: fc };
    ret(crate::superblock::reconfigure(&mut ctx))
}

static CONTEXT_OPS: bindings::fs_context_operations = bindings::fs_context_operations {
    free: Some(free),
    dup: None,
    parse_param: Some(parse_param),
    parse_monolithic: Some(parse_monolithic),
    get_tree: Some(get_tree),
    reconfigure: Some(reconfigure),
};

unsafe extern "C" fn init_fs_context(fc: *mut kernel::bindings::fs_context) -> i32 {
    let fc = fc.cast::<bindings::fs_context>();
    let Ok(opts) = KBox::new(MountOptions::new(), GFP_KERNEL) else {
        return ENOMEM.to_errno();
    };
    // SAFETY: the VFS gives us a fresh context to set up.
    unsafe {
        (*fc).fs_private = KBox::into_raw(opts).cast();
        (*fc).ops = &CONTEXT_OPS;
    }
    0
}

unsafe extern "C" fn kill_sb(sb: *mut bindings::super_block) {
    // SAFETY: the VFS kills our superblock once, with `s_umount` held and no mount
    // left. With both `s_fs_info` and `s_root` set, `fill_super` succeeded and the
    // superblock still works until `kill_anon_super`; that evicts every inode and
    // dentry, after which nothing uses `s_fs_info`.
    unsafe {
        if !(*sb).s_fs_info.is_null() && !(*sb).s_root.is_null() {
            crate::superblock::shutdown(super::sb::SuperBlock::from_raw(sb));
        }
        bindings::kill_anon_super(sb);
        super::sb::drop_info(sb);
    }
}

/// Our `file_system_type`. It must be static: it embeds the lockdep class keys
/// of our superblocks and inodes (`s_umount_key`, `i_mutex_key`, ...), and lockdep
/// accepts only static keys.
struct FsType(UnsafeCell<bindings::file_system_type>);

// SAFETY: written only by `Registration::new` before `register_filesystem` (one
// registration at a time, from module init), read only by the VFS afterwards.
unsafe impl Sync for FsType {}

static FS_TYPE: FsType = FsType(UnsafeCell::new(bindings::file_system_type {
    name: c"rustaufs".as_ptr().cast(),
    init_fs_context: Some(init_fs_context),
    kill_sb: Some(kill_sb),
    // SAFETY: the other fields are null pointers, zero flags and zero-initialised
    // lock class keys, as in a C `static struct file_system_type`.
    ..unsafe { core::mem::zeroed() }
}));

/// The registration of [`FS_TYPE`]; unregisters on drop.
///
/// # Invariants
///
/// `FS_TYPE` is registered while this value exists.
pub(crate) struct Registration(());

impl Registration {
    /// Registers the filesystem type (`register_filesystem`).
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        let t = FS_TYPE.0.get();
        // SAFETY: not registered yet (module init runs once), so nothing else reads
        // the static; `owner` makes every superblock pin the module.
        unsafe { (*t).owner = module.as_ptr() };
        // SAFETY: `t` is a static, valid for the module's lifetime.
        to_result(unsafe { bindings::register_filesystem(t) })?;
        // INVARIANT: registered.
        Ok(Registration(()))
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant). Module unload happens only with no
        // superblock left: each superblock holds a reference to the module.
        unsafe { bindings::unregister_filesystem(FS_TYPE.0.get()) };
    }
}

/// `ENOPARAM`: "not my parameter", so that the VFS handles it (e.g. `source`).
pub(crate) fn enoparam() -> Error {
    Error::from_errno(-(bindings::RUSTAUFS_ENOPARAM as i32))
}
