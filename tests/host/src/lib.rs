//! Host-side unit tests for the parts of rustaufs that use no kernel types.
//!
//! The module sources are compiled here unchanged through `#[path]`, so these tests
//! check the very code that goes into `rustaufs.ko`.

#[path = "../../../rust/opts.rs"]
pub mod opts;

#[path = "../../../rust/whiteout.rs"]
pub mod whiteout;

#[path = "../../../rust/dirpos.rs"]
pub mod dirpos;

#[cfg(test)]
mod opts_tests;
#[cfg(test)]
mod whiteout_tests;
#[cfg(test)]
mod dirpos_tests;
