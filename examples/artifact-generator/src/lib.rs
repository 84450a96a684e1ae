//! The example `ArtifactGenerator` controller: a Rust counterpart of
//! [fluxcd/source-watcher](https://github.com/fluxcd/source-watcher) built on the
//! flux-artifact SDK.
//!
//! - [`api`]: the `ArtifactGenerator` custom resource
//!   (`source.extensions.fluxcd.io/v1beta1`), field for field source-watcher's, so
//!   manifests written for source-watcher apply unchanged.
//! - [`validate`]: the checks made when a generator is read.
//! - [`expand_artifacts`]: `pathPattern`, one set of artifacts per matching directory.
//! - [`external_artifact`], [`set_artifact_revisions`], [`hash_observed_sources`]: what
//!   is published for a built artifact.
//! - [`Error`] and [`ErrorKind`]: every failure, with a stable kind.

pub mod api;
mod error;
mod names;
mod observed;
mod pathpattern;
mod render;
mod validation;

pub use crate::{
    api::ArtifactGenerator,
    error::{Error, ErrorKind},
    observed::{ObservedSource, hash_observed_sources},
    pathpattern::{ArtifactRequest, expand_artifacts},
    render::{CONTROLLER_NAME, external_artifact, extra_metadata, set_artifact_revisions},
    validation::{Warning, cross_namespace_source, validate},
};
