//! The example `ArtifactGenerator` controller: a Rust counterpart of
//! [fluxcd/source-watcher](https://github.com/fluxcd/source-watcher) built on the
//! flux-artifact SDK. The local mode (`artifact-generator build`) and the controller
//! share everything here: read a generator, validate it, expand its `pathPattern`,
//! build each artifact, and render what is published.
//!
//! ```
//! use std::{collections::BTreeMap, fs};
//! use artifact_generator::{
//!     ArtifactGenerator, CONTROLLER_NAME, builder::ArtifactBuilder, expand_artifacts, external_artifact,
//!     store_artifact, validate,
//! };
//! use flux_artifact::{config::Options, storage::Storage};
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
//!       copy: [{ from: "@repo/apps/{app}/**", to: "@artifact/" }]
//! "#)?;
//! assert!(validate(&generator)?.is_empty(), "no warnings");
//!
//! // Its source, as fetched: one artifact per directory under apps/.
//! let repo = tempfile::tempdir()?;
//! for app in ["backend", "frontend"] {
//!     fs::create_dir_all(repo.path().join("apps").join(app))?;
//!     fs::write(repo.path().join("apps").join(app).join("deploy.yaml"), format!("name: {app}\n"))?;
//! }
//! let sources = BTreeMap::from([("repo".to_owned(), repo.path().to_owned())]);
//! let requests = expand_artifacts(&generator.spec, &sources)?;
//! assert_eq!(requests[0].artifact.copy[0].from, "@repo/apps/backend/**");
//!
//! // Build and store each, and render the ExternalArtifact that publishes it.
//! # let storage_dir = tempfile::tempdir()?;
//! let storage = Storage::new(&Options { storage_path: storage_dir.path().into(), ..Options::default() })?;
//! for request in &requests {
//!     let content = ArtifactBuilder::new(&request.artifact, &sources).build()?;
//!     let stored = store_artifact(&storage, "flux-system", &request.artifact.name, &content)?;
//!     let object = external_artifact(&generator, request, &stored.artifact, CONTROLLER_NAME);
//!     assert_eq!(object.metadata.labels.unwrap()["app"], request.artifact.name);
//!     storage.verify_artifact(&stored.artifact)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! - [`api`]: the `ArtifactGenerator` custom resource
//!   (`source.extensions.fluxcd.io/v1beta1`), field for field source-watcher's, so
//!   manifests written for source-watcher apply unchanged; [`api::crd`] is its CRD.
//! - [`validate`]: the checks made when a generator is read (and
//!   [`cross_namespace_source`] for the controller's `--no-cross-namespace-refs`).
//! - [`expand_artifacts`]: `pathPattern`, one set of artifacts per matching directory.
//! - [`builder`] and [`store_artifact`]: the copy operations applied, and the result
//!   archived under its digest without a staging copy.
//! - [`set_artifact_revisions`], [`external_artifact`], [`extra_metadata`]: what is
//!   published for a built artifact; [`hash_observed_sources`]: the controller's record
//!   of its sources.
//! - [`Error`] and [`ErrorKind`]: every failure, with a stable kind and whether it is
//!   terminal.
//! - [`controller`]: the Kubernetes controller (`artifact-generator run`) that reconciles
//!   generators with all of the above, as source-watcher does.
//!
//! `docs/artifact-generator.md` in the repository has the whole story: the API, the copy
//! semantics, the CLI and every difference from source-watcher.

pub mod api;
pub mod builder;
pub mod controller;
mod error;
mod names;
mod observed;
mod pathpattern;
mod render;
mod store;
mod validation;

pub use crate::{
    api::ArtifactGenerator,
    error::{Error, ErrorKind, SpecField},
    observed::{ObservedSource, hash_observed_sources},
    pathpattern::{ArtifactRequest, expand_artifacts},
    render::{CONTROLLER_NAME, external_artifact, extra_metadata, set_artifact_revisions},
    store::store_artifact,
    validation::{Warning, cross_namespace_source, validate},
};
