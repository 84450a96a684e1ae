//! The Kubernetes controller: what `artifact-generator run` does once it leads, the
//! Rust counterpart of source-watcher's `ArtifactGeneratorReconciler` on kube-rs's
//! [`Controller`](kube::runtime::Controller).
//!
//! - [`run`] watches `ArtifactGenerator`s and the five Flux source kinds; a generator is
//!   reconciled when its spec changes (or `flux reconcile` asks), and when a source it
//!   uses gets a new artifact.
//! - [`reconcile`] brings one generator up to date: finalizer, validation, its sources
//!   observed, drift detected (an unchanged generator costs no rebuild and no write),
//!   sources fetched and verified, artifacts built and stored, `ExternalArtifact`s
//!   applied, orphans and old files removed, status and events written.
//! - [`error_policy`] retries failed reconciles with an exponential backoff between
//!   [`Settings::min_retry_delay`] and [`Settings::max_retry_delay`].
//!
//! ```no_run
//! use std::sync::Arc;
//!
//! use artifact_generator::controller::{Context, Settings, run};
//! use flux_artifact::{config::Options, runtime::events::EventRecorder, storage::{AsyncStorage, Storage}};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let storage = AsyncStorage::new(Storage::new(&Options::default())?);
//! let ctx = Context::new(client.clone(), storage, Settings::default())
//!     .with_events(EventRecorder::new(client, artifact_generator::CONTROLLER_NAME));
//! // Runs until Ctrl-C; reconciles in flight finish first.
//! run(Arc::new(ctx), async { tokio::signal::ctrl_c().await.unwrap_or_default() }).await?;
//! # Ok(()) }
//! ```
//!
//! The requests it makes, and so the permissions it needs, are those of
//! `examples/artifact-generator/deploy/rbac.yaml` (a test checks that the manifest grants
//! exactly what the reconcile flows send).

mod context;
mod drift;
mod reconcile;
mod sources;
mod status;
mod watch;

pub use self::{
    context::{Context, Settings, WatchScope},
    reconcile::{ReconcileError, error_policy, reconcile},
    watch::{ControllerError, run},
};
