//! Build Flux artifact producers in Rust: one dependency for the whole
//! [Flux Artifact SDK](https://github.com/fluxcd/pkg/tree/main/artifact) port.
//!
//! ```
//! use flux_artifact::{
//!     config::Options,
//!     fetch::ArchiveFetcher,
//!     server::Server,
//!     storage::{ArchiveSource, AsyncStorage, Storage},
//! };
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let storage_dir = tempfile::tempdir()?;
//! # let manifests = tempfile::tempdir()?;
//! # std::fs::write(manifests.path().join("app.yaml"), "kind: ConfigMap\n")?;
//! # let consumer = tempfile::tempdir()?;
//! let mut options = Options {
//!     storage_path: storage_dir.path().into(),
//!     storage_address: "127.0.0.1:0".into(),
//!     ..Options::default()
//! };
//! let server = Server::bind(&options).await?;
//!
//! // URLs name the port the server got.
//! options.storage_adv_address = server.local_addr().to_string();
//!
//! // Produce: archive a directory into the storage, as <digest>.tar.gz.
//! let storage = AsyncStorage::new(Storage::new(&options)?);
//! let stored = storage
//!     .archive_content_addressed("ExternalArtifact", &("apps", "podinfo"), ArchiveSource::dir(manifests.path()))
//!     .await?;
//! let artifact = &stored.artifact;
//!
//! // Serve it, and consume it as Flux's kustomize-controller would.
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn(server.serve(async { let _ = stopped.await; }));
//! let fetched = ArchiveFetcher::builder().build().fetch(&artifact.url, &artifact.digest, consumer.path().join("podinfo")).await?;
//! assert_eq!(fetched.extracted.files, 1);
//! assert_eq!(std::fs::read_to_string(consumer.path().join("podinfo/app.yaml"))?, "kind: ConfigMap\n");
//!
//! let _ = stop.send(());
//! serving.await??;
//! # Ok(())
//! # }
//! ```
//!
//! The modules are the workspace's crates, re-exported like `kube` re-exports
//! kube-client, kube-core and kube-runtime:
//!
//! | module | crate | what it is |
//! |---|---|---|
//! | [`digest`] | `flux-artifact-digest` | algorithms, `Digest`, streaming digesters and verifiers |
//! | [`config`] | `flux-artifact-config` | `Options`: the Go SDK's flags, env vars and defaults |
//! | [`storage`] | `flux-artifact-storage` | `Artifact`, `Storage` and its async handle `AsyncStorage`: archive, write, lock, verify, GC, untar |
//! | [`server`] | `flux-artifact-server` | the HTTP server consumers download from |
//! | [`fetch`] | `flux-artifact-fetch` | the consumer side: download, verify, extract |
//! | `kube` (feature `kube`) | `flux-artifact-kube` | `ExternalArtifact`, Flux sources, publishing, the integrity check |
//! | `runtime` (feature `kube`) | `flux-artifact-runtime` | around a kube-rs `Controller`: leader gate, finalizer cleanup, orphan sweep, status conditions, Kubernetes and Flux events, retry backoff and jitter, `/healthz`, `/readyz` and `/metrics` |
//!
//! # A whole controller
//!
//! The crate's `examples/controller.rs` is a kube-rs `Controller` built on all of this,
//! to copy from: the leader gate and its start-up checks, content-addressed archives of
//! files held in memory, publishing, garbage collection, cleanup through a finalizer,
//! status conditions, events, retries, probes and metrics. `cargo run -p flux-artifact
//! --example controller --features kube,metrics -- --help` lists its flags; the
//! repository's `docs/kubernetes.md` says what it needs from a cluster.
//!
//! # Features
//!
//! - `clap` (default): `clap::Args` for [`config::Options`], so a binary gets the Go
//!   SDK's `--storage-path`, `--storage-addr`, … flags with `#[command(flatten)]`.
//! - `kube`: the `kube` and `runtime` modules. Like every library on `k8s-openapi`, it
//!   leaves the choice of Kubernetes version to the final binary: enable a version
//!   feature on your own `k8s-openapi` dependency (e.g. `features = ["v1_33"]`) or set
//!   `K8S_OPENAPI_ENABLED_VERSION` in `.cargo/config.toml`'s `[env]`. The runtime's
//!   health endpoint (`/healthz`, `/readyz`) comes with it (runtime feature `probes`).
//! - `metrics`: Prometheus metrics with `prometheus-client`: `server::ServerMetrics`
//!   (the artifact server's requests, bytes, connections and latency,
//!   `flux_artifact_server_*`) and `storage::ArchiveMetrics` (archive duration and
//!   bytes); with `kube`: `/metrics` on the runtime's endpoint and
//!   `runtime::metrics::ReconcileMetrics`, the reconcile metrics Flux's controllers
//!   expose (`controller_runtime_reconcile_total`, `gotk_reconcile_duration_seconds`, …).
#![cfg_attr(feature = "kube", doc = include_str!("flow.md"))]

pub use flux_artifact_config as config;
pub use flux_artifact_digest as digest;
pub use flux_artifact_fetch as fetch;
#[cfg(feature = "kube")]
pub use flux_artifact_kube as kube;
#[cfg(feature = "kube")]
pub use flux_artifact_runtime as runtime;
pub use flux_artifact_server as server;
pub use flux_artifact_storage as storage;

// The workspace README's code is compiled by `examples/readme` (the `readme-check`
// member), with the README's own `[dependencies]` rather than this crate's.
