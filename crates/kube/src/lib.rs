//! Flux's `ExternalArtifact` and source types for kube-rs, and the helpers a producer
//! needs to publish artifacts the RFC-0012 way.
//!
//! ```no_run
//! use flux_artifact_config::Options;
//! use flux_artifact_kube::{ExternalArtifact, Publisher, VerifyOptions, verify_stored_artifacts};
//! use flux_artifact_storage::{ArchiveSource, AsyncStorage, Storage};
//! use kube::{Api, Client};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = Client::try_default().await?;
//! let storage = AsyncStorage::new(Storage::new(&Options::default())?);
//! let publisher = Publisher::new(client.clone(), "my-controller");
//!
//! // At start-up: check every artifact we published before (RFC-0012).
//! let report = verify_stored_artifacts(&client, storage.storage(), &VerifyOptions::new(publisher.label_selector())).await?;
//! println!("{report}");
//!
//! // In the reconciler: archive the owner's content as <digest>.tar.gz (on the blocking
//! // pool, under its directory's lock) and publish it.
//! # let owner: ExternalArtifact = Api::namespaced(client.clone(), "apps").get("owner").await?;
//! let stored = storage
//!     .archive_content_addressed("ExternalArtifact", &owner.metadata, ArchiveSource::dir("/tmp/app"))
//!     .await?;
//! let published = publisher.apply(&owner, "app", &stored.artifact).await?;
//! println!("{}: status updated: {}", stored.artifact.revision, published.status_updated);
//! # Ok(()) }
//! ```
//!
//! What is here:
//!
//! - [`ExternalArtifact`] (`source.toolkit.fluxcd.io/v1`), whose CRD is Flux's own
//!   (source-controller ships it; [`ExternalArtifact::flux_crd`] equals it, for test
//!   clusters without Flux);
//! - read-only views of Flux's sources ([`GitRepository`], [`OCIRepository`],
//!   [`Bucket`], [`HelmChart`]) and [`source_artifact`] to read any source's artifact;
//! - [`conditions`]: `Ready`/`Reconciling`/`Stalled` in the Flux style;
//! - [`Publisher`] / [`apply_external_artifact`]: server-side apply of the object (owner
//!   reference, labels, `spec.sourceRef`) and of its status (artifact, `Ready=True`);
//! - [`CrossNamespacePolicy`] for a `--no-cross-namespace-refs` flag;
//! - [`verify_stored_artifacts`], the start-up integrity check.
//!
//! # Kubernetes API version
//!
//! Like every library on `k8s-openapi`, this crate enables no Kubernetes version feature:
//! the final binary picks one, either with a feature on its own `k8s-openapi`
//! dependency (`features = ["v1_33"]`; 1.33 is the oldest release the types here are
//! tested against) or with `K8S_OPENAPI_ENABLED_VERSION=1.33` in `.cargo/config.toml`'s
//! `[env]`, as this workspace does. `kube` is used without TLS features: enable
//! `rustls-tls` (or `openssl-tls`) on your own `kube` dependency to reach a real cluster.
//!
//! # Permissions
//!
//! A producer needs `get`, `list`, `watch`, `create` and `patch` on `externalartifacts`,
//! `patch` on `externalartifacts/status`, and `get` on the sources it reads. The
//! repository's `docs/kubernetes.md` has the RBAC manifests and a
//! `ValidatingAdmissionPolicy` pinning what a producer may publish.

mod access;
pub mod conditions;
mod error;
mod external_artifact;
mod integrity;
mod labels;
mod publish;
mod sources;

pub use crate::{
    access::CrossNamespacePolicy,
    error::Error,
    external_artifact::{
        ExternalArtifact, ExternalArtifactSpec, ExternalArtifactStatus, NamespacedObjectKindReference,
    },
    integrity::{ArtifactCheck, IntegrityReport, Outcome, Removal, VerifyOptions, verify_stored_artifacts},
    publish::{
        DEFAULT_GENERATED_BY_LABEL, ExtraMetadata, MANAGED_BY_LABEL, Published, Publisher,
        apply_external_artifact,
    },
    sources::{
        Bucket, BucketSpec, GitRepository, GitRepositorySpec, HelmChart, HelmChartSpec, OCIRepository,
        OCIRepositorySpec, SourceKind, SourceStatus, UnknownSourceKind, source_artifact,
    },
};
