//! The workspace README's Rust code blocks, compiled: `build.rs` writes each block into a
//! module of its own (named after the README line it opens on), built with exactly the
//! dependencies the README tells a reader to add (`tests/dependencies.rs` holds this
//! crate's `[dependencies]` to the README's block). A README example that stops compiling,
//! or that needs a crate or a feature the README does not list, fails the build.
//!
//! Not published, and with no API of its own.

include!(concat!(env!("OUT_DIR"), "/readme.rs"));
