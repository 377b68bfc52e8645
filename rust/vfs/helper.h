/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of rustaufs's private bindgen run (build/bindgen/vfs_bindings.rs).
 *
 * It pulls in the headers that the kernel crate does not bind, and declares the
 * C glue of rust/glue.c: one-line wrappers of static inline functions and macros,
 * and the values of flag macros that bindgen cannot evaluate. No logic lives here.
 */
#include <linux/fs.h>
#include <linux/fs_context.h>
#include <linux/fs_parser.h>
#include <linux/fs_stack.h>
#include <linux/namei.h>
#include <linux/mount.h>
#include <linux/backing-file.h>
#include <linux/xattr.h>
#include <linux/statfs.h>
#include <linux/cred.h>
#include <linux/mm.h>
#include <linux/delayed_call.h>
#include <linux/sched/signal.h>
#include <linux/task_work.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <linux/falloc.h>
#include <linux/exportfs.h>
#include <linux/compat.h>

/* Flag macros, as enumerators bindgen can read. */
enum {
	RUSTAUFS_SB_RDONLY = SB_RDONLY,
	RUSTAUFS_SB_NOSEC = SB_NOSEC,
	RUSTAUFS_LOOKUP_FOLLOW = LOOKUP_FOLLOW,
	RUSTAUFS_LOOKUP_DIRECTORY = LOOKUP_DIRECTORY,
	RUSTAUFS_LOOKUP_RCU = LOOKUP_RCU,
	RUSTAUFS_FMODE_NOWAIT = (__force int)FMODE_NOWAIT,
	RUSTAUFS_FMODE_CAN_ODIRECT = (__force int)FMODE_CAN_ODIRECT,
	RUSTAUFS_FMODE_32BITHASH = (__force int)FMODE_32BITHASH,
	RUSTAUFS_FMODE_64BITHASH = (__force int)FMODE_64BITHASH,
	RUSTAUFS_FS_REQUIRES_DEV = FS_REQUIRES_DEV,
	RUSTAUFS_FILESYSTEM_MAX_STACK_DEPTH = FILESYSTEM_MAX_STACK_DEPTH,
	RUSTAUFS_MAX_LFS_FILESIZE_SHIFT = 63,
	RUSTAUFS_ENOPARAM = ENOPARAM,
	RUSTAUFS_FS_CONTEXT_FOR_RECONFIGURE = FS_CONTEXT_FOR_RECONFIGURE,
	RUSTAUFS_STATX_INO = STATX_INO,
	RUSTAUFS_O_NOATIME = O_NOATIME,
	RUSTAUFS_COPY_FILE_SPLICE = COPY_FILE_SPLICE,
	RUSTAUFS_RENAME_NOREPLACE = RENAME_NOREPLACE,
	RUSTAUFS_RENAME_EXCHANGE = RENAME_EXCHANGE,
	RUSTAUFS_RENAME_WHITEOUT = RENAME_WHITEOUT,
	RUSTAUFS_ATTR_MODE = ATTR_MODE,
	RUSTAUFS_ATTR_UID = ATTR_UID,
	RUSTAUFS_ATTR_GID = ATTR_GID,
	RUSTAUFS_ATTR_SIZE = ATTR_SIZE,
	RUSTAUFS_ATTR_ATIME = ATTR_ATIME,
	RUSTAUFS_ATTR_MTIME = ATTR_MTIME,
	RUSTAUFS_ATTR_ATIME_SET = ATTR_ATIME_SET,
	RUSTAUFS_ATTR_MTIME_SET = ATTR_MTIME_SET,
	RUSTAUFS_ATTR_FILE = ATTR_FILE,
	RUSTAUFS_ATTR_KILL_SUID = ATTR_KILL_SUID,
	RUSTAUFS_ATTR_KILL_SGID = ATTR_KILL_SGID,
	RUSTAUFS_ATTR_KILL_PRIV = ATTR_KILL_PRIV,
	RUSTAUFS_ATTR_CTIME = ATTR_CTIME,
	RUSTAUFS_SEEK_DATA = SEEK_DATA,
	RUSTAUFS_FALLOC_PUNCH = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
	RUSTAUFS_DCACHE_DISCONNECTED = DCACHE_DISCONNECTED,
	RUSTAUFS_SEEK_HOLE = SEEK_HOLE,
	RUSTAUFS_O_LARGEFILE = O_LARGEFILE,
	RUSTAUFS_VM_SHARED = VM_SHARED,
	RUSTAUFS_VM_MAYWRITE = VM_MAYWRITE,
	RUSTAUFS_I_MUTEX_PARENT = I_MUTEX_PARENT,
	RUSTAUFS_S_ISGID = S_ISGID,
	RUSTAUFS_FMODE_WRITE = (__force int)FMODE_WRITE,
	RUSTAUFS_FMODE_OPENED = (__force int)FMODE_OPENED,
	RUSTAUFS_ACL_TYPE_ACCESS = ACL_TYPE_ACCESS,
	RUSTAUFS_ACL_TYPE_DEFAULT = ACL_TYPE_DEFAULT,
	RUSTAUFS_SB_POSIXACL = SB_POSIXACL,
	RUSTAUFS_SB_I_SKIP_SYNC = SB_I_SKIP_SYNC,
};

/* Wrappers of static inline functions and macros (rust/glue.c). */
struct dentry *rustaufs_dget(struct dentry *dentry);
bool rustaufs_d_is_dir(const struct dentry *dentry);
bool rustaufs_d_is_negative(const struct dentry *dentry);
bool rustaufs_d_is_symlink(const struct dentry *dentry);
bool rustaufs_d_unhashed(const struct dentry *dentry);
struct inode *rustaufs_d_inode(const struct dentry *dentry);
struct mnt_idmap *rustaufs_mnt_idmap(const struct vfsmount *mnt);
const struct cred *rustaufs_get_cred(const struct cred *cred);
void rustaufs_put_cred(const struct cred *cred);
const struct cred *rustaufs_current_cred(void);
loff_t rustaufs_i_size_read(const struct inode *inode);
struct file *rustaufs_get_file(struct file *file);
struct inode *rustaufs_file_inode(const struct file *file);
struct dentry *rustaufs_lookup_noperm_unlocked(const char *name, unsigned int len,
					       struct dentry *base);
void rustaufs_inode_lock_shared(struct inode *inode);
void rustaufs_inode_unlock_shared(struct inode *inode);
void rustaufs_touch_atime(struct file *file);
const unsigned char *rustaufs_d_name(const struct dentry *dentry, unsigned int *len);
bool rustaufs_inode_is_new(struct inode *inode);
const struct cred *rustaufs_override_creds(const struct cred *cred);
void rustaufs_revert_creds(const struct cred *old);
void rustaufs_inode_lock(struct inode *inode);
void rustaufs_inode_unlock(struct inode *inode);
void rustaufs_remove_inode_hash(struct inode *inode);
void rustaufs_iattr_set_ids(struct iattr *attr, kuid_t uid, kgid_t gid);
unsigned long rustaufs_vma_flags(const struct vm_area_struct *vma);
kuid_t rustaufs_current_fsuid(void);
kgid_t rustaufs_current_fsgid(void);
void rustaufs_do_delayed_call(struct delayed_call *call);
bool rustaufs_signal_pending(void);
bool rustaufs_in_compat_syscall(void);
void rustaufs_vm_flags_clear(struct vm_area_struct *vma, unsigned long flags);
size_t rustaufs_iov_iter_count(const struct iov_iter *i);
void rustaufs_posix_acl_release(struct posix_acl *acl);
bool rustaufs_is_posixacl(const struct inode *inode);
void rustaufs_acl_dont_cache(struct inode *inode);
umode_t rustaufs_mode_strip_umask(const struct inode *dir, umode_t mode);
int rustaufs_vfs_parse_fs_string(struct fs_context *fc, const char *key, const char *value);
