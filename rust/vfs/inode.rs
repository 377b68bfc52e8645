// SPDX-License-Identifier: GPL-2.0
//! Inodes: rustaufs's own ([`Inode`], allocated by us with its [`InodeInfo`] beside
//! the VFS inode) and those of branches ([`LowerInode`]).
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)
//!
//! Lifecycle of our inodes: `alloc_inode` allocates a [`Container`] with no info;
//! [`get_or_create`] finds a cached inode or returns a [`NewInode`] (locked, `I_NEW`)
//! that [`NewInode::init`] fills and unlocks, or whose `Drop` calls `iget_failed`;
//! `evict_inode` drops the info (and with it the counts on lower objects); the RCU
//! callback `free_inode` frees the memory.

use super::bindings;
use super::sb::SuperBlock;
use crate::inode::InodeInfo;
use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};
use kernel::prelude::*;
use kernel::sync::aref::{ARef, AlwaysRefCounted};
use kernel::types::Opaque;

/// An inode of a branch filesystem.
///
/// # Invariants
///
/// The inner inode is valid and has a positive refcount while the reference exists.
#[repr(transparent)]
pub(crate) struct LowerInode(Opaque<bindings::inode>);

// SAFETY: inodes are reference counted and internally locked.
unsafe impl Send for LowerInode {}
// SAFETY: as for `Send`.
unsafe impl Sync for LowerInode {}

// SAFETY: `ihold`/`iput` maintain the count; `iput` frees at zero.
unsafe impl AlwaysRefCounted for LowerInode {
    fn inc_ref(&self) {
        // SAFETY: valid with a positive count (type invariant).
        unsafe { bindings::ihold(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a count.
        unsafe { bindings::iput(obj.cast().as_ptr()) };
    }
}

/// Identifies a superblock (for "same filesystem" tests); never dereferenced.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SbId(usize);

impl SbId {
    pub(crate) const fn new(addr: usize) -> SbId {
        SbId(addr)
    }
}

impl LowerInode {
    /// Borrows a C inode.
    ///
    /// # Safety
    ///
    /// `ptr` is a valid inode with a positive refcount for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    fn raw(&self) -> &bindings::inode {
        // SAFETY: valid (type invariant). Fields read through this are either
        // immutable for the inode's life (`i_ino`, `i_sb`, the file type bits of
        // `i_mode`, `i_rdev`) or read racily as the VFS itself does.
        unsafe { &*self.as_ptr() }
    }

    /// The inode number on its branch.
    pub(crate) fn ino(&self) -> u64 {
        self.raw().i_ino as u64
    }

    /// The mode (type and permission bits).
    pub(crate) fn mode(&self) -> u32 {
        u32::from(self.raw().i_mode)
    }

    /// Whether this is a directory.
    pub(crate) fn is_dir(&self) -> bool {
        self.mode() & bindings::S_IFMT == bindings::S_IFDIR
    }


    /// The link count (read racily, as the VFS does; exact under the locks of a
    /// change that just completed).
    pub(crate) fn nlink(&self) -> u32 {
        // SAFETY: `__i_nlink` of a valid inode, read as `i_nlink` is.
        unsafe { self.raw().__bindgen_anon_1.i_nlink }
    }

    /// The device number of a special file.
    pub(crate) fn rdev(&self) -> u32 {
        self.raw().i_rdev
    }

    /// A key identifying this inode for as long as a count on it is held.
    pub(crate) fn key(&self) -> usize {
        self.as_ptr() as usize
    }

    /// Checks access with the caller's credentials (`inode_permission`), through the
    /// branch mount's idmap.
    pub(crate) fn permission(&self, idmap: super::Idmap, mask: u32) -> Result {
        // SAFETY: the inode is valid; `idmap` comes from a live branch mount.
        kernel::error::to_result(unsafe {
            bindings::inode_permission(idmap.0, self.as_ptr(), mask as i32)
        })
    }
}

/// Which operation tables an inode of ours gets.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    /// A (possibly merged) directory.
    Dir,
    /// A regular file.
    Reg,
    /// A symbolic link.
    Symlink,
    /// A device, FIFO or socket, with its mode and device number.
    Special(u32, u32),
}

/// Our inode with its data: the object `alloc_inode` returns.
///
/// # Invariants
///
/// `info` is `None` until [`NewInode::init`] and after `evict_inode`, and `Some` in
/// between; it is written only while the inode is `I_NEW` or being evicted, when no
/// other thread can reach it. `key` is written by `iget5_locked`'s `set` callback
/// before the inode is hashed and never changes afterwards.
#[repr(C)]
pub(crate) struct Container {
    key: AtomicUsize,
    info: UnsafeCell<Option<InodeInfo>>,
    vfs: bindings::inode,
}

/// An inode of a rustaufs superblock.
///
/// # Invariants
///
/// The inner inode is the `vfs` field of a [`Container`] and is valid with a
/// positive refcount while the reference exists.
#[repr(transparent)]
pub(crate) struct Inode(Opaque<bindings::inode>);

// SAFETY: refcounted; the info is immutable while shared (see `Container`).
unsafe impl Send for Inode {}
// SAFETY: as for `Send`.
unsafe impl Sync for Inode {}

// SAFETY: `ihold`/`iput` maintain the count.
unsafe impl AlwaysRefCounted for Inode {
    fn inc_ref(&self) {
        // SAFETY: valid with a positive count (type invariant).
        unsafe { bindings::ihold(self.as_ptr()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a count.
        unsafe { bindings::iput(obj.cast().as_ptr()) };
    }
}

fn container_of(inode: *mut bindings::inode) -> *mut Container {
    let offset = core::mem::offset_of!(Container, vfs);
    inode.cast::<u8>().wrapping_sub(offset).cast()
}

impl Inode {
    /// Borrows one of our inodes.
    ///
    /// # Safety
    ///
    /// `ptr` is an inode of a rustaufs superblock, valid for `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> &'a Self {
        // SAFETY: transparent wrapper.
        unsafe { &*ptr.cast() }
    }

    /// The raw pointer.
    pub(crate) fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The union's data of this inode. `EIO` (with a warning) for an inode that has
    /// none, which cannot happen to an inode reachable through a counted reference.
    pub(crate) fn info(&self) -> Result<&InodeInfo> {
        // SAFETY: by the type invariant the inode sits in a `Container`; by the
        // container's invariant `info` is not written while we hold a reference.
        let info = unsafe { (*(*container_of(self.as_ptr())).info.get()).as_ref() };
        info.ok_or_else(|| {
            pr_warn!("inode without union data\n");
            EIO
        })
    }

    /// Our inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: `i_ino` is set before the inode is unlocked and never changes.
        unsafe { (*self.as_ptr()).i_ino as u64 }
    }

    /// The superblock.
    pub(crate) fn sb(&self) -> &SuperBlock {
        // SAFETY: `i_sb` of a live inode is a live rustaufs superblock.
        unsafe { SuperBlock::from_raw((*self.as_ptr()).i_sb) }
    }

    fn mode(&self) -> u32 {
        // SAFETY: `i_mode` of a live inode, read racily as the VFS does.
        u32::from(unsafe { (*self.as_ptr()).i_mode })
    }

    /// Whether this is a directory.
    pub(crate) fn is_dir(&self) -> bool {
        self.mode() & bindings::S_IFMT == bindings::S_IFDIR
    }

    /// Whether this is a device, FIFO or socket (their data is not the branch's).
    pub(crate) fn is_special(&self) -> bool {
        !matches!(self.mode() & bindings::S_IFMT, bindings::S_IFDIR | bindings::S_IFREG | bindings::S_IFLNK)
    }

    /// Checks the caller's access against this inode's own attributes
    /// (`generic_permission`).
    pub(crate) fn generic_permission(&self, mask: u32) -> Result {
        // SAFETY: a live inode; our superblock has no idmap of its own.
        kernel::error::to_result(unsafe {
            bindings::generic_permission(core::ptr::addr_of_mut!(bindings::nop_mnt_idmap), self.as_ptr(), mask as i32)
        })
    }

    /// Sets the link count to 0 (a removed directory).
    pub(crate) fn clear_nlink(&self) {
        // SAFETY: a live inode; the VFS holds its lock in the removing operation.
        unsafe { bindings::clear_nlink(self.as_ptr()) };
    }

    /// Sets the link count (`set_nlink`): what a pseudo-linked file shows.
    pub(crate) fn set_nlink(&self, n: u32) {
        // SAFETY: a live inode; `set_nlink` keeps the superblock's orphan count
        // consistent itself.
        unsafe { bindings::set_nlink(self.as_ptr(), n) };
    }

    /// Drops one link (a removed name of a file whose data is on a lower branch).
    pub(crate) fn drop_nlink(&self) {
        // SAFETY: as for `clear_nlink`; never below zero.
        unsafe {
            if (*self.as_ptr()).__bindgen_anon_1.i_nlink > 0 {
                bindings::drop_nlink(self.as_ptr());
            }
        }
    }

    /// The owner a new object in this directory gets when the caller is `caller`:
    /// the caller's ids, with the directory's group if it is set-group-id.
    pub(crate) fn owner_for_child(&self, caller: super::cred::Owner) -> super::cred::Owner {
        if self.mode() & bindings::RUSTAUFS_S_ISGID != 0 {
            // SAFETY: `i_gid` of a live inode, read as the VFS does.
            return super::cred::Owner { uid: caller.uid, gid: unsafe { (*self.as_ptr()).i_gid } };
        }
        caller
    }

    /// The mode of a new directory in this one (type bits included): set-group-id
    /// is inherited.
    pub(crate) fn mode_for_child_dir(&self, mode: u32) -> u32 {
        bindings::S_IFDIR | (mode & 0o7777) | (self.mode() & bindings::RUSTAUFS_S_ISGID)
    }

    /// Re-keys the inode in the inode hash after copy-up, so that later lookups of
    /// its new data object find it (`remove_inode_hash` + `__insert_inode_hash`).
    pub(crate) fn rehash(&self, key: usize) {
        let c = container_of(self.as_ptr());
        // SAFETY: a live inode of ours in a `Container`. While it is unhashed no
        // `iget5_locked` can see it, so changing the key races with nothing; the
        // hash helpers take `inode_hash_lock` themselves.
        unsafe {
            bindings::rustaufs_remove_inode_hash(self.as_ptr());
            (*c).key.store(key, Ordering::Relaxed);
            bindings::__insert_inode_hash(self.as_ptr(), hash_of(key) as _);
        }
    }

    /// Copies attributes from a lower inode (`fsstack_copy_attr_all` and the size).
    pub(crate) fn copy_attr(&self, lower: &LowerInode) {
        // SAFETY: both inodes are valid; the helpers copy fields as the VFS's own
        // stacking helpers do for ecryptfs and overlayfs.
        unsafe {
            bindings::fsstack_copy_attr_all(self.as_ptr(), lower.as_ptr());
            bindings::fsstack_copy_inode_size(self.as_ptr(), lower.as_ptr());
        }
    }

}

/// One of our inodes locked exclusively (`inode_lock`), as the VFS locks it for
/// writes.
///
/// # Invariants
///
/// We hold the inode's `i_rwsem` for writing; `Drop` releases it.
pub(crate) struct InodeGuard<'a>(&'a Inode);

impl Inode {
    /// Locks the inode (`inode_lock`).
    pub(crate) fn lock(&self) -> InodeGuard<'_> {
        // SAFETY: a live inode.
        unsafe { bindings::rustaufs_inode_lock(self.as_ptr()) };
        InodeGuard(self)
    }
}

impl Drop for InodeGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the type invariant.
        unsafe { bindings::rustaufs_inode_unlock(self.0.as_ptr()) };
    }
}

/// A freshly allocated, locked (`I_NEW`) inode from [`get_or_create`].
///
/// # Invariants
///
/// `inode` is `I_NEW`, so no other thread uses it until `unlock_new_inode`.
pub(crate) struct NewInode(NonNull<bindings::inode>);

/// The result of [`get_or_create`].
pub(crate) enum Lookup {
    /// The inode was in the cache.
    Cached(ARef<Inode>),
    /// A new inode to fill.
    New(NewInode),
}

unsafe extern "C" fn test_key(inode: *mut bindings::inode, data: *mut c_void) -> i32 {
    // SAFETY: called by `iget5_locked` on inodes of our superblock, all of which
    // live in a `Container`.
    let key = unsafe { (*container_of(inode)).key.load(Ordering::Relaxed) };
    (key == data as usize) as i32
}

unsafe extern "C" fn set_key(inode: *mut bindings::inode, data: *mut c_void) -> i32 {
    // SAFETY: as in `test_key`; the inode is new and not yet hashed.
    unsafe { (*container_of(inode)).key.store(data as usize, Ordering::Relaxed) };
    0
}

fn hash_of(key: usize) -> core::ffi::c_ulong {
    // NO-OVERFLOW: a hash may wrap; `iget5_locked` takes an `unsigned long`.
    (key >> 4) as core::ffi::c_ulong
}

/// Finds our inode for `key` (a [`LowerInode::key`]) or allocates a new one
/// (`iget5_locked`).
pub(crate) fn get_or_create(sb: &SuperBlock, key: usize) -> Result<Lookup> {
    let hash = hash_of(key);
    // SAFETY: `sb` is a live rustaufs superblock; the callbacks match the
    // `Container` layout of its inodes; `key` is passed as an opaque value.
    let ptr = unsafe {
        bindings::iget5_locked(sb.as_ptr(), hash, Some(test_key), Some(set_key), key as *mut c_void)
    };
    let ptr = NonNull::new(ptr).ok_or(ENOMEM)?;
    // SAFETY: `iget5_locked` returned a valid inode with a count we own.
    let is_new = unsafe { bindings::rustaufs_inode_is_new(ptr.as_ptr()) };
    if is_new {
        // INVARIANT: the inode is `I_NEW`.
        Ok(Lookup::New(NewInode(ptr)))
    } else {
        // SAFETY: we own the count `iget5_locked` took.
        Ok(Lookup::Cached(unsafe { ARef::from_raw(ptr.cast()) }))
    }
}

/// What [`NewInode::init`] sets besides the info.
pub(crate) struct Params {
    /// Inode number.
    pub(crate) ino: u64,
    /// Operation tables to use.
    pub(crate) kind: Kind,
}

impl NewInode {
    /// Fills the new inode and makes it visible (`unlock_new_inode`).
    ///
    /// Attributes are copied from `lower`; ops are chosen by `params.kind`.
    pub(crate) fn init(self, info: InodeInfo, lower: &LowerInode, params: Params) -> ARef<Inode> {
        let ptr = self.0.as_ptr();
        core::mem::forget(self);
        // SAFETY: the inode is `I_NEW` (type invariant) so we have it exclusively;
        // it lives in a `Container`.
        unsafe {
            *(*container_of(ptr)).info.get() = Some(info);
            (*ptr).i_ino = params.ino as _;
            let inode = Inode::from_raw(ptr);
            inode.copy_attr(lower);
            bindings::rustaufs_acl_dont_cache(ptr);
            super::ops::set_ops(ptr, params.kind);
            bindings::unlock_new_inode(ptr);
            ARef::from_raw(NonNull::new_unchecked(ptr.cast()))
        }
    }
}

impl Drop for NewInode {
    fn drop(&mut self) {
        // SAFETY: an `I_NEW` inode that was not initialised: `iget_failed` unhashes
        // it, unlocks it and drops our count.
        unsafe { bindings::iget_failed(self.0.as_ptr()) };
    }
}

/// A fresh inode number from the VFS's shared counter (`get_next_ino`).
pub(crate) fn next_ino() -> u64 {
    // SAFETY: `get_next_ino` has no preconditions.
    u64::from(unsafe { bindings::get_next_ino() })
}

/// `alloc_inode`: allocates a [`Container`] and returns its VFS inode.
pub(crate) fn alloc() -> *mut bindings::inode {
    let Ok(mut b) = KBox::<Container>::new_uninit(GFP_KERNEL) else {
        return core::ptr::null_mut();
    };
    let p = b.as_mut_ptr();
    // SAFETY: `p` points to writable, uninitialised memory for a `Container`. The
    // VFS inode is zeroed and then prepared with `inode_init_once`, as a slab
    // constructor would; `inode_init_always` runs after we return.
    unsafe {
        core::ptr::write_bytes(p, 0, 1);
        core::ptr::addr_of_mut!((*p).key).write(AtomicUsize::new(0));
        core::ptr::addr_of_mut!((*p).info).write(UnsafeCell::new(None));
        bindings::inode_init_once(core::ptr::addr_of_mut!((*p).vfs));
    }
    crate::stats::INODES.inc();
    // SAFETY: every field is initialised above.
    let b = unsafe { b.assume_init() };
    let c = KBox::into_raw(b);
    // SAFETY: `c` is valid; we return its embedded inode, recovered in `free`.
    unsafe { core::ptr::addr_of_mut!((*c).vfs) }
}

/// `evict_inode`: drops the page cache and the info (and its lower references).
///
/// # Safety
///
/// `inode` is one of ours being evicted (`I_FREEING`): no other user remains.
pub(crate) unsafe fn evict(inode: *mut bindings::inode) {
    // SAFETY: per the contract; `clear_inode` expects the pages gone.
    unsafe {
        bindings::truncate_inode_pages_final(core::ptr::addr_of_mut!((*inode).i_data));
        bindings::clear_inode(inode);
        let info = (*(*container_of(inode)).info.get()).take();
        drop(info);
    }
}

/// `free_inode`: frees the container (an RCU callback, after the last RCU reader).
///
/// # Safety
///
/// `inode` came from [`alloc`] and is dead.
pub(crate) unsafe fn free(inode: *mut bindings::inode) {
    // SAFETY: per the contract the container was allocated by `alloc` as a `KBox`.
    // Its info is `None` (evicted, or never set), so dropping it does not sleep.
    drop(unsafe { KBox::from_raw(container_of(inode)) });
    crate::stats::INODES.dec();
}
