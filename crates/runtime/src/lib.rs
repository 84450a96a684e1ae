//! What a kube-rs controller that publishes Flux artifacts needs around its
//! `Controller`: leader election, cleanup when the owner goes, status conditions on
//! its own objects, events, health and metrics.
//!
//! The modules arrive with the work of the "What every ExternalArtifact producer needs"
//! issue; this crate is their home, next to `flux-artifact-kube` as kube-runtime sits
//! next to kube-client.
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

pub mod backoff;
#[cfg(feature = "probes")]
pub mod endpoint;
pub mod events;
#[cfg(feature = "metrics")]
pub mod metrics;
