// SPDX-License-Identifier: GPL-2.0
//! POSIX ACLs (overlayfs: `inode.c`, `copy_up.c`): the union shows the ACLs of
//! an inode's data object, checks permission with them, sets them on the write
//! branch after a copy-up, and copy-up copies them.
//!
//! Our inodes never cache ACLs (`ACL_DONT_CACHE`), so a check after a copy-up or
//! a change on a branch sees the branch's ACL. ACLs of an idmapped branch mount
//! are passed as the branch stores them (idmapped branches are not translated).
#![forbid(unsafe_code)]

use crate::vfs::acl::{Acl, AclType, GivenAcl};
use crate::vfs::cred::CredGuard;
use crate::vfs::dentry::{Dentry, LowerDentry};
use crate::vfs::dirop::WriteAccess;
use crate::vfs::inode::Inode;
use crate::vfs::path::LowerPath;
use kernel::prelude::*;

/// Names under which a filesystem also lists its ACLs as plain xattrs (XFS shows
/// `trusted.SGI_ACL_FILE`/`_DEFAULT`, in its on-disk format, to `CAP_SYS_ADMIN`).
/// Copy-up skips them: the ACL is copied as an ACL, and the raw form would be a
/// meaningless xattr on another filesystem and bypass the ACL code on XFS.
pub(crate) fn is_acl_alias(name: &[u8]) -> bool {
    name == b"trusted.SGI_ACL_FILE" || name == b"trusted.SGI_ACL_DEFAULT"
}

/// `->get_acl` (`getxattr` of `system.posix_acl_*`): the data object's ACL,
/// read with the mounter's credentials.
pub(crate) fn get(d: &Dentry, ty: AclType) -> Result<Option<Acl>> {
    let inode = d.inode().ok_or(EIO)?;
    let sbi = inode.sb().info();
    let (b, top) = inode.info()?.top(sbi).ok_or(EIO)?;
    let _c = CredGuard::new(&sbi.creator);
    Acl::of(&sbi.branch(b)?.mnt.path(top), ty)
}

/// `->get_inode_acl` (permission checks on our inode). Never in RCU walk: our
/// `->permission` leaves it before it gets here.
pub(crate) fn get_for_permission(inode: &Inode, ty: AclType, rcu: bool) -> Result<Option<Acl>> {
    if rcu {
        return Err(ECHILD);
    }
    let (_, top) = inode.info()?.top(inode.sb().info()).ok_or(EIO)?;
    Acl::of_inode(top.inode().ok_or(EIO)?, ty)
}

/// `->set_acl` (`setfacl`, `setxattr` of `system.posix_acl_*`, and `chmod` on
/// filesystems that keep the access ACL in step): copies up, then sets it on the
/// write branch with the mounter's credentials (the VFS checked the caller's
/// right on our inode, which it holds locked).
pub(crate) fn set(d: &Dentry, acl: &GivenAcl, ty: AclType) -> Result {
    let inode = d.inode().ok_or(EIO)?;
    if ty == AclType::Default && !inode.is_dir() {
        return Err(EACCES);
    }
    let upper = crate::copyup::copy_up(d, true)?;
    let sbi = inode.sb().info();
    {
        let _c = CredGuard::new(&sbi.creator);
        let w = WriteAccess::new(&sbi.write_branch()?.mnt)?;
        acl.set_on(&w, &upper, ty)?;
    }
    crate::inode::refresh(inode);
    Ok(())
}

/// Copies the access ACL (and a directory's default ACL) of `src` to `dst` on the
/// write branch, during copy-up; a write branch without ACLs gets none
/// (`EOPNOTSUPP` is not an error, as for other xattrs).
pub(crate) fn copy(w: &WriteAccess<'_>, src: &LowerPath<'_>, dst: &LowerDentry) -> Result {
    let types: &[AclType] = if src.dentry.is_dir() { &[AclType::Access, AclType::Default] } else { &[AclType::Access] };
    for &ty in types {
        if let Some(acl) = Acl::of(src, ty)? {
            match Acl::set(w, dst, ty, Some(&acl)) {
                Err(e) if e == EOPNOTSUPP => {}
                r => r?,
            }
        }
    }
    Ok(())
}
