// SPDX-License-Identifier: GPL-2.0
//! Dentries: rustaufs's own ([`Dentry`]) and those of branches ([`LowerDentry`]).
//!
//! C header: [`include/linux/dcache.h`](srctree/include/linux/dcache.h)

use super::bindings;
use super::inode::{Inode, LowerInode};
use crate::stack::DentryInfo;
use core::ptr::NonNull;
use kernel::error::from_err_ptr;
use kernel::prelude::*;
use kernel::sync::aref::{ARef, AlwaysRefCounted};
use kernel::types::Opaque;

/// A dentry of a branch filesystem.
///
/// A `&LowerDentry` is a borrowed reference; `ARef<LowerDentry>` owns one count
/// (`dget`/`dput`).
///
/// # Invariants
///
/// The inner `struct dentry` is valid and its refcount is positive for as long as the
/// reference exists.
#[repr(transparent)]
pub(crate) struct LowerDentry(Opaque<bindings::dentry>);

// SAFETY: dentries are reference counted and their fields are protected by the
// dcache's own locks; any thread may use one and drop its count.
unsafe impl Send for LowerDentry {}
// SAFETY: as for `Send`: every method is safe to call concurrently.
unsafe impl Sync for LowerDentry {}

// SAFETY: `dget`/`dput` maintain the count; `dput` frees the dentry at zero.
unsafe impl AlwaysRefCounted for LowerDentry {
    fn inc_ref(&self) {
        // SAFETY: by the type invariant the dentry is valid with a positive count.
        unsafe { bindings::rustaufs_dget(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a count, which `dput` releases.
        unsafe { bindings::dput(obj.cast().as_ptr()) };
    }
}

impl LowerDentry {
    /// Borrows a C dentry.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid dentry whose refcount stays positive for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::dentry) -> &'a Self {
        // SAFETY: `LowerDentry` is a transparent wrapper of `struct dentry`.
        unsafe { &*ptr.cast() }
    }

    /// Adopts a count that C code took (a result of `dget`, `lookup_*`, ...).
    ///
    /// # Safety
    ///
    /// `ptr` is a valid dentry and the caller owns one count on it.
    pub(crate) unsafe fn adopt(ptr: NonNull<bindings::dentry>) -> ARef<Self> {
        // SAFETY: per the contract the count is owned and now handed to `ARef`.
        unsafe { ARef::from_raw(ptr.cast()) }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::dentry {
        self.0.get()
    }

    /// Whether the dentry is negative (no inode).
    pub(crate) fn is_negative(&self) -> bool {
        // SAFETY: the dentry is valid (type invariant).
        unsafe { bindings::rustaufs_d_is_negative(self.as_ptr()) }
    }

    /// Whether the dentry is a directory (or an automount point on one).
    pub(crate) fn is_dir(&self) -> bool {
        // SAFETY: the dentry is valid (type invariant).
        unsafe { bindings::rustaufs_d_is_dir(self.as_ptr()) }
    }

    /// Whether the dentry has been unhashed (deleted or renamed away on its branch).
    pub(crate) fn is_unhashed(&self) -> bool {
        // SAFETY: the dentry is valid (type invariant).
        unsafe { bindings::rustaufs_d_unhashed(self.as_ptr()) }
    }

    /// The inode of a positive dentry.
    ///
    /// A positive dentry that we hold a count on stays positive: `d_delete` turns a
    /// dentry negative only when its count is one, and unhashes it otherwise.
    pub(crate) fn inode(&self) -> Option<&LowerInode> {
        // SAFETY: the dentry is valid (type invariant).
        let ptr = unsafe { bindings::rustaufs_d_inode(self.as_ptr()) };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: the inode of a positive dentry is pinned by the dentry, which is
        // pinned by our count for the lifetime of `&self` (see above).
        Some(unsafe { LowerInode::from_raw(ptr) })
    }

    /// Looks up `name` in this directory without a permission check. Calls
    /// `lookup_noperm_unlocked`, which takes the directory's lock itself when the
    /// name is not cached.
    ///
    /// The caller has checked permission on the union directory. The result may be
    /// negative.
    pub(crate) fn lookup(&self, name: &[u8]) -> Result<ARef<LowerDentry>> {
        let len = u32::try_from(name.len()).map_err(|_| ENAMETOOLONG)?;
        // SAFETY: `self` is a valid dentry; `name` is valid for `len` bytes and the
        // callee copies what it keeps.
        let ptr = unsafe {
            bindings::rustaufs_lookup_noperm_unlocked(name.as_ptr().cast(), len, self.as_ptr())
        };
        let ptr = from_err_ptr(ptr)?;
        let ptr = NonNull::new(ptr).ok_or(EIO)?;
        // SAFETY: `lookup_noperm_unlocked` returns a counted reference we now own.
        Ok(unsafe { Self::adopt(ptr) })
    }

    /// The target of this symbolic link, NUL-terminated (`vfs_get_link`).
    pub(crate) fn link_target(&self) -> Result<kernel::str::CString> {
        let mut done = bindings::delayed_call::default();
        // SAFETY: a counted dentry; `done` receives the release callback.
        let p = unsafe { bindings::vfs_get_link(self.as_ptr(), &mut done) };
        let p = from_err_ptr(p.cast_mut())?;
        // SAFETY: on success `p` is a NUL-terminated string valid until
        // `do_delayed_call(&done)`, which runs after the copy.
        let r = unsafe { kernel::str::CStr::from_char_ptr(p) }.to_cstring();
        // SAFETY: releases what `vfs_get_link` set up.
        unsafe { bindings::rustaufs_do_delayed_call(&mut done) };
        Ok(r?)
    }

    /// Whether `self` is `other` or lies below it (`is_subdir`).
    pub(crate) fn is_subdir_of(&self, other: &LowerDentry) -> bool {
        // SAFETY: both dentries are valid (type invariant).
        unsafe { bindings::is_subdir(self.as_ptr(), other.as_ptr()) }
    }
}

/// A dentry of a rustaufs superblock.
///
/// Its `d_fsdata` is a `KBox<DentryInfo>` owned by the dentry: set once by
/// [`Dentry::set_info`] before the dentry becomes visible, freed by `d_release`.
///
/// # Invariants
///
/// The inner dentry is valid for the lifetime of the reference and belongs to a
/// rustaufs superblock.
#[repr(transparent)]
pub(crate) struct Dentry(Opaque<bindings::dentry>);

// SAFETY: as for `LowerDentry`.
unsafe impl Send for Dentry {}
// SAFETY: as for `LowerDentry`; `d_fsdata` is only mutated through `SetOnce`.
unsafe impl Sync for Dentry {}

// SAFETY: `dget`/`dput` maintain the count.
unsafe impl AlwaysRefCounted for Dentry {
    fn inc_ref(&self) {
        // SAFETY: valid with a positive count (type invariant).
        unsafe { bindings::rustaufs_dget(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a count.
        unsafe { bindings::dput(obj.cast().as_ptr()) };
    }
}

/// Copies the name of `d` (`take_dentry_name_snapshot`, so that a concurrent
/// rename cannot tear it).
///
/// The snapshot never leaves this frame: for a short name, the snapshot's
/// pointer points into the snapshot itself, so moving one would leave it
/// pointing at the old place (and its release would then take that place for
/// an external name's count).
///
/// # Safety
///
/// `d` is a valid dentry.
pub(super) unsafe fn name_copy_of(d: *mut bindings::dentry) -> Result<KVec<u8>> {
    let mut s = core::mem::MaybeUninit::<bindings::name_snapshot>::uninit();
    let s = s.as_mut_ptr();
    // SAFETY: `d` is valid (contract); the helper initialises `*s`, and `*s`
    // stays in place until it is released below.
    unsafe {
        bindings::take_dentry_name_snapshot(s, d);
        let len = (*s).name.__bindgen_anon_1.__bindgen_anon_1.len as usize;
        let name = core::slice::from_raw_parts((*s).name.name, len);
        let out = KVec::with_capacity(len, GFP_KERNEL).map(|mut v| {
            // Cannot fail: the capacity is there.
            let _ = v.extend_from_slice(name, GFP_KERNEL);
            v
        });
        bindings::release_dentry_name_snapshot(s);
        Ok(out?)
    }
}

impl Dentry {
    /// A counted reference to the parent (`dget_parent`); the root's parent is
    /// itself.
    pub(crate) fn parent_ref(&self) -> ARef<Dentry> {
        // SAFETY: the dentry is valid; `dget_parent` returns a counted dentry of
        // the same (our) superblock.
        unsafe { ARef::from_raw(NonNull::new_unchecked(bindings::dget_parent(self.as_ptr()).cast())) }
    }

    /// Looks up `name` in this directory of ours as a path walk would
    /// (`lookup_noperm_unlocked`: a cached child is revalidated, else our
    /// `->lookup` runs with this directory locked shared). For walks the union
    /// makes of itself (turning pseudo-links into hard links); the result may be
    /// negative.
    pub(crate) fn lookup_child(&self, name: &[u8]) -> Result<ARef<Dentry>> {
        let len = u32::try_from(name.len()).map_err(|_| ENAMETOOLONG)?;
        // SAFETY: `self` is a valid directory dentry of ours; `name` is valid for
        // `len` bytes and the callee copies what it keeps.
        let ptr = unsafe {
            bindings::rustaufs_lookup_noperm_unlocked(name.as_ptr().cast(), len, self.as_ptr())
        };
        let ptr = NonNull::new(from_err_ptr(ptr)?).ok_or(EIO)?;
        // SAFETY: a counted reference we now own, to a dentry of our superblock
        // (a child of `self`).
        Ok(unsafe { ARef::from_raw(ptr.cast()) })
    }

    /// Whether the dentry was unhashed (removed, or dropped from the cache).
    pub(crate) fn is_unhashed(&self) -> bool {
        // SAFETY: a valid dentry; `d_unhashed` reads its hash link as the VFS does.
        unsafe { bindings::rustaufs_d_unhashed(self.as_ptr()) }
    }

    /// Whether this is the root of our superblock.
    pub(crate) fn is_root(&self) -> bool {
        // SAFETY: `d_parent` of a valid dentry is read as `IS_ROOT` does.
        unsafe { core::ptr::eq((*self.as_ptr()).d_parent, self.as_ptr()) }
    }

    /// A copy of the name, taken so that a concurrent rename cannot tear it.
    pub(crate) fn name_copy(&self) -> Result<KVec<u8>> {
        // SAFETY: the dentry is valid.
        unsafe { name_copy_of(self.as_ptr()) }
    }

    /// The superblock.
    pub(crate) fn sb(&self) -> &super::sb::SuperBlock {
        // SAFETY: a dentry's superblock outlives it.
        unsafe { super::sb::SuperBlock::from_raw((*self.as_ptr()).d_sb) }
    }

    /// Attaches `inode` to this negative dentry (`d_instantiate`), handing over our
    /// count on the inode.
    pub(crate) fn instantiate(&self, inode: ARef<Inode>) {
        let raw = ARef::into_raw(inode);
        // SAFETY: called from a creating operation with the parent locked, on the
        // negative dentry the VFS passed; `d_instantiate` takes our count.
        unsafe { bindings::d_instantiate(self.as_ptr(), raw.as_ptr().cast()) };
    }

    /// Attaches the inode of an unnamed file to the dentry of `file`, which
    /// `->tmpfile` is opening (`d_mark_tmpfile`, `d_instantiate`); the inode's link
    /// count is its upper object's, 0.
    pub(crate) fn instantiate_tmpfile(&self, file: &super::file::File, inode: ARef<Inode>) {
        let raw = ARef::into_raw(inode);
        // SAFETY: `->tmpfile`: `self` is `file`'s new, unhashed, inode-less dentry,
        // as `d_mark_tmpfile` requires; `d_instantiate` takes our count.
        unsafe {
            bindings::d_mark_tmpfile(file.as_ptr(), raw.as_ptr().cast());
            bindings::d_instantiate(self.as_ptr(), raw.as_ptr().cast());
        }
    }

    /// Unhashes the dentry (`d_drop`), so that no lookup finds it again.
    pub(crate) fn drop_from_cache(&self) {
        // SAFETY: the dentry is valid; `d_drop` takes the locks it needs.
        unsafe { bindings::d_drop(self.as_ptr()) };
    }

    /// Checks a `setattr` request against our inode with the caller's credentials
    /// (`setattr_prepare`).
    pub(crate) fn setattr_prepare(&self, attr: &mut super::attr::Iattr) -> Result {
        // SAFETY: the dentry is positive (called from `->setattr`); `attr` is the
        // call's. Our superblock has no idmapped mounts of its own: `nop_mnt_idmap`.
        kernel::error::to_result(unsafe {
            bindings::setattr_prepare(
                core::ptr::addr_of_mut!(bindings::nop_mnt_idmap),
                self.as_ptr(),
                attr.as_mut_ptr(),
            )
        })
    }

    /// Borrows one of our dentries.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid dentry of a rustaufs superblock, valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::dentry) -> &'a Self {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::dentry {
        self.0.get()
    }

    /// The lower stack of this dentry, if lookup has set it.
    pub(crate) fn info(&self) -> Option<&DentryInfo> {
        // SAFETY: the dentry is valid; `d_fsdata` is null or a `DentryInfo` that lives
        // until `d_release`, which cannot run while we borrow the dentry.
        let p = unsafe { (*self.as_ptr()).d_fsdata };
        // SAFETY: see above; it is never mutated after `set_info`.
        (!p.is_null()).then(|| unsafe { &*p.cast::<DentryInfo>() })
    }

    /// Attaches the lower stack. Done once, before the dentry is spliced in.
    pub(crate) fn set_info(&self, info: KBox<DentryInfo>) {
        let raw = KBox::into_raw(info);
        // SAFETY: the dentry is not yet visible to other lookups (it is the new
        // dentry of a `->lookup` call, or the new root), so nothing reads `d_fsdata`
        // concurrently. A previous value is freed to keep ownership exact.
        unsafe {
            let old = core::mem::replace(&mut (*self.as_ptr()).d_fsdata, raw.cast());
            if !old.is_null() {
                drop(KBox::from_raw(old.cast::<DentryInfo>()));
            }
        }
    }

    /// Our inode of a positive dentry.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: the dentry is valid; a positive dentry of ours pins its inode for
        // as long as we borrow the dentry (see `LowerDentry::inode`).
        unsafe {
            let p = bindings::rustaufs_d_inode(self.as_ptr());
            (!p.is_null()).then(|| Inode::from_raw(p))
        }
    }

    /// The inode number of the parent directory (`d_parent_ino`), for `..`.
    pub(crate) fn parent_ino(&self) -> u64 {
        // SAFETY: the dentry is valid; `d_parent_ino` reads `d_parent` safely itself.
        unsafe { bindings::d_parent_ino(self.as_ptr()) as u64 }
    }

    /// The parent dentry.
    ///
    /// # Safety
    ///
    /// The caller keeps `d_parent` stable for `'a` (holds the parent's lock, as in
    /// `->lookup`).
    pub(crate) unsafe fn parent<'a>(&self) -> &'a Dentry {
        // SAFETY: per the contract the parent is pinned and stable.
        unsafe { Dentry::from_raw((*self.as_ptr()).d_parent) }
    }

    /// The name of the dentry.
    ///
    /// # Safety
    ///
    /// The caller keeps the name stable for `'a`: it holds the parent directory's
    /// lock (as in `->lookup`) or the dentry cannot be renamed.
    pub(crate) unsafe fn name<'a>(&self) -> &'a [u8] {
        let mut len = 0u32;
        // SAFETY: the dentry is valid; per the contract `d_name` does not change, so
        // the returned bytes stay valid for `'a`.
        unsafe {
            let name = bindings::rustaufs_d_name(self.as_ptr(), &mut len);
            core::slice::from_raw_parts(name, len as usize)
        }
    }
}

/// Frees a dentry's `DentryInfo` (`d_release`).
///
/// # Safety
///
/// Called once by the dcache when the dentry dies; nothing uses `d_fsdata` after.
pub(crate) unsafe fn release_info(dentry: *mut bindings::dentry) {
    // SAFETY: per the contract we own `d_fsdata` now.
    unsafe {
        let p = core::mem::replace(&mut (*dentry).d_fsdata, core::ptr::null_mut());
        if !p.is_null() {
            drop(KBox::from_raw(p.cast::<DentryInfo>()));
        }
    }
}
