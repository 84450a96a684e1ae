//! The consumer side of Flux artifacts: download, verify, extract.
//!
//! ```no_run
//! use flux_artifact_fetch::ArchiveFetcher;
//!
//! # async fn run() -> Result<(), flux_artifact_fetch::Error> {
//! let fetcher = ArchiveFetcher::builder().retries(9).max_untar_size(None).build();
//! // The url and digest of a source's status.artifact.
//! let result = fetcher
//!     .fetch(
//!         "http://source-controller.flux-system.svc.cluster.local./gitrepository/flux-system/flux-system/3f2a.tar.gz",
//!         "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
//!         "/tmp/sources/flux-system",
//!     )
//!     .await;
//! match result {
//!     Ok(summary) => println!("extracted {} files", summary.extracted.files),
//!     Err(e) if e.is_not_found() => println!("not there yet, requeue"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! The Rust counterpart of Go's `github.com/fluxcd/pkg/http/fetch`, which
//! kustomize-controller, helm-controller and source-watcher use to read
//! `status.artifact`: a controller that composes artifacts, like the ArtifactGenerator,
//! consumes before it produces.
//!
//! [`ArchiveFetcher::fetch`] behaves as Flux's fetcher does where it matters to
//! interoperate: a bare hex digest is sha256, only sha256, sha384, sha512 and blake3 are
//! accepted (checked before downloading), a 404 is its own error
//! ([`Error::FileNotFound`]) so the caller can requeue, 5xx answers are retried, the body
//! must be gzip, symlinks in the tarball are skipped, and nothing is extracted before the
//! digest of the whole download is known to match. It differs where Go is weaker:
//! broken-off bodies and timeouts are retried too; the download is spooled beside the
//! target rather than in `$TMPDIR`, and extracted into a directory beside the target that
//! replaces it only when complete, so a tampered, truncated or unextractable download
//! never reaches the target; and extraction is confined and capped by
//! [`untar`](flux_artifact_storage::untar) (100 MiB by default).
//!
//! # Disk use
//!
//! The archive is hashed while it is written to a temporary file in the target's parent
//! directory; once it is complete and its digest matches, it is extracted into a
//! temporary directory there, the temporary file is deleted, and the extracted entries
//! move into the target. So:
//!
//! - a download whose digest does not match writes at most its own compressed size,
//!   however much it would expand to, and is deleted;
//! - a fetch that succeeds needs, beside the target and at its peak, the compressed size
//!   plus the extracted size (for the 150 MB artifact of `docs/performance.md`, about
//!   150 MB + 262 MB).
//!
//! Only plain `http://` is supported: artifacts are served inside the cluster that way.

mod client;
mod error;
mod fetcher;
#[cfg(feature = "tls")]
mod tls;

#[cfg(feature = "tls")]
pub use crate::tls::{Pem, TlsConfig, TlsConfigBuilder, TlsError, TrustRoots};
pub use crate::{
    error::{DigestMismatch, Error},
    fetcher::{
        ArchiveFetcher, ArchiveFetcherBuilder, DEFAULT_MAX_UNTAR_SIZE, DEFAULT_REQUEST_TIMEOUT,
        DEFAULT_RETRIES, DEFAULT_RETRY_WAIT_MAX, DEFAULT_RETRY_WAIT_MIN, FetchSummary, supported_algorithms,
    },
};
