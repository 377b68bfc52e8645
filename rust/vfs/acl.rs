// SPDX-License-Identifier: GPL-2.0
//! POSIX ACLs of branch objects: read for the union (`vfs_get_acl`,
//! `get_inode_acl`), set on the write branch (`vfs_set_acl`, `vfs_remove_acl`).
//! Our inodes never cache ACLs (`ACL_DONT_CACHE`): each check asks the branch,
//! whose object can change under us by copy-up.
//!
//! C headers: [`include/linux/posix_acl.h`](srctree/include/linux/posix_acl.h),
//! [`include/linux/posix_acl_xattr.h`](srctree/include/linux/posix_acl_xattr.h)

use super::bindings;
use super::dentry::LowerDentry;
use super::dirop::WriteAccess;
use super::inode::LowerInode;
use super::path::LowerPath;
use core::ptr::NonNull;
use kernel::error::{from_err_ptr, to_result};
use kernel::prelude::*;
use kernel::str::CStr;

/// Which ACL of an inode.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum AclType {
    /// The access ACL (`system.posix_acl_access`).
    Access,
    /// The default ACL of a directory (`system.posix_acl_default`).
    Default,
}

impl AclType {
    /// The type from its C value (`ACL_TYPE_*`).
    pub(crate) fn from_raw(ty: i32) -> Result<Self> {
        match ty {
            t if t == bindings::RUSTAUFS_ACL_TYPE_ACCESS as i32 => Ok(AclType::Access),
            t if t == bindings::RUSTAUFS_ACL_TYPE_DEFAULT as i32 => Ok(AclType::Default),
            _ => Err(EINVAL),
        }
    }

    fn raw(self) -> i32 {
        match self {
            AclType::Access => bindings::RUSTAUFS_ACL_TYPE_ACCESS as i32,
            AclType::Default => bindings::RUSTAUFS_ACL_TYPE_DEFAULT as i32,
        }
    }

    fn name(self) -> &'static CStr {
        match self {
            AclType::Access => c"system.posix_acl_access",
            AclType::Default => c"system.posix_acl_default",
        }
    }
}

/// A counted POSIX ACL.
///
/// # Invariants
///
/// We own one count of a valid `struct posix_acl`; `Drop` releases it.
pub(crate) struct Acl(NonNull<bindings::posix_acl>);

// SAFETY: ACLs are immutable once shared and their count is atomic.
unsafe impl Send for Acl {}
// SAFETY: as for `Send`.
unsafe impl Sync for Acl {}

impl Acl {
    /// Adopts a result of the ACL helpers: `None` for null, the errno of an error.
    ///
    /// # Safety
    ///
    /// `p` is null, an error pointer, or a counted ACL whose count the caller gives us.
    unsafe fn adopt(p: *mut bindings::posix_acl) -> Result<Option<Acl>> {
        Ok(NonNull::new(from_err_ptr(p)?).map(Acl))
    }

    /// Hands the count to C (the result of a `->get_acl`-type operation).
    pub(crate) fn into_raw(self) -> *mut bindings::posix_acl {
        let p = self.0.as_ptr();
        core::mem::forget(self);
        p
    }

    /// The ACL `ty` of `path` (`vfs_get_acl`, which checks the caller's access to
    /// it): `None` when it has none or its filesystem has no ACLs.
    pub(crate) fn of(path: &LowerPath<'_>, ty: AclType) -> Result<Option<Acl>> {
        if !path.dentry.inode().is_some_and(is_posix_acl) {
            return Ok(None);
        }
        // SAFETY: `path` borrows counted objects; the result is counted or an error.
        let r = unsafe { Self::adopt(bindings::vfs_get_acl(path.mnt.idmap().0, path.dentry.as_ptr(), ty.name().as_char_ptr())) };
        match r {
            Err(e) if e == ENODATA || e == EOPNOTSUPP => Ok(None),
            r => r,
        }
    }

    /// The ACL `ty` of `inode` for a permission check (`get_inode_acl`: from its
    /// cache, no access check).
    pub(crate) fn of_inode(inode: &LowerInode, ty: AclType) -> Result<Option<Acl>> {
        if !is_posix_acl(inode) {
            return Ok(None);
        }
        // SAFETY: `inode` is live; the result is counted, null or an error.
        unsafe { Self::adopt(bindings::get_inode_acl(inode.as_ptr(), ty.raw())) }
    }

    /// What a new object of `mode` in the branch directory `dir` gets, as the
    /// branch would give it: the ACLs it inherits from `dir`'s default ACL
    /// (`posix_acl_create`: default, access), and `mode` with the umask applied
    /// when `dir` has no default ACL. For objects built elsewhere (the work
    /// directory) and then renamed into `dir`.
    pub(crate) fn for_new(dir: &LowerInode, mode: &mut u32) -> Result<(Option<Acl>, Option<Acl>)> {
        let mut m = *mode as bindings::umode_t;
        // SAFETY: `dir` is live.
        m = unsafe { bindings::rustaufs_mode_strip_umask(dir.as_ptr(), m) };
        let (mut def, mut acc) = (core::ptr::null_mut(), core::ptr::null_mut());
        // SAFETY: `dir` is live; the out-pointers are ours and receive counted ACLs.
        to_result(unsafe { bindings::posix_acl_create(dir.as_ptr(), &mut m, &mut def, &mut acc) })?;
        *mode = u32::from(m);
        // SAFETY: `posix_acl_create` gave us a count of each non-null ACL.
        Ok(unsafe { (Self::adopt(def)?, Self::adopt(acc)?) })
    }

    /// Sets (or with `None` removes) ACL `ty` of `d` on the write branch.
    pub(crate) fn set(w: &WriteAccess<'_>, d: &LowerDentry, ty: AclType, acl: Option<&Acl>) -> Result {
        set(w, d, ty, acl.map_or(core::ptr::null_mut(), |a| a.0.as_ptr()))
    }
}

/// The ACL the VFS passed to our `->set_acl`, borrowed for the call (none: remove).
///
/// # Invariants
///
/// The pointer is null or a valid ACL for the lifetime of the value.
pub(crate) struct GivenAcl(*mut bindings::posix_acl);

impl GivenAcl {
    /// # Safety
    ///
    /// `p` is null or a valid ACL that stays valid while the result exists.
    pub(crate) unsafe fn from_raw(p: *mut bindings::posix_acl) -> Self {
        GivenAcl(p)
    }

    /// Sets it (or removes ACL `ty`) on `d` of the write branch.
    pub(crate) fn set_on(&self, w: &WriteAccess<'_>, d: &LowerDentry, ty: AclType) -> Result {
        set(w, d, ty, self.0)
    }
}

/// `vfs_set_acl`, or `vfs_remove_acl` for a null `acl` (removing none is success).
/// `acl` is null or valid for the call.
fn set(w: &WriteAccess<'_>, d: &LowerDentry, ty: AclType, acl: *mut bindings::posix_acl) -> Result {
    let (idmap, name) = (w.mnt().idmap().0, ty.name().as_char_ptr());
    if acl.is_null() {
        // SAFETY: write access is held; `d` is counted; `vfs_remove_acl` locks it.
        return match to_result(unsafe { bindings::vfs_remove_acl(idmap, d.as_ptr(), name) }) {
            Err(e) if e == ENODATA => Ok(()),
            r => r,
        };
    }
    // SAFETY: as above; `acl` is valid for the call (ours, or the VFS's).
    to_result(unsafe { bindings::vfs_set_acl(idmap, d.as_ptr(), name, acl) })
}

impl Drop for Acl {
    fn drop(&mut self) {
        // SAFETY: the type invariant: we own one count.
        unsafe { bindings::rustaufs_posix_acl_release(self.0.as_ptr()) };
    }
}

/// Whether the filesystem of `inode` has POSIX ACLs (`IS_POSIXACL`).
fn is_posix_acl(inode: &LowerInode) -> bool {
    // SAFETY: a live inode.
    unsafe { bindings::rustaufs_is_posixacl(inode.as_ptr()) }
}
