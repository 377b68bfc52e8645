// SPDX-License-Identifier: GPL-2.0
//! Work run by the current task on its way back to user space (`task_work_add`),
//! where it holds no locks: used by `->mmap`, which runs under `mmap_lock` and so
//! cannot copy up itself.
//!
//! C header: [`include/linux/task_work.h`](srctree/include/linux/task_work.h)

use super::bindings;
use kernel::prelude::*;

/// A queued closure with the list head the task-work code links.
///
/// # Invariants
///
/// `head` is the first field, so a pointer to it is a pointer to the whole; once
/// queued, the allocation is owned by the task's work list until `run` frees it.
#[repr(C)]
struct Deferred<F> {
    head: bindings::callback_head,
    work: F,
}

/// Runs `work` when the current task next returns to user space (or exits). The
/// task is flagged as with a signal (`TWA_SIGNAL_NO_IPI`), so a system call that
/// returns `ERESTARTNOINTR` now is restarted after `work` ran.
pub(crate) fn on_return_to_user<F: FnOnce() + Send + 'static>(work: F) -> Result {
    let head = bindings::callback_head { next: core::ptr::null_mut(), func: Some(run::<F>) };
    let raw = KBox::into_raw(KBox::new(Deferred { head, work }, GFP_KERNEL)?);
    // SAFETY: `raw` is a valid allocation whose first field is the list head, and
    // it stays valid until `run` frees it; the current task is live.
    let r = unsafe {
        bindings::task_work_add(
            kernel::task::Task::current_raw(),
            &raw mut (*raw).head,
            bindings::task_work_notify_mode_TWA_SIGNAL_NO_IPI,
        )
    };
    if r != 0 {
        // SAFETY: not queued, so still ours.
        drop(unsafe { KBox::from_raw(raw) });
        return Err(Error::from_errno(r));
    }
    Ok(())
}

unsafe extern "C" fn run<F: FnOnce()>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the first field of the `Deferred<F>` queued by
    // `on_return_to_user`; the task-work code hands it back exactly once.
    let d = unsafe { KBox::from_raw(head.cast::<Deferred<F>>()) };
    (KBox::into_inner(d).work)();
}
