// SPDX-License-Identifier: GPL-2.0
//! Operation tables and the `extern "C"` trampolines behind them.
//!
//! Each trampoline turns raw pointers into the typed wrappers of this layer (one
//! `// SAFETY:` each), calls one safe function of the filesystem, and maps its
//! `Result` to the C convention. Tables are chosen per inode by [`set_ops`].

use super::bindings;
use super::dentry::{self, Dentry};
use super::dir::Emitter;
use super::file::File;
use super::inode::{self as vinode, Inode, Kind};
use super::{Kstat, SeqFile};
use crate::{acl as uacl, file as ufile, inode as uinode, lookup, namei, readdir, superblock};
use super::acl::{Acl, AclType, GivenAcl};
use super::attr::Iattr;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use core::ptr;
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// An operation table in a `static`: the C structs hold raw pointers (to the
/// owning module, to strings), which are not `Sync` in Rust.
pub(crate) struct Table<T>(pub(crate) T);
// SAFETY: tables are immutable statics that C only reads.
unsafe impl<T> Sync for Table<T> {}

fn errno(e: Error) -> c_int {
    e.to_errno()
}

fn ret(r: Result) -> c_int {
    r.map_or_else(errno, |()| 0)
}

fn err_ptr<T>(e: Error) -> *mut T {
    // CAST: the kernel encodes errors as pointers in the last page (ERR_PTR).
    e.to_errno() as isize as *mut T
}

// ---- super_operations ---------------------------------------------------------

unsafe extern "C" fn alloc_inode(_sb: *mut bindings::super_block) -> *mut bindings::inode {
    vinode::alloc()
}

unsafe extern "C" fn free_inode(inode: *mut bindings::inode) {
    // SAFETY: the VFS frees each inode it got from `alloc_inode` once, after RCU.
    unsafe { vinode::free(inode) };
}

unsafe extern "C" fn evict_inode(inode: *mut bindings::inode) {
    // SAFETY: called once per inode, when it is `I_FREEING`.
    unsafe { vinode::evict(inode) };
}

unsafe extern "C" fn statfs(dentry: *mut bindings::dentry, buf: *mut kernel::bindings::kstatfs) -> c_int {
    // SAFETY: the VFS passes a live dentry of ours and its buffer.
    let d = unsafe { Dentry::from_raw(dentry) };
    // SAFETY: a dentry's superblock outlives it.
    let sb = unsafe { super::sb::SuperBlock::from_raw((*dentry).d_sb) };
    // SAFETY: the buffer of this call.
    let mut buf = unsafe { super::StatfsBuf::from_raw(buf.cast()) };
    ret(superblock::statfs(sb, d, &mut buf))
}

unsafe extern "C" fn sync_fs(sb: *mut bindings::super_block, wait: c_int) -> c_int {
    // SAFETY: `->sync_fs` of a live superblock of ours, under its `s_umount`.
    let sb = unsafe { super::sb::SuperBlock::from_raw(sb) };
    ret(superblock::sync_fs(sb, wait != 0))
}

unsafe extern "C" fn show_options(m: *mut bindings::seq_file, root: *mut bindings::dentry) -> c_int {
    // SAFETY: the VFS passes a live seq_file and our root.
    let sb = unsafe { super::sb::SuperBlock::from_raw((*root).d_sb) };
    // SAFETY: `m` is live for the call.
    let mut seq = unsafe { SeqFile::from_raw(m) };
    ret(superblock::show_options(sb, &mut seq))
}

pub(crate) static SUPER_OPS: Table<bindings::super_operations> = Table(bindings::super_operations {
    alloc_inode: Some(alloc_inode),
    free_inode: Some(free_inode),
    evict_inode: Some(evict_inode),
    // Inodes without dentries are dropped at once: they pin lower inodes.
    drop_inode: Some(bindings::inode_just_drop),
    statfs: Some(statfs),
    sync_fs: Some(sync_fs),
    show_options: Some(show_options),
    // SAFETY: the remaining callbacks are optional and null means "not provided".
    ..unsafe { core::mem::zeroed() }
});

// ---- dentry_operations --------------------------------------------------------

unsafe extern "C" fn d_release(dentry: *mut bindings::dentry) {
    // SAFETY: the dcache calls this once when the dentry dies.
    unsafe { dentry::release_info(dentry) };
}

unsafe extern "C" fn d_delete(dentry: *const bindings::dentry) -> c_int {
    // Negative union dentries are not cached: a name may appear on any branch.
    // SAFETY: a live dentry.
    c_int::from(unsafe { bindings::rustaufs_d_is_negative(dentry) })
}

unsafe extern "C" fn d_revalidate(
    _dir: *mut bindings::inode,
    _name: *const bindings::qstr,
    dentry: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    if flags & bindings::RUSTAUFS_LOOKUP_RCU as c_uint != 0 {
        return -(ECHILD.to_errno().abs());
    }
    // SAFETY: ref-walk: the dentry is live and referenced by the caller.
    let d = unsafe { Dentry::from_raw(dentry) };
    match lookup::revalidate(d) {
        Ok(valid) => c_int::from(valid),
        Err(e) => errno(e),
    }
}

pub(crate) static DENTRY_OPS: Table<bindings::dentry_operations> = Table(bindings::dentry_operations {
    d_release: Some(d_release),
    d_delete: Some(d_delete),
    // SAFETY: optional callbacks; null means "not provided".
    ..unsafe { core::mem::zeroed() }
});

pub(crate) static DENTRY_OPS_REVAL: Table<bindings::dentry_operations> = Table(bindings::dentry_operations {
    d_release: Some(d_release),
    d_delete: Some(d_delete),
    d_revalidate: Some(d_revalidate),
    // SAFETY: optional callbacks; null means "not provided".
    ..unsafe { core::mem::zeroed() }
});

// ---- inode_operations ---------------------------------------------------------

unsafe extern "C" fn lookup_op(
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    flags: c_uint,
) -> *mut bindings::dentry {
    // SAFETY: `->lookup` is called with a live directory inode of ours, locked
    // shared, and a new, unhashed dentry whose name is stable under that lock.
    let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    // SAFETY: the parent is locked by the VFS for the whole call, which keeps the
    // new dentry's name and parent stable.
    let (parent, name) = unsafe { (d.parent(), d.name()) };
    match lookup::lookup(dir, parent, d, name, flags) {
        Ok(inode) => {
            let raw = inode.map_or(ptr::null_mut(), |i| ARef::into_raw(i).as_ptr().cast());
            // SAFETY: `d_splice_alias` takes our inode count (or null for a
            // negative dentry) and the new dentry.
            unsafe { bindings::d_splice_alias(raw, dentry) }
        }
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn permission(_idmap: *mut bindings::mnt_idmap, inode: *mut bindings::inode, mask: c_int) -> c_int {
    if mask & bindings::MAY_NOT_BLOCK as c_int != 0 {
        // RCU walk: our inode's lower references may be dropped concurrently by
        // eviction; let the VFS retry in ref-walk mode.
        return -(ECHILD.to_errno().abs());
    }
    // SAFETY: ref-walk: the caller holds a reference to the inode.
    ret(uinode::permission(unsafe { Inode::from_raw(inode) }, mask as u32))
}

unsafe extern "C" fn getattr(
    _idmap: *mut bindings::mnt_idmap,
    path: *const bindings::path,
    stat: *mut bindings::kstat,
    mask: u32,
    flags: c_uint,
) -> c_int {
    // SAFETY: a live path on our mount and the caller's kstat.
    let (d, st) = unsafe { (Dentry::from_raw((*path).dentry), Kstat::from_raw(stat)) };
    ret(uinode::getattr(d, st, mask, flags))
}

unsafe extern "C" fn get_link(
    dentry: *mut bindings::dentry,
    _inode: *mut bindings::inode,
    done: *mut bindings::delayed_call,
) -> *const c_char {
    if dentry.is_null() {
        // RCU walk; retry with references.
        return err_ptr(ECHILD);
    }
    // SAFETY: a live dentry of ours.
    let d = unsafe { Dentry::from_raw(dentry) };
    match uinode::lower_link_target(d) {
        // SAFETY: `done` is the caller's delayed call, to release the link body.
        Ok(lower) => unsafe { bindings::vfs_get_link(lower.as_ptr(), done) },
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn listxattr(dentry: *mut bindings::dentry, list: *mut c_char, size: usize) -> isize {
    // SAFETY: a live dentry of ours.
    let d = unsafe { Dentry::from_raw(dentry) };
    match uinode::lower_top(d) {
        // SAFETY: `list` has room for `size` bytes, as `vfs_listxattr` expects.
        Ok(lower) => unsafe { bindings::vfs_listxattr(lower.as_ptr(), list, size) },
        Err(e) => e.to_errno() as isize,
    }
}


/// The name of a dentry whose parent the VFS holds locked for this call.
///
/// # Safety
///
/// The parent of `d` is locked for `'a` (every namespace operation's contract).
unsafe fn locked_name<'a>(d: &'a Dentry) -> &'a [u8] {
    // SAFETY: per the contract the name cannot change.
    unsafe { d.name() }
}

unsafe extern "C" fn create_op(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: `->create` on a live directory of ours, locked, with a negative
    // dentry whose name is stable under that lock.
    let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    // SAFETY: the parent is locked.
    let name = unsafe { locked_name(d) };
    ret(namei::create(dir, d, name, namei::New::File, u32::from(mode)))
}

unsafe extern "C" fn tmpfile_op(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    file: *mut bindings::file,
    mode: bindings::umode_t,
) -> c_int {
    // SAFETY: `->tmpfile` on a live directory of ours, with the file being opened
    // on a new unhashed dentry in it.
    let (dir, f) = unsafe { (Inode::from_raw(dir), File::from_raw(file)) };
    ret(namei::tmpfile(dir, f, u32::from(mode)))
}

unsafe extern "C" fn mkdir_op(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
) -> *mut bindings::dentry {
    // SAFETY: as in `create_op`.
    let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    // SAFETY: the parent is locked.
    let name = unsafe { locked_name(d) };
    match namei::create(dir, d, name, namei::New::Dir, u32::from(mode)) {
        Ok(()) => ptr::null_mut(),
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn mknod_op(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    mode: bindings::umode_t,
    dev: bindings::dev_t,
) -> c_int {
    // SAFETY: as in `create_op`.
    let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    // SAFETY: the parent is locked.
    let name = unsafe { locked_name(d) };
    ret(namei::create(dir, d, name, namei::New::Node(dev), u32::from(mode)))
}

unsafe extern "C" fn symlink_op(
    _idmap: *mut bindings::mnt_idmap,
    dir: *mut bindings::inode,
    dentry: *mut bindings::dentry,
    target: *const c_char,
) -> c_int {
    // SAFETY: as in `create_op`; `target` is a NUL-terminated kernel string.
    let (dir, d, t) =
        unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry), kernel::str::CStr::from_char_ptr(target)) };
    // SAFETY: the parent is locked.
    let name = unsafe { locked_name(d) };
    ret(namei::create(dir, d, name, namei::New::Symlink(t), bindings::S_IFLNK | 0o777))
}

unsafe extern "C" fn link_op(old: *mut bindings::dentry, dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: `->link`: `old` is a live positive dentry of ours (its inode locked by
    // the VFS), `dir` is locked, `dentry` negative.
    let (old, dir, d) = unsafe { (Dentry::from_raw(old), Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    // SAFETY: the parent is locked.
    let name = unsafe { locked_name(d) };
    ret(namei::link(old, dir, d, name))
}

unsafe extern "C" fn unlink_op(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: `->unlink`: `dir` and the victim are locked by the VFS.
    let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    // SAFETY: the parent is locked.
    let name = unsafe { locked_name(d) };
    ret(namei::remove(dir, d, name, false))
}

unsafe extern "C" fn rmdir_op(dir: *mut bindings::inode, dentry: *mut bindings::dentry) -> c_int {
    // SAFETY: `->rmdir`: as for `unlink_op`.
    let (dir, d) = unsafe { (Inode::from_raw(dir), Dentry::from_raw(dentry)) };
    // SAFETY: the parent is locked.
    let name = unsafe { locked_name(d) };
    ret(namei::remove(dir, d, name, true))
}

unsafe extern "C" fn rename_op(
    _idmap: *mut bindings::mnt_idmap,
    old_dir: *mut bindings::inode,
    old: *mut bindings::dentry,
    new_dir: *mut bindings::inode,
    new: *mut bindings::dentry,
    flags: c_uint,
) -> c_int {
    // SAFETY: `->rename`: both parents are locked (`lock_rename`) and the dentries
    // are live.
    let (od, o, nd, n) =
        unsafe { (Inode::from_raw(old_dir), Dentry::from_raw(old), Inode::from_raw(new_dir), Dentry::from_raw(new)) };
    // SAFETY: both parents are locked.
    let (on, nn) = unsafe { (locked_name(o), locked_name(n)) };
    ret(namei::rename(od, o, on, nd, n, nn, flags))
}

unsafe extern "C" fn setattr_op(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    attr: *mut bindings::iattr,
) -> c_int {
    // SAFETY: `->setattr` on a live positive dentry of ours, its inode locked by
    // the VFS; `attr` is the call's.
    let (d, a) = unsafe { (Dentry::from_raw(dentry), Iattr::from_raw(attr)) };
    ret(uinode::setattr(d, a))
}

static DIR_IOPS: Table<bindings::inode_operations> = Table(bindings::inode_operations {
    lookup: Some(lookup_op),
    create: Some(create_op),
    mkdir: Some(mkdir_op),
    mknod: Some(mknod_op),
    symlink: Some(symlink_op),
    link: Some(link_op),
    unlink: Some(unlink_op),
    rmdir: Some(rmdir_op),
    rename: Some(rename_op),
    tmpfile: Some(tmpfile_op),
    setattr: Some(setattr_op),
    permission: Some(permission),
    getattr: Some(getattr),
    listxattr: Some(listxattr),
    get_acl: Some(get_acl_op),
    get_inode_acl: Some(get_inode_acl_op),
    set_acl: Some(set_acl_op),
    // SAFETY: optional callbacks.
    ..unsafe { core::mem::zeroed() }
});

static FILE_IOPS: Table<bindings::inode_operations> = Table(bindings::inode_operations {
    permission: Some(permission),
    setattr: Some(setattr_op),
    getattr: Some(getattr),
    listxattr: Some(listxattr),
    get_acl: Some(get_acl_op),
    get_inode_acl: Some(get_inode_acl_op),
    set_acl: Some(set_acl_op),
    // SAFETY: optional callbacks.
    ..unsafe { core::mem::zeroed() }
});

static SYMLINK_IOPS: Table<bindings::inode_operations> = Table(bindings::inode_operations {
    get_link: Some(get_link),
    getattr: Some(getattr),
    setattr: Some(setattr_op),
    listxattr: Some(listxattr),
    // SAFETY: optional callbacks.
    ..unsafe { core::mem::zeroed() }
});

// ---- POSIX ACLs ------------------------------------------------------------------

unsafe extern "C" fn get_acl_op(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    ty: c_int,
) -> *mut bindings::posix_acl {
    // SAFETY: `->get_acl` on a live positive dentry of ours.
    let d = unsafe { Dentry::from_raw(dentry) };
    match AclType::from_raw(ty).and_then(|ty| uacl::get(d, ty)) {
        Ok(acl) => acl.map_or(ptr::null_mut(), Acl::into_raw),
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn get_inode_acl_op(inode: *mut bindings::inode, ty: c_int, rcu: bool) -> *mut bindings::posix_acl {
    // SAFETY: `->get_inode_acl` on a live inode of ours (pinned by the caller;
    // with `rcu`, by RCU, and we do not look at it then).
    let i = unsafe { Inode::from_raw(inode) };
    match AclType::from_raw(ty).and_then(|ty| uacl::get_for_permission(i, ty, rcu)) {
        Ok(acl) => acl.map_or(ptr::null_mut(), Acl::into_raw),
        Err(e) => err_ptr(e),
    }
}

unsafe extern "C" fn set_acl_op(
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    acl: *mut bindings::posix_acl,
    ty: c_int,
) -> c_int {
    // SAFETY: `->set_acl` on a live positive dentry of ours, its inode locked;
    // `acl` is null or valid for the call.
    let (d, acl) = unsafe { (Dentry::from_raw(dentry), GivenAcl::from_raw(acl)) };
    ret(AclType::from_raw(ty).and_then(|ty| uacl::set(d, &acl, ty)))
}

// ---- xattr handlers -----------------------------------------------------------

unsafe extern "C" fn xattr_get(
    _h: *const bindings::xattr_handler,
    dentry: *mut bindings::dentry,
    _inode: *mut bindings::inode,
    name: *const c_char,
    buffer: *mut c_void,
    size: usize,
) -> c_int {
    // SAFETY: a live dentry of ours.
    let d = unsafe { Dentry::from_raw(dentry) };
    match uinode::lower_top_with_idmap(d) {
        // SAFETY: `name` is NUL-terminated; `buffer` has `size` bytes.
        Ok((lower, idmap)) => unsafe {
            bindings::vfs_getxattr(idmap.0, lower.as_ptr(), name, buffer, size) as c_int
        },
        Err(e) => errno(e),
    }
}

unsafe extern "C" fn xattr_set(
    _h: *const bindings::xattr_handler,
    _idmap: *mut bindings::mnt_idmap,
    dentry: *mut bindings::dentry,
    _inode: *mut bindings::inode,
    name: *const c_char,
    value: *const c_void,
    size: usize,
    flags: c_int,
) -> c_int {
    // SAFETY: a live dentry of ours (its inode locked by the VFS); `name` is
    // NUL-terminated; `value` is null (remove) or has `size` bytes.
    let (d, n) = unsafe { (Dentry::from_raw(dentry), kernel::str::CStr::from_char_ptr(name)) };
    let v = if value.is_null() {
        None
    } else {
        // SAFETY: see above.
        Some(unsafe { core::slice::from_raw_parts(value.cast::<u8>(), size) })
    };
    ret(uinode::set_xattr(d, n, v, flags))
}

static XATTR_ALL: Table<bindings::xattr_handler> = Table(bindings::xattr_handler {
    prefix: c"".as_ptr().cast(),
    get: Some(xattr_get),
    set: Some(xattr_set),
    // SAFETY: optional fields.
    ..unsafe { core::mem::zeroed() }
});

/// A null-terminated array of handler pointers, as `s_xattr` wants.
pub(crate) struct Handlers(pub(crate) [*const bindings::xattr_handler; 2]);
// SAFETY: the array and what it points to are immutable statics.
unsafe impl Sync for Handlers {}

impl Handlers {
    pub(crate) fn as_ptr(&self) -> *const *const bindings::xattr_handler {
        self.0.as_ptr()
    }
}

pub(crate) static XATTR_HANDLERS: Handlers = Handlers([&XATTR_ALL.0, ptr::null()]);

// ---- file_operations: regular files --------------------------------------------

unsafe extern "C" fn file_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `->open` of a live file on a live inode of ours.
    let (i, f) = unsafe { (Inode::from_raw(inode), File::from_raw(file)) };
    ret(ufile::open(i, f))
}

unsafe extern "C" fn file_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `->release`, once per opened file.
    ufile::release(unsafe { File::from_raw(file) });
    0
}

unsafe extern "C" fn file_read_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: a live `->read_iter` call on one of our files.
    let f = unsafe { File::from_raw((*iocb).ki_filp) };
    match ufile::backing(f) {
        // SAFETY: the iocb and iter are this call's.
        Ok((real, cred)) => unsafe { real.read_iter(iocb, iter, cred) },
        Err(e) => e.to_errno() as isize,
    }
}

unsafe extern "C" fn file_splice_read(
    file: *mut bindings::file,
    pos: *mut i64,
    pipe: *mut bindings::pipe_inode_info,
    len: usize,
    flags: c_uint,
) -> isize {
    // SAFETY: a live `->splice_read` call on one of our files.
    let f = unsafe { File::from_raw(file) };
    match ufile::backing(f) {
        // SAFETY: the arguments are this call's.
        Ok((real, cred)) => unsafe { real.splice_read(pos, pipe, len, flags, file, cred) },
        Err(e) => e.to_errno() as isize,
    }
}

unsafe extern "C" fn file_mmap(file: *mut bindings::file, vma: *mut bindings::vm_area_struct) -> c_int {
    // SAFETY: a live `->mmap` call on one of our files.
    let f = unsafe { File::from_raw(file) };
    // SAFETY: `vma` is this call's, under `mmap_lock`.
    let flags = unsafe { bindings::rustaufs_vma_flags(vma) };
    let shared = flags & bindings::RUSTAUFS_VM_SHARED as kernel::ffi::c_ulong != 0;
    let write = flags & bindings::VM_WRITE as kernel::ffi::c_ulong != 0;
    match ufile::for_mmap(f, shared, write) {
        // SAFETY: `vma` is this call's; clearing `VM_MAYWRITE` before the mapping
        // exists makes it read-only for good (`mprotect` checks it).
        Ok((real, cred, may_write)) => unsafe {
            if !may_write {
                bindings::rustaufs_vm_flags_clear(vma, bindings::RUSTAUFS_VM_MAYWRITE as _);
            }
            real.mmap(vma, cred)
        },
        Err(e) => errno(e),
    }
}

unsafe extern "C" fn file_write_iter(iocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
    // SAFETY: a live `->write_iter` call on one of our files.
    let f = unsafe { File::from_raw((*iocb).ki_filp) };
    // SAFETY: as above; the iter is this call's.
    if unsafe { bindings::rustaufs_iov_iter_count(iter) } == 0 {
        return 0;
    }
    let _lock = f.inode().lock();
    match ufile::for_write(f) {
        // SAFETY: the iocb and iter are this call's; we hold our inode's lock.
        Ok((real, cred)) => unsafe { real.write_iter(iocb, iter, cred) },
        Err(e) => e.to_errno() as isize,
    }
}

unsafe extern "C" fn file_fsync(file: *mut bindings::file, start: i64, end: i64, datasync: c_int) -> c_int {
    // SAFETY: a live `->fsync` call on one of our files.
    let f = unsafe { File::from_raw(file) };
    ret(ufile::fsync(f, start, end, datasync != 0))
}

unsafe extern "C" fn file_fallocate(file: *mut bindings::file, mode: c_int, offset: i64, len: i64) -> kernel::ffi::c_long {
    // SAFETY: a live `->fallocate` call on one of our files.
    let f = unsafe { File::from_raw(file) };
    let _lock = f.inode().lock();
    // CAST: an errno or 0 always fits.
    ret(ufile::fallocate(f, mode, offset, len)) as kernel::ffi::c_long
}

unsafe extern "C" fn file_llseek(file: *mut bindings::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: a live `->llseek` call on one of our files.
    let f = unsafe { File::from_raw(file) };
    ufile::llseek(f, offset, whence).unwrap_or_else(|e| e.to_errno() as i64)
}

static FILE_FOPS: Table<bindings::file_operations> = Table(bindings::file_operations {
    open: Some(file_open),
    release: Some(file_release),
    read_iter: Some(file_read_iter),
    write_iter: Some(file_write_iter),
    splice_read: Some(file_splice_read),
    splice_write: Some(bindings::iter_file_splice_write),
    fsync: Some(file_fsync),
    fallocate: Some(file_fallocate),
    mmap: Some(file_mmap),
    llseek: Some(file_llseek),
    // SAFETY: optional callbacks.
    ..unsafe { core::mem::zeroed() }
});

// ---- file_operations: directories ----------------------------------------------

unsafe extern "C" fn dir_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `->open` of a live file on a live directory of ours.
    let (i, f) = unsafe { (Inode::from_raw(inode), File::from_raw(file)) };
    ret(readdir::open(i, f))
}

unsafe extern "C" fn dir_release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: `->release`, once per opened directory.
    readdir::release(unsafe { File::from_raw(file) });
    0
}

unsafe extern "C" fn dir_iterate(file: *mut bindings::file, ctx: *mut bindings::dir_context) -> c_int {
    // SAFETY: a live `->iterate_shared` call: the file is ours and `ctx` is its
    // context for this call.
    let (f, e) = unsafe { (File::from_raw(file), Emitter::from_raw(ctx)) };
    ret(readdir::iterate(f, e))
}

unsafe extern "C" fn dir_llseek(file: *mut bindings::file, offset: i64, whence: c_int) -> i64 {
    // SAFETY: a live `->llseek` call on one of our directories.
    let f = unsafe { File::from_raw(file) };
    readdir::llseek(f, offset, whence).unwrap_or_else(|e| e.to_errno() as i64)
}

static DIR_FOPS: Table<bindings::file_operations> = Table(bindings::file_operations {
    open: Some(dir_open),
    release: Some(dir_release),
    iterate_shared: Some(dir_iterate),
    llseek: Some(dir_llseek),
    read: Some(bindings::generic_read_dir),
    // SAFETY: optional callbacks.
    ..unsafe { core::mem::zeroed() }
});

/// The regular-file operations (to recognise files that hold a `FileInfo`).
pub(crate) fn file_fops() -> &'static bindings::file_operations {
    &FILE_FOPS.0
}

/// The directory operations (to recognise files that hold a `DirInfo`).
pub(crate) fn dir_fops() -> &'static bindings::file_operations {
    &DIR_FOPS.0
}

/// Installs the operation tables for `kind` on a new inode.
///
/// # Safety
///
/// `inode` is one of ours and still `I_NEW`.
pub(crate) unsafe fn set_ops(inode: *mut bindings::inode, kind: Kind) {
    // SAFETY: an `I_NEW` inode is ours alone (per the contract).
    unsafe {
        match kind {
            Kind::Dir => {
                (*inode).i_op = &DIR_IOPS.0;
                (*inode).__bindgen_anon_3.i_fop = &DIR_FOPS.0;
            }
            Kind::Reg => {
                (*inode).i_op = &FILE_IOPS.0;
                (*inode).__bindgen_anon_3.i_fop = &FILE_FOPS.0;
            }
            Kind::Symlink => (*inode).i_op = &SYMLINK_IOPS.0,
            Kind::Special(mode, rdev) => {
                (*inode).i_op = &FILE_IOPS.0;
                bindings::init_special_inode(inode, mode as _, rdev);
            }
        }
    }
}
