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
