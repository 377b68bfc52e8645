// SPDX-License-Identifier: GPL-2.0
//! File handles: our `export_operations` (trampolines into [`crate::export`]),
//! and the branch side of them, encoding a branch inode's handle and decoding
//! one on a branch mount (`exportfs_encode_inode_fh`, `exportfs_decode_fh_raw`).

use super::bindings;
use super::dentry::{name_copy_of, LowerDentry};
use super::inode::{Inode, LowerInode};
use super::ops::Table;
use super::path::PrivateMount;
use super::sb::SuperBlock;
use core::ptr::NonNull;
use kernel::error::from_err_ptr;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::sync::aref::ARef;

/// The most words a handle has (`MAX_HANDLE_SZ` is 128 bytes).
pub(crate) const MAX_WORDS: usize = 32;
/// `FILEID_INVALID`: what `encode_fh` returns when the buffer is too small.
const FILEID_INVALID: c_int = 0xff;

impl LowerInode {
    /// Encodes this branch inode's handle into `out` (with `parent`, the branch
    /// directory it was found in, when the filesystem can use one to reconnect
    /// the object later). Returns the number of words and the handle type.
    pub(crate) fn encode_fh(&self, parent: Option<&LowerInode>, out: &mut [u32; MAX_WORDS]) -> Result<(usize, i32)> {
        let mut len = MAX_WORDS as c_int;
        let parent = parent.map_or(core::ptr::null_mut(), |p| p.as_ptr());
        // SAFETY: both inodes are live (borrowed); `out` is a `struct fid` of
        // `len` words (a `fid` is a union over its raw words).
        let t = unsafe { bindings::exportfs_encode_inode_fh(self.as_ptr(), out.as_mut_ptr().cast(), &mut len, parent, 0) };
        if t < 0 {
            return Err(Error::from_errno(t));
        }
        if t == FILEID_INVALID || len < 0 || len as usize > MAX_WORDS {
            return Err(EOVERFLOW);
        }
        Ok((len as usize, t))
    }
}

/// `acceptable` of `exportfs_decode_fh_raw`: only a dentry connected to its
/// filesystem's root, so that its path can be followed through the union.
unsafe extern "C" fn connected(_ctx: *mut c_void, d: *mut bindings::dentry) -> c_int {
    // SAFETY: exportfs passes a live dentry; `d_flags` is read as `IS_ROOT`-style
    // checks do.
    let flags = unsafe { (*d).d_flags };
    (flags & bindings::RUSTAUFS_DCACHE_DISCONNECTED as u32 == 0) as c_int
}

impl PrivateMount {
    /// Decodes the handle `words` of type `fh_type` on this branch into a
    /// connected dentry (its directories reconnected, as for NFS).
    pub(crate) fn decode_fh(&self, words: &[u32], fh_type: i32) -> Result<ARef<LowerDentry>> {
        let mut buf = [0u32; MAX_WORDS];
        let len = words.len().min(MAX_WORDS);
        buf[..len].copy_from_slice(&words[..len]);
        // SAFETY: the mount is ours (type invariant); `buf` is a `struct fid` of
        // `len` words; `connected` only reads the dentry it is given.
        let d = unsafe {
            bindings::exportfs_decode_fh_raw(
                self.as_ptr(),
                buf.as_mut_ptr().cast(),
                len as c_int,
                fh_type,
                0,
                Some(connected),
                core::ptr::null_mut(),
            )
        };
        let d = NonNull::new(from_err_ptr(d)?).ok_or(ESTALE)?;
        // SAFETY: a counted dentry we now own.
        Ok(unsafe { LowerDentry::adopt(d) })
    }
}

impl LowerDentry {
    /// A counted reference to the parent (`dget_parent`); a filesystem root's
    /// parent is itself.
    pub(crate) fn parent_ref(&self) -> ARef<LowerDentry> {
        // SAFETY: a valid dentry; `dget_parent` returns a counted dentry.
        unsafe { LowerDentry::adopt(NonNull::new_unchecked(bindings::dget_parent(self.as_ptr()))) }
    }

    /// Whether this is the root of its filesystem (or a disconnected alias).
    pub(crate) fn is_fs_root(&self) -> bool {
        // SAFETY: `d_parent` of a valid dentry is read as `IS_ROOT` does.
        unsafe { core::ptr::eq((*self.as_ptr()).d_parent, self.as_ptr()) }
    }

    /// A copy of the name, taken so that a concurrent rename cannot tear it.
    pub(crate) fn name_copy(&self) -> Result<KVec<u8>> {
        // SAFETY: the dentry is valid.
        unsafe { name_copy_of(self.as_ptr()) }
    }
}

unsafe extern "C" fn encode_fh(inode: *mut bindings::inode, fh: *mut u32, max_len: *mut c_int, _parent: *mut bindings::inode) -> c_int {
    // SAFETY: the VFS passes one of our live inodes.
    let inode = unsafe { Inode::from_raw(inode) };
    // Every failure is `FILEID_INVALID`, which name_to_handle_at(2) reports as
    // `EOVERFLOW` and nfsd as "cannot export", as overlayfs does: the VFS does not pass
    // a negative errno from `encode_fh` on (it takes it for a type with flag bits).
    // The failures are a handle longer than any (`EOVERFLOW`) and a branch filesystem
    // without handles (`EOPNOTSUPP`); `*max_len` is left as the caller's, so a caller
    // growing its buffer on `EOVERFLOW` sees no larger size to try.
    let Ok((words, len)) = crate::export::encode(inode) else {
        return FILEID_INVALID;
    };
    // SAFETY: `max_len` is the caller's buffer size in words; `fh` has that many.
    unsafe {
        let room = usize::try_from(*max_len).unwrap_or(0);
        *max_len = len as c_int;
        if room < len {
            return FILEID_INVALID;
        }
        core::ptr::copy_nonoverlapping(words.as_ptr(), fh, len);
    }
    crate::export::FH_TYPE
}

unsafe extern "C" fn fh_to_dentry(sb: *mut bindings::super_block, fid: *mut bindings::fid, fh_len: c_int, fh_type: c_int) -> *mut bindings::dentry {
    let len = usize::try_from(fh_len).unwrap_or(0).min(MAX_WORDS);
    // SAFETY: the VFS passes our live superblock and a handle of `fh_len` words.
    let (sb, words) = unsafe { (SuperBlock::from_raw(sb), core::slice::from_raw_parts(fid.cast::<u32>(), len)) };
    match crate::export::decode(sb, words, fh_type) {
        Ok(d) => ARef::into_raw(d).as_ptr().cast(),
        // CAST: the kernel encodes errors as pointers (ERR_PTR).
        Err(e) => e.to_errno() as isize as *mut bindings::dentry,
    }
}

unsafe extern "C" fn get_parent(_child: *mut bindings::dentry) -> *mut bindings::dentry {
    // Our handles decode to connected dentries only, so exportfs never needs to
    // reconnect one of our directories.
    ESTALE.to_errno() as isize as *mut bindings::dentry
}

/// Our `export_operations`.
pub(crate) static EXPORT_OPS: Table<bindings::export_operations> = Table(bindings::export_operations {
    encode_fh: Some(encode_fh),
    fh_to_dentry: Some(fh_to_dentry),
    get_parent: Some(get_parent),
    // SAFETY: the remaining callbacks are optional and null means "not provided".
    ..unsafe { core::mem::zeroed() }
});
