//! Flux artifact storage on the local filesystem.
//!
//! ```
//! use std::{fs, time::Duration};
//! use flux_artifact_config::Options;
//! use flux_artifact_storage::{Storage, source_ignore_filter};
//!
//! # let storage_dir = tempfile::tempdir()?;
//! # let source_dir = tempfile::tempdir()?;
//! # fs::write(source_dir.path().join("deployment.yaml"), "kind: Deployment\n")?;
//! let options = Options { storage_path: storage_dir.path().into(), ..Options::default() };
//! let storage = Storage::new(&options)?;
//!
//! // Package a directory as the artifact of an object.
//! let mut artifact = storage.new_artifact_for("ExternalArtifact", &("apps", "podinfo"), "latest", "podinfo.tar.gz")?;
//! let _lock = storage.lock(&artifact)?;
//! storage.archive(&mut artifact, source_dir.path(), Some(&source_ignore_filter(Vec::new(), &[])))?;
//! artifact.revision = format!("latest@{}", artifact.digest);
//! assert_eq!(artifact.url, "http://localhost:9090/externalartifact/apps/podinfo/podinfo.tar.gz");
//!
//! // Check it, e.g. at start-up, and keep only the last few versions.
//! storage.verify_artifact(&artifact)?;
//! let deleted = storage.garbage_collect(&artifact, Duration::from_secs(30))?;
//! assert!(deleted.is_empty());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This is the Rust counterpart of Go's `github.com/fluxcd/pkg/artifact/storage`, with
//! the same layout and wire formats, so that a controller built on it produces what
//! Flux's kustomize-controller and helm-controller consume:
//!
//! - [`Artifact`], the exact JSON of Flux's `meta.Artifact`;
//! - [`Storage`]: paths and URLs ([`new_artifact_for`](Storage::new_artifact_for),
//!   [`local_path`](Storage::local_path)), writing
//!   ([`archive`](Storage::archive), [`copy`](Storage::copy),
//!   [`atomic_write_file`](Storage::atomic_write_file)), reading back
//!   ([`verify_artifact`](Storage::verify_artifact),
//!   [`copy_to_path`](Storage::copy_to_path)), locking ([`lock`](Storage::lock)),
//!   cleaning up ([`garbage_collect`](Storage::garbage_collect),
//!   [`remove_all_but_current`](Storage::remove_all_but_current)) and
//!   [`symlink`](Storage::symlink)s such as `latest.tar.gz`;
//! - [`untar`], the safe extraction consumers use;
//! - [`sourceignore`], Flux's `.sourceignore` rules, and [`source_ignore_filter`].
//!
//! # Guarantees
//!
//! - **Confinement.** Artifact paths are resolved inside the storage root: `..` stops
//!   at the root and symlinks resolve as if the root were `/`. Path parts built from
//!   object names are validated ([`artifact_path`]). Extraction writes through a
//!   directory handle that cannot leave its directory.
//! - **Atomicity.** A file appears at an artifact's path only when complete: writes go
//!   to a locked temporary file beside it, are synced (unless
//!   [`with_fsync(false)`](Storage::with_fsync)) and renamed. On error the previous
//!   file and the [`Artifact`] are unchanged. Temporary files of crashed writes are
//!   reclaimed by garbage collection.
//! - **Reproducibility.** [`archive`](Storage::archive) gives the same bytes for the
//!   same tree on any machine: sorted entries, normalised headers (the uncompressed
//!   stream equals the Go SDK's), and a pinned compressor. The compressor (zlib-rs
//!   0.6.8, level 6, 128 KiB blocks) is part of every artifact's identity, since a
//!   digest change changes `latest@<digest>` revisions and makes every consumer
//!   re-apply; it changes only in a release that says so.
//! - **Bounded memory.** Archiving, copying, verifying and extracting stream with fixed
//!   buffers, whatever the size of the files.
//!
//! # Differences from the Go package
//!
//! The Go behaviours are kept, except where they are bugs (each covered by a test):
//! archive names are relative to the archived directory even when it is given as a
//! relative path, and filters see those relative names; garbage collection orders by
//! time with a path tie-break, counts each deletion once, never deletes the current
//! artifact, and stops at its timeout; `remove_all_but_current` keeps the current lock
//! file; `symlink` builds its URL like `set_artifact_url`; untar refuses every `..`
//! component and hard links; the digest algorithm is a setting of the [`Storage`], not
//! a global, and must be one Flux can verify. Operations return typed [`Error`]s that
//! name the path involved.

mod archive;
mod artifact;
mod error;
mod extract;
mod gc;
mod lock;
mod path;
pub mod sourceignore;
mod storage;
mod untar;
mod write;

pub use crate::{
    archive::{
        ArchiveFilter, DEFAULT_COMPRESSION_LEVEL, DEFAULT_DIR_MODE, DEFAULT_EXE_FILE_MODE, DEFAULT_FILE_MODE,
        SourceIgnoreFilter, source_ignore_filter,
    },
    artifact::Artifact,
    error::{DigestMismatch, Error},
    gc::GARBAGE_COUNT_LIMIT,
    lock::ArtifactLock,
    path::{ObjectKey, artifact_dir, artifact_path},
    storage::Storage,
    untar::{DEFAULT_MAX_UNTAR_SIZE, EntryKind, UntarError, UntarOptions, UntarSummary, untar},
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
