//! What a kube-rs controller that publishes Flux artifacts needs around its
//! `Controller`: leader election, cleanup when an owner goes, Flux-style status
//! conditions on its own objects, events, retries, health and metrics.
//!
//! A controller's start-up, as Flux's controllers do it: once this replica leads, check
//! what was stored before, sweep away storage nobody accounts for, then run the
//! Controller and the artifact server until shutdown or until the lease is lost.
//!
//! ```
//! use flux_artifact_kube::{Publisher, VerifyOptions, verify_stored_artifacts};
//! use flux_artifact_runtime::{cleanup::OrphanSweep, leader::LeaderElection};
//! use flux_artifact_storage::Storage;
//! # use http::{Request, Response};
//! # use kube::client::Body;
//! #
//! # /// A stand-in for the API server: no lease yet, no ExternalArtifacts.
//! # fn fake_api_server() -> kube::Client {
//! #     let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
//! #     tokio::spawn(async move {
//! #         while let Some((request, respond)) = handle.next_request().await {
//! #             let (parts, body) = request.into_parts();
//! #             let body = body.collect_bytes().await.unwrap();
//! #             let (status, answer) = match (parts.method.as_str(), parts.uri.path()) {
//! #                 ("GET", path) if path.contains("/leases/") => (404, serde_json::json!({
//! #                     "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404,
//! #                 })),
//! #                 ("POST" | "PUT", _) => {
//! #                     let mut lease: serde_json::Value = serde_json::from_slice(&body).unwrap();
//! #                     lease["metadata"]["resourceVersion"] = "1".into();
//! #                     (200, lease)
//! #                 }
//! #                 _ => (200, serde_json::json!({
//! #                     "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "ExternalArtifactList",
//! #                     "metadata": {}, "items": [],
//! #                 })),
//! #             };
//! #             let answer = Body::from(serde_json::to_vec(&answer).unwrap());
//! #             respond.send_response(Response::builder().status(status).body(answer).unwrap());
//! #         }
//! #     });
//! #     kube::Client::new(service, "default")
//! # }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let root = tempfile::tempdir()?;
//! # let options = flux_artifact_config::Options { storage_path: root.path().into(), ..Default::default() };
//! let storage = Storage::new(&options)?;
//! # // Left behind by an object deleted while the controller was down.
//! # let mut orphan = storage.new_artifact_for("ExternalArtifact", &("apps", "deleted"), "v1", "app.tar.gz")?;
//! # storage.copy(&mut orphan, &b"old"[..])?;
//! # let orphan_dir = storage.base_path().join("externalartifact/apps/deleted");
//! let client = fake_api_server(); // kube::Client::try_default().await? in a real controller
//! let publisher = Publisher::new(client.clone(), "podinfo-controller");
//!
//! let election = LeaderElection::new("podinfo-controller-leader-election", "flux-system");
//! # let election = election.with_identity("podinfo-controller-0");
//! let shutdown = std::future::pending::<()>(); // e.g. SIGTERM
//! let led = election
//!     .run(client.clone(), shutdown, |stop| async move {
//!         // 1. The integrity check: every published artifact still has its digest.
//!         let check = VerifyOptions::new(publisher.label_selector()).remove_corrupt(true);
//!         let integrity = verify_stored_artifacts(&client, &storage, &check).await?;
//!         println!("integrity check: {integrity}");
//!
//!         // 2. The orphan sweep: storage no ExternalArtifact accounts for.
//!         let sweep = OrphanSweep::new(publisher.label_selector());
//! #       let sweep = sweep.with_min_age(std::time::Duration::ZERO); // this example's orphan is brand new
//!         let swept = sweep.run(&client, &storage).await?;
//!         println!("orphan sweep: {swept}");
//!
//!         // 3. The Controller and the artifact server would run here, both stopping
//!         //    when `stop` is cancelled (shutdown) or dropped with this future (lease lost).
//!         let _ = stop;
//!         Ok::<_, Box<dyn std::error::Error>>(swept)
//!     })
//!     .await?; // Err(LeadershipLost): exit non-zero, and the pod restarts.
//!
//! let Some(swept) = led else {
//!     return Ok(()); // shut down before this replica led
//! };
//! assert_eq!(swept?.removed.len(), 1);
//! # assert!(!orphan_dir.exists());
//! # Ok(())
//! # }
//! ```
//!
//! # In a reconciler
//!
//! [`ArtifactFinalizer`](cleanup::ArtifactFinalizer) wraps kube-runtime's finalizer so
//! that deleting an object also removes its artifacts' storage;
//! [`StatusWriter`](status::StatusWriter) keeps the object's `Ready`, `Reconciling` and
//! `Stalled` conditions the way Flux's controllers do.
//!
//! ```no_run
//! use std::{sync::Arc, time::Duration};
//!
//! use flux_artifact_kube::{Publisher, conditions::reason};
//! use flux_artifact_runtime::{
//!     cleanup::{ArtifactFinalizer, FinalizerError},
//!     status::StatusWriter,
//! };
//! use kube::runtime::controller::Action;
//! # use flux_artifact_runtime::status::ReconcileStatus;
//! # use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
//! # #[derive(kube::CustomResource, serde::Deserialize, serde::Serialize, Clone, Debug, schemars::JsonSchema)]
//! # #[kube(group = "example.com", version = "v1", kind = "PodinfoSource", namespaced, status = "PodinfoSourceStatus")]
//! # struct PodinfoSourceSpec { url: String }
//! # #[derive(serde::Deserialize, serde::Serialize, Clone, Debug, Default, schemars::JsonSchema)]
//! # struct PodinfoSourceStatus { conditions: Vec<Condition> }
//! # impl ReconcileStatus for PodinfoSource {
//! #     fn conditions(&self) -> &[Condition] { self.status.as_ref().map_or(&[], |s| &s.conditions) }
//! # }
//! # async fn build_and_publish(_: &PodinfoSource, _: &Context) -> Result<String, Error> { Ok(String::new()) }
//!
//! /// What every reconcile shares.
//! struct Context {
//!     publisher: Publisher,
//!     status: StatusWriter,
//!     finalizer: ArtifactFinalizer<PodinfoSource>,
//! }
//!
//! #[derive(Debug, thiserror::Error)]
//! enum Error {
//!     #[error(transparent)]
//!     Kube(#[from] flux_artifact_kube::Error),
//!     #[error(transparent)]
//!     Storage(#[from] flux_artifact_storage::Error),
//! }
//!
//! async fn reconcile(source: Arc<PodinfoSource>, ctx: Arc<Context>) -> Result<Action, FinalizerError<Error>> {
//!     ctx.finalizer
//!         .reconcile(source, async |source| {
//!             let mut source = Arc::unwrap_or_clone(source);
//!             ctx.status.progressing(&mut source, "building artifact").await?;
//!             match build_and_publish(&source, &ctx).await {
//!                 Ok(revision) => {
//!                     let message = format!("stored artifact for revision '{revision}'");
//!                     ctx.status.succeeded(&mut source, message).await?;
//!                     Ok(Action::requeue(Duration::from_secs(3600)))
//!                 }
//!                 Err(error) => {
//!                     ctx.status.failed(&mut source, reason::BUILD_FAILED, error.to_string()).await?;
//!                     Err(error)
//!                 }
//!             }
//!         })
//!         .await
//! }
//!
//! fn error_policy(_: Arc<PodinfoSource>, error: &FinalizerError<Error>, _: Arc<Context>) -> Action {
//!     match error {
//!         // The object changed since it was read: go again with the new version.
//!         FinalizerError::Apply(Error::Kube(e)) | FinalizerError::Finalizer(e) if e.is_conflict() => {
//!             Action::requeue(Duration::from_millis(100))
//!         }
//!         _ => Action::requeue(Duration::from_secs(5)),
//!     }
//! }
//! ```
//!
//! # Events, health, metrics and retries
//!
//! The process plumbing every Flux controller has, for a kube-rs one:
//!
//! | module | what | Flux (Go) counterpart |
//! |---|---|---|
//! | [`events`] | [`EventRecorder`](events::EventRecorder): one call records a Kubernetes Event and posts the Flux event to notification-controller (`--events-addr`) | `fluxcd/pkg/runtime/events` |
//! | [`backoff`] | [`RetryBackoff`](backoff::RetryBackoff) for the `error_policy` (`--min-retry-delay`, `--max-retry-delay`), [`Jitter`](backoff::Jitter) for the requeue after a success (`--interval-jitter-percentage`) | controller-runtime's rate limiter, `fluxcd/pkg/runtime/jitter` |
//! | `endpoint` (feature `probes`, default) | `/healthz`, `/readyz` with readiness checks the controller flips, and `/metrics` | controller-runtime's health probes and metrics server |
//! | `metrics` (feature `metrics`) | `ReconcileMetrics`: reconcile counts, errors and durations under Flux's names | `fluxcd/pkg/runtime/metrics`, controller-runtime's metrics |
//!
//! A controller wires them like this (the flags are Flux's; see each module for more):
//!
//! ```no_run
//! # #[cfg(feature = "metrics")]
//! # async fn run(client: kube::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use flux_artifact_runtime::{
//!     backoff::{Jitter, RetryBackoff},
//!     endpoint::{Endpoint, Readiness},
//!     events::EventRecorder,
//!     metrics::ReconcileMetrics,
//! };
//! use prometheus_client::registry::Registry;
//!
//! let mut registry = Registry::default();
//! let reconcile_metrics = ReconcileMetrics::new(&mut registry);
//! let readiness = Readiness::new();
//! let leading = readiness.check("leader");
//!
//! // Both endpoints stop when `stop` sends (e.g. on SIGTERM).
//! let (stop, _) = tokio::sync::broadcast::channel::<()>(1);
//! let stopped = |mut signal: tokio::sync::broadcast::Receiver<()>| async move { let _ = signal.recv().await; };
//! let health = Endpoint::bind(":9440").await?.with_readiness(readiness.clone());
//! let metrics = Endpoint::bind(":8080").await?.with_metrics(Arc::new(registry));
//! tokio::spawn(health.serve(stopped(stop.subscribe())));
//! tokio::spawn(metrics.serve(stopped(stop.subscribe())));
//!
//! let recorder = EventRecorder::new(client, "artifact-generator")
//!     .with_events_addr("http://notification-controller.flux-system.svc.cluster.local./")?;
//! let backoff = RetryBackoff::default();
//! let jitter = Jitter::default();
//! // … put recorder, backoff, jitter and reconcile_metrics in the Controller's context,
//! // call `leading.set_ready(true)` once elected, and run the Controller.
//! # let _ = (recorder, backoff, jitter, reconcile_metrics, leading, stop);
//! # Ok(())
//! # }
//! ```

//!
//! # Modules
//!
//! - [`leader`] has the leader gate, [`LeaderElection`](leader::LeaderElection), with
//!   Flux's lease settings, and the start-up order it supports.
//! - [`cleanup`] has [`ArtifactFinalizer`](cleanup::ArtifactFinalizer) and
//!   [`OrphanSweep`](cleanup::OrphanSweep).
//! - [`status`] has [`ReconcileStatus`](status::ReconcileStatus),
//!   [`ReconcileState`](status::ReconcileState) and [`StatusWriter`](status::StatusWriter).
//! - [`events`], [`backoff`], `endpoint` and `metrics`: see above.
//! - [`ErrorChain`] displays an error with its causes, for condition and event
//!   messages.
//!
//! # Permissions
//!
//! Besides what `flux-artifact-kube` needs: `get`, `create`, `update` on
//! `coordination.k8s.io` `leases` in the lease's namespace (the leader gate); `patch` on
//! your resource (the finalizer) and on its `status` (the status writer); `list` on
//! `externalartifacts` (the finalizer and the sweep), and `delete` only if the finalizer
//! deletes ExternalArtifacts. The repository's `docs/kubernetes.md` has the manifests.

pub mod backoff;
pub mod cleanup;
#[cfg(feature = "probes")]
pub mod endpoint;
mod error_chain;
pub mod events;
pub mod leader;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod status;

pub use error_chain::ErrorChain;
