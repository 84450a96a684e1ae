//! Flux artifact storage on the local filesystem.
//!
//! ```
//! use std::{fs, time::Duration};
//! use flux_artifact_config::Options;
//! use flux_artifact_storage::{ArchiveSource, Storage, source_ignore_filter};
//!
//! # let storage_dir = tempfile::tempdir()?;
//! # let source_dir = tempfile::tempdir()?;
//! # fs::write(source_dir.path().join("deployment.yaml"), "kind: Deployment\n")?;
//! let options = Options { storage_path: storage_dir.path().into(), ..Options::default() };
//! let storage = Storage::new(&options)?;
//!
//! // Package a directory as the artifact of an object, named after its digest.
//! let source = ArchiveSource::dir_with_filter(source_dir.path(), source_ignore_filter(Vec::new(), &[]));
//! let stored = storage.archive_content_addressed("ExternalArtifact", &("apps", "podinfo"), source)?;
//! let artifact = &stored.artifact;
//! let hex = artifact.digest.trim_start_matches("sha256:");
//! assert_eq!(artifact.url, format!("http://localhost:9090/externalartifact/apps/podinfo/{hex}.tar.gz"));
//! assert_eq!(artifact.revision, format!("latest@{}", artifact.digest));
//!
//! // Publish it (see the kube crate), then keep only the last few versions; and check
//! // stored artifacts, e.g. at start-up.
//! let deleted = storage.garbage_collect(artifact, Duration::from_secs(30))?;
//! assert!(deleted.is_empty());
//! storage.verify_artifact(artifact)?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This is the Rust counterpart of Go's `github.com/fluxcd/pkg/artifact/storage`, with
//! the same layout and tar stream, so that a controller built on it produces what
//! Flux's kustomize-controller and helm-controller consume:
//!
//! - [`Artifact`], the exact JSON of Flux's `meta.Artifact`;
//! - [`Storage`]: paths and URLs ([`new_artifact_for`](Storage::new_artifact_for),
//!   [`local_path`](Storage::local_path)), writing
//!   ([`archive_content_addressed`](Storage::archive_content_addressed) of a directory
//!   or of [`ArchiveEntries`], the Go SDK's [`archive`](Storage::archive),
//!   [`copy`](Storage::copy), [`atomic_write_file`](Storage::atomic_write_file)),
//!   reading back ([`verify_artifact`](Storage::verify_artifact),
//!   [`copy_to_path`](Storage::copy_to_path)), locking ([`lock`](Storage::lock)),
//!   cleaning up ([`garbage_collect`](Storage::garbage_collect),
//!   [`remove_all_but_current`](Storage::remove_all_but_current),
//!   [`remove_object_storage`](Storage::remove_object_storage)) and
//!   [`symlink`](Storage::symlink)s such as `latest.tar.gz`;
//! - `AsyncStorage` (feature `tokio`): the same operations on tokio's blocking pool,
//!   for async reconcilers;
//! - `ArchiveMetrics` (feature `metrics`): archive duration and bytes for a
//!   `prometheus-client` registry;
//! - [`untar`], the safe extraction consumers use;
//! - [`sourceignore`], Flux's `.sourceignore` rules, and [`source_ignore_filter`].
//!
//! # Guarantees
//!
//! - **Confinement.** Artifact paths are resolved inside the storage root: `..` stops
//!   at the root and symlinks resolve as if the root were `/`. Path parts built from
//!   object names are validated ([`artifact_path`]), and an object without a
//!   namespace must be asked for as [`ClusterScoped`]. Extraction writes through a
//!   directory handle that cannot leave its directory.
//! - **Atomicity.** A file appears at an artifact's path only when complete: writes go
//!   to a locked temporary file beside it, are synced (unless
//!   [`with_fsync(false)`](Storage::with_fsync)) and renamed. On error the previous
//!   file and the [`Artifact`] are unchanged. Temporary files of crashed writes are
//!   reclaimed by garbage collection.
//! - **Immutability.** A content-addressed artifact's file never changes once written:
//!   a consumer mid-download cannot see it replaced, and an unchanged result leaves the
//!   stored file, its time and its [`Artifact`] as they were.
//! - **Reproducibility.** Archives give the same bytes for the same tree on any machine:
//!   sorted entries, normalised headers (the uncompressed stream equals the Go SDK's),
//!   and a pinned compressor. The compressor (zlib-rs 0.6.8, level 6, 128 KiB blocks)
//!   is part of every artifact's identity, since a digest change changes
//!   `latest@<digest>` revisions and makes every consumer re-apply; it changes only in
//!   a release that says so. (The gzip bytes, hence digests, differ from the Go SDK's:
//!   see the repository's README.)
//! - **Bounded memory.** Archiving, copying, verifying and extracting stream with fixed
//!   buffers, whatever the size of the files.
//!
//! # Concurrency
//!
//! Writers of one artifact path exclude each other with [`lock`](Storage::lock) (the
//! Go SDK's `<file>.lock`). Content-addressed writes need no lock from the caller: each
//! object's directory has a lock file `.lock`, which
//! [`archive_content_addressed`](Storage::archive_content_addressed),
//! [`garbage_collect`](Storage::garbage_collect) and
//! [`remove_all_but_current`](Storage::remove_all_but_current) hold briefly, and the
//! [`StoredArchive`] a write returns keeps its file safe from collection until it is
//! published. The artifact server never serves `.lock` files nor temporary files
//! ([`is_temp_file_name`]).
//!
//! # Differences from the Go package
//!
//! The Go behaviours are kept, except where they are bugs (each covered by a test):
//! archive names are relative to the archived directory even when it is given as a
//! relative path, and filters see those relative names; garbage collection orders by
//! time with a path tie-break, counts each deletion once, never deletes the current
//! artifact, skips files in use, and stops at its timeout; `remove_all_but_current`
//! keeps the current lock file and files in use; `symlink` builds its URL like
//! `set_artifact_url`; untar refuses every `..` component and hard links; the digest
//! algorithm is a setting of the [`Storage`], not a global, and must be one Flux can
//! verify; an empty namespace is an error unless the key is [`ClusterScoped`].
//! Operations return typed [`Error`]s that name the path involved; a wrapped cause is
//! the error's [`source`](std::error::Error::source), not repeated in its message, so
//! print the chain (as anyhow's `{:#}` does).
//!
//! # Features
//!
//! - `tokio`: `AsyncStorage`.
//! - `metrics`: `ArchiveMetrics` and [`Storage`]'s `with_metrics`.
//! - `k8s-openapi`: [`ObjectKey`] for Kubernetes' `ObjectMeta`.
//! - `schemars`: `JsonSchema` for [`Artifact`].

mod archive;
mod artifact;
#[cfg(feature = "tokio")]
mod async_storage;
mod error;
mod extract;
mod gc;
mod lock;
#[cfg(feature = "metrics")]
mod metrics;
mod names;
mod path;
pub mod sourceignore;
mod storage;
mod untar;
mod write;

#[cfg(feature = "tokio")]
pub use crate::async_storage::AsyncStorage;
#[cfg(feature = "metrics")]
pub use crate::metrics::ArchiveMetrics;
pub use crate::{
    archive::{
        ArchiveEntries, ArchiveEntryError, ArchiveFilter, ArchiveSource, DEFAULT_COMPRESSION_LEVEL,
        DEFAULT_DIR_MODE, DEFAULT_EXE_FILE_MODE, DEFAULT_FILE_MODE, EntryFilter, SourceIgnoreFilter,
        StoredArchive, source_ignore_filter,
    },
    artifact::Artifact,
    error::{DigestMismatch, DirProblem, Error},
    gc::GARBAGE_COUNT_LIMIT,
    lock::ArtifactLock,
    names::{MAX_NAME_COMPONENT_BYTES, NameProblem},
    path::{ClusterScoped, ObjectKey, artifact_dir, artifact_path},
    storage::Storage,
    untar::{
        DEFAULT_MAX_UNTAR_SIZE, EntryKind, TarFormatError, UntarError, UntarOptions, UntarSummary, untar,
    },
    write::is_temp_file_name,
};

/// Internals reached by the fuzz targets in `fuzz/`; compiled only with `--cfg fuzzing`.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing {
    use std::path::{Path, PathBuf};

    /// The lexical join of [`Storage::copy_to_path`](crate::Storage::copy_to_path)'s
    /// sub-path: `..` stops at `root`, absolute paths are re-rooted.
    #[must_use]
    pub fn lexical_join(root: &Path, unsafe_path: &Path) -> PathBuf {
        crate::path::lexical_join(root, unsafe_path)
    }
}
