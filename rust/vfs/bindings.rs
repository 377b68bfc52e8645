// SPDX-License-Identifier: GPL-2.0
//! The C API: the kernel crate's bindings plus rustaufs's private bindgen output.
//!
//! `build/bindgen/vfs_bindings.rs` is produced by Kbuild from `helper.h` (a build
//! product, kept out of the source tree). Its items shadow the
//! glob import, so `fs_context` and `fs_parameter` (opaque in the kernel crate) have
//! their full definitions here; pointers to them are cast at the boundary. Nothing
//! outside `rust/vfs/` imports this module.
#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    dead_code,
    unused_imports,
    improper_ctypes,
    unsafe_op_in_unsafe_fn,
    unreachable_pub,
    unnecessary_transmutes,
    missing_docs,
    clippy::all
)]

pub(crate) use kernel::bindings::*;
use kernel::ffi;

include!("../../build/bindgen/vfs_bindings.rs");
