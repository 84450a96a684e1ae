//! The example `ArtifactGenerator` controller: a Rust counterpart of
//! [fluxcd/source-watcher](https://github.com/fluxcd/source-watcher) built on the
//! flux-artifact SDK.
//!
//! - [`api`]: the `ArtifactGenerator` custom resource
//!   (`source.extensions.fluxcd.io/v1beta1`), field for field source-watcher's, so
//!   manifests written for source-watcher apply unchanged.
//! - [`builder`]: one output artifact plus its source trees become the artifact's
//!   content, with source-watcher's copy semantics.
//! - [`Error`] and [`ErrorKind`]: every failure, with a stable kind.

pub mod api;
pub mod builder;
mod error;

pub use crate::error::{Error, ErrorKind, SpecField};

/// Internals reached by the fuzz targets in `fuzz/`; compiled only with `--cfg fuzzing`:
/// the copy-spec parser and the doublestar matcher of excludes and Extract globs.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::builder::fuzzing::{ParsedCopy, Pattern, parse_copy};
}
