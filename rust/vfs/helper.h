/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of rustaufs's private bindgen run (rust/vfs/bindings_generated.rs).
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

/* Flag macros, as enumerators bindgen can read. */
enum {
	RUSTAUFS_SB_RDONLY = SB_RDONLY,
	RUSTAUFS_SB_NOSEC = SB_NOSEC,
	RUSTAUFS_LOOKUP_FOLLOW = LOOKUP_FOLLOW,
	RUSTAUFS_LOOKUP_DIRECTORY = LOOKUP_DIRECTORY,
	RUSTAUFS_LOOKUP_RCU = LOOKUP_RCU,
	RUSTAUFS_FMODE_NOWAIT = (__force int)FMODE_NOWAIT,
	RUSTAUFS_FMODE_CAN_ODIRECT = (__force int)FMODE_CAN_ODIRECT,
	RUSTAUFS_FS_REQUIRES_DEV = FS_REQUIRES_DEV,
	RUSTAUFS_FILESYSTEM_MAX_STACK_DEPTH = FILESYSTEM_MAX_STACK_DEPTH,
	RUSTAUFS_MAX_LFS_FILESIZE_SHIFT = 63,
	RUSTAUFS_ENOPARAM = ENOPARAM,
	RUSTAUFS_FS_CONTEXT_FOR_RECONFIGURE = FS_CONTEXT_FOR_RECONFIGURE,
	RUSTAUFS_STATX_INO = STATX_INO,
	RUSTAUFS_O_NOATIME = O_NOATIME,
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
int rustaufs_vfs_parse_fs_string(struct fs_context *fc, const char *key, const char *value);
