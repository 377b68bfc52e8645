// SPDX-License-Identifier: GPL-2.0
//! Acting with other credentials: the mounter's, for aufs's internal changes to
//! a branch (copy-up, whiteouts, the work directory).
//!
//! C header: [`include/linux/cred.h`](srctree/include/linux/cred.h)

use super::bindings;
use core::marker::PhantomData;
use kernel::cred::Credential;

/// The current task acts with other credentials until this guard drops
/// (`override_creds`/`revert_creds`).
///
/// # Invariants
///
/// `old` is what `override_creds` returned on this task; the guard is neither
/// `Send` nor `Sync`, so it is dropped on the task that made it, and guards nest
/// like the stack they are on.
pub(crate) struct CredGuard<'a> {
    old: *const bindings::cred,
    _cred: PhantomData<&'a Credential>,
}

impl<'a> CredGuard<'a> {
    /// Makes `cred` the current task's credentials for the guard's life.
    pub(crate) fn new(cred: &'a Credential) -> Self {
        // SAFETY: `cred` is live for `'a`, which the guard does not outlive;
        // `override_creds` does not take a count, so the borrow must cover the
        // override, which the lifetime ensures.
        let old = unsafe { bindings::rustaufs_override_creds(cred.as_ptr().cast()) };
        // INVARIANT: `old` comes from `override_creds` on this task.
        CredGuard { old, _cred: PhantomData }
    }
}

impl Drop for CredGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant `old` is this task's previous credentials.
        unsafe { bindings::rustaufs_revert_creds(self.old) };
    }
}

/// The current task's filesystem user and group ids (`current_fsuid`/`fsgid`),
/// for the owner of objects built on a branch on its behalf.
#[derive(Clone, Copy)]
pub(crate) struct Owner {
    pub(crate) uid: bindings::kuid_t,
    pub(crate) gid: bindings::kgid_t,
}

impl Owner {
    /// The caller's ids.
    pub(crate) fn current() -> Owner {
        // SAFETY: no preconditions; reads the current task's credentials.
        unsafe { Owner { uid: bindings::rustaufs_current_fsuid(), gid: bindings::rustaufs_current_fsgid() } }
    }
}
