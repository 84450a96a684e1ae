//! The example `ArtifactGenerator` controller: a Rust counterpart of
//! [fluxcd/source-watcher](https://github.com/fluxcd/source-watcher) built on the
//! flux-artifact SDK. The local mode (`artifact-generator build`) and the controller
//! share everything here: read a generator, validate it, expand its `pathPattern`,
//! build each artifact, and render what is published.
//!
//! ```
//! use std::{collections::BTreeMap, fs};
//! use artifact_generator::{ArtifactGenerator, CONTROLLER_NAME, expand_artifacts, external_artifact, validate};
//! use flux_artifact::storage::Artifact;
//!
//! // A generator, as written for source-watcher.
//! let generator: ArtifactGenerator = serde_yaml_ng::from_str(r#"
//! apiVersion: source.extensions.fluxcd.io/v1beta1
//! kind: ArtifactGenerator
//! metadata: { name: apps, namespace: flux-system }
//! spec:
//!   sources: [{ alias: repo, kind: GitRepository, name: monorepo }]
//!   pathPattern: "@repo/apps/{app}"
//!   artifacts:
//!     - name: "{app}"
//!       originRevision: "@repo"
//!       copy: [{ from: "@repo/apps/{app}/**", to: "@artifact/" }]
//! "#)?;
//! assert!(validate(&generator)?.is_empty(), "no warnings");
//!
//! // The source, as fetched: one artifact per directory under apps/.
//! let repo = tempfile::tempdir()?;
//! fs::create_dir_all(repo.path().join("apps/frontend"))?;
//! fs::create_dir_all(repo.path().join("apps/backend"))?;
//! let sources = BTreeMap::from([("repo".to_owned(), repo.path().to_owned())]);
//! let requests = expand_artifacts(&generator.spec, &sources)?;
//! assert_eq!(requests[0].artifact.name, "backend");
//! assert_eq!(requests[0].artifact.copy[0].from, "@repo/apps/backend/**");
//!
//! // Once built and stored, each becomes an ExternalArtifact.
//! let artifact = Artifact { revision: "latest@sha256:…".into(), ..Artifact::default() };
//! let object = external_artifact(&generator, &requests[0], &artifact, CONTROLLER_NAME);
//! assert_eq!(object.metadata.labels.unwrap()["app"], "backend");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`api`]: the `ArtifactGenerator` custom resource
//!   (`source.extensions.fluxcd.io/v1beta1`), field for field source-watcher's, so
//!   manifests written for source-watcher apply unchanged; [`api::crd`] is its CRD.
//! - [`validate`]: the checks made when a generator is read (and
//!   [`cross_namespace_source`] for the controller's `--no-cross-namespace-refs`).
//! - [`expand_artifacts`]: `pathPattern`, one set of artifacts per matching directory.
//! - [`set_artifact_revisions`], [`external_artifact`], [`extra_metadata`]: what is
//!   published for a built artifact; [`hash_observed_sources`]: the controller's record
//!   of its sources.
//! - [`Error`] and [`ErrorKind`]: every failure, with a stable kind and whether it is
//!   terminal.
//!
//! `docs/artifact-generator.md` in the repository has the whole story: the API, the copy
//! semantics, the CLI and every difference from source-watcher.

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
