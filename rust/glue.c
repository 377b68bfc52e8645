// SPDX-License-Identifier: GPL-2.0
/*
 * C glue for rustaufs: out-of-line copies of static inline functions and macros
 * that Rust cannot call directly. Each is a single call; logic belongs in Rust.
 */
#include "vfs/helper.h"

struct dentry *rustaufs_dget(struct dentry *dentry) { return dget(dentry); }
bool rustaufs_d_is_dir(const struct dentry *dentry) { return d_is_dir(dentry); }
bool rustaufs_d_is_negative(const struct dentry *dentry) { return d_is_negative(dentry); }
bool rustaufs_d_is_symlink(const struct dentry *dentry) { return d_is_symlink(dentry); }
bool rustaufs_d_unhashed(const struct dentry *dentry) { return d_unhashed(dentry); }
struct inode *rustaufs_d_inode(const struct dentry *dentry) { return d_inode(dentry); }
struct mnt_idmap *rustaufs_mnt_idmap(const struct vfsmount *mnt) { return mnt_idmap(mnt); }
const struct cred *rustaufs_get_cred(const struct cred *cred) { return get_cred(cred); }
void rustaufs_put_cred(const struct cred *cred) { put_cred(cred); }
const struct cred *rustaufs_current_cred(void) { return current_cred(); }
loff_t rustaufs_i_size_read(const struct inode *inode) { return i_size_read(inode); }
struct file *rustaufs_get_file(struct file *file) { return get_file(file); }
struct inode *rustaufs_file_inode(const struct file *file) { return file_inode(file); }

struct dentry *rustaufs_lookup_noperm_unlocked(const char *name, unsigned int len,
					       struct dentry *base)
{
	return lookup_noperm_unlocked(&QSTR_LEN(name, len), base);
}

void rustaufs_inode_lock_shared(struct inode *inode) { inode_lock_shared(inode); }
void rustaufs_inode_unlock_shared(struct inode *inode) { inode_unlock_shared(inode); }
void rustaufs_touch_atime(struct file *file) { file_accessed(file); }

const unsigned char *rustaufs_d_name(const struct dentry *dentry, unsigned int *len)
{
	*len = dentry->d_name.len;
	return dentry->d_name.name;
}
bool rustaufs_inode_is_new(struct inode *inode) { return inode_state_read_once(inode) & I_NEW; }
int rustaufs_vfs_parse_fs_string(struct fs_context *fc, const char *key, const char *value)
{
	return vfs_parse_fs_string(fc, key, value);
}
const struct cred *rustaufs_override_creds(const struct cred *cred) { return override_creds(cred); }
void rustaufs_revert_creds(const struct cred *old) { revert_creds(old); }
void rustaufs_inode_lock(struct inode *inode) { inode_lock(inode); }
void rustaufs_inode_unlock(struct inode *inode) { inode_unlock(inode); }
void rustaufs_remove_inode_hash(struct inode *inode) { remove_inode_hash(inode); }
void rustaufs_iattr_set_ids(struct iattr *attr, kuid_t uid, kgid_t gid)
{
	attr->ia_vfsuid = VFSUIDT_INIT(uid);
	attr->ia_vfsgid = VFSGIDT_INIT(gid);
}
unsigned long rustaufs_vma_flags(const struct vm_area_struct *vma) { return vma->vm_flags; }
kuid_t rustaufs_current_fsuid(void) { return current_fsuid(); }
kgid_t rustaufs_current_fsgid(void) { return current_fsgid(); }
void rustaufs_do_delayed_call(struct delayed_call *call) { do_delayed_call(call); }
bool rustaufs_signal_pending(void) { return fatal_signal_pending(current); }
bool rustaufs_in_compat_syscall(void) { return in_compat_syscall(); }
void rustaufs_vm_flags_clear(struct vm_area_struct *vma, unsigned long flags) { vm_flags_clear(vma, flags); }
size_t rustaufs_iov_iter_count(const struct iov_iter *i) { return iov_iter_count(i); }
void rustaufs_posix_acl_release(struct posix_acl *acl) { posix_acl_release(acl); }
bool rustaufs_is_posixacl(const struct inode *inode) { return IS_POSIXACL(inode); }
void rustaufs_acl_dont_cache(struct inode *inode)
{
	inode->i_acl = inode->i_default_acl = ACL_DONT_CACHE;
}
umode_t rustaufs_mode_strip_umask(const struct inode *dir, umode_t mode) { return mode_strip_umask(dir, mode); }
