// SPDX-License-Identifier: GPL-2.0
//! Superblocks: [`NewSuperBlock`] while `fill_super` sets one up, [`SuperBlock`]
//! afterwards. `s_fs_info` is a `KBox<SbInfo>` owned by the superblock from
//! [`NewSuperBlock::set_info`] until `kill_sb` ([`drop_info`]).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)

use super::bindings;
use super::dentry::Dentry;
use super::inode::Inode;
use crate::sbinfo::SbInfo;
use crate::stack::DentryInfo;
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::types::Opaque;

/// A rustaufs superblock after `fill_super`.
///
/// # Invariants
///
/// The superblock is live for the lifetime of the reference and its `s_fs_info` is
/// a `SbInfo` that is not changed while the superblock is in use.
#[repr(transparent)]
pub(crate) struct SuperBlock(Opaque<bindings::super_block>);

impl SuperBlock {
    /// Borrows one of our superblocks.
    ///
    /// # Safety
    ///
    /// `ptr` is a live rustaufs superblock whose `fill_super` succeeded, for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::super_block) -> &'a Self {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::super_block {
        self.0.get()
    }

    /// The union's per-superblock data.
    pub(crate) fn info(&self) -> &SbInfo {
        // SAFETY: by the type invariant `s_fs_info` is a live `SbInfo`.
        unsafe { &*(*self.as_ptr()).s_fs_info.cast::<SbInfo>() }
    }

    /// The root dentry (`s_root`).
    pub(crate) fn root(&self) -> &super::dentry::Dentry {
        // SAFETY: by the type invariant `fill_super` succeeded, so `s_root` is our
        // root dentry, which lives until `kill_sb`.
        unsafe { super::dentry::Dentry::from_raw((*self.as_ptr()).s_root) }
    }

    /// The device number (`s_dev`), which `stat` reports for every union file.
    pub(crate) fn dev(&self) -> u32 {
        // SAFETY: `s_dev` is set before `fill_super` and never changes.
        unsafe { (*self.as_ptr()).s_dev }
    }
}

/// A superblock in `fill_super`.
///
/// # Invariants
///
/// The superblock is new and used by this thread only until `fill_super` returns.
pub(crate) struct NewSuperBlock(*mut bindings::super_block);

impl NewSuperBlock {
    /// Wraps the superblock of a `fill_super` call.
    ///
    /// # Safety
    ///
    /// `ptr` is the new superblock of the current `fill_super` call.
    pub(crate) unsafe fn from_raw(ptr: *mut bindings::super_block) -> Self {
        NewSuperBlock(ptr)
    }

    fn raw(&self) -> &mut bindings::super_block {
        // SAFETY: exclusive to this thread during `fill_super` (type invariant).
        unsafe { &mut *self.0 }
    }

    /// Hands the per-superblock data to the superblock; `kill_sb` frees it, even if
    /// `fill_super` fails later.
    pub(crate) fn set_info(&self, info: KBox<SbInfo>) {
        self.raw().s_fs_info = KBox::into_raw(info).cast();
    }

    /// Sets the fixed parameters: magic, size limit, stacking depth, time
    /// granularity, operations, and read-only when `rdonly`.
    pub(crate) fn set_params(&self, magic: u64, max_bytes: i64, stack_depth: i32, rdonly: bool, revalidate: bool) {
        let sb = self.raw();
        sb.s_magic = magic as _;
        sb.s_maxbytes = max_bytes;
        sb.s_stack_depth = stack_depth;
        sb.s_time_gran = 1;
        sb.s_op = &super::ops::SUPER_OPS.0;
        // CAST: the kernel crate sees `export_operations` as opaque; ours is its
        // full definition from our bindgen run.
        sb.s_export_op = (&super::export::EXPORT_OPS.0 as *const bindings::export_operations).cast();
        sb.s_xattr = super::ops::XATTR_HANDLERS.as_ptr().cast();
        // SAFETY: `s_d_op` is read by `d_alloc` for the superblock's dentries; set
        // before any dentry of this superblock exists.
        unsafe {
            bindings::set_default_d_op(self.0, if revalidate {
                &super::ops::DENTRY_OPS_REVAL.0
            } else {
                &super::ops::DENTRY_OPS.0
            })
        };
        // ACLs are the branches': the union passes them through (`->get_acl`) and
        // leaves applying the umask to the branch that creates an object.
        sb.s_flags |= bindings::RUSTAUFS_SB_POSIXACL as kernel::ffi::c_ulong;
        // sync(2) visits the branches' superblocks itself; only syncfs(2) on the
        // union needs `->sync_fs` to reach the write branch.
        sb.s_iflags |= bindings::RUSTAUFS_SB_I_SKIP_SYNC as kernel::ffi::c_ulong;
        if rdonly {
            sb.s_flags |= bindings::RUSTAUFS_SB_RDONLY as kernel::ffi::c_ulong;
        }
    }

    /// The superblock, for getting the root inode.
    pub(crate) fn sb(&self) -> &SuperBlock {
        // SAFETY: `set_info` was called (callers do it first); the superblock lives
        // for the `fill_super` call.
        unsafe { SuperBlock::from_raw(self.0) }
    }

    /// Makes `inode` the root (`d_make_root`) with `info` as its lower stack.
    pub(crate) fn set_root(&self, inode: ARef<Inode>, info: KBox<DentryInfo>) -> Result {
        let raw = ARef::into_raw(inode);
        // SAFETY: `d_make_root` consumes our inode count (also on failure).
        let root = unsafe { bindings::d_make_root(raw.as_ptr().cast()) };
        if root.is_null() {
            return Err(ENOMEM);
        }
        // SAFETY: the new root is ours and not yet visible.
        unsafe { Dentry::from_raw(root) }.set_info(info);
        self.raw().s_root = root;
        Ok(())
    }
}

/// Frees the `SbInfo` of a dying superblock.
///
/// # Safety
///
/// Called once from `kill_sb` after `kill_anon_super`: no inode, dentry or file of
/// the superblock remains.
pub(crate) unsafe fn drop_info(sb: *mut bindings::super_block) {
    // SAFETY: per the contract.
    unsafe {
        let p = core::mem::replace(&mut (*sb).s_fs_info, core::ptr::null_mut());
        if !p.is_null() {
            drop(KBox::from_raw(p.cast::<SbInfo>()));
        }
    }
}
