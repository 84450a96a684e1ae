//! Cleanup when the owner goes: the storage an ExternalArtifact's files live in is not
//! deleted with the ExternalArtifact, so a producer removes it itself.
//!
//! - [`ArtifactFinalizer`] wraps kube-runtime's
//!   [`finalizer`](kube::runtime::finalizer::finalizer) for a producer's own custom
//!   resource: when one is deleted, it removes the storage of the ExternalArtifacts
//!   published for it (and, if asked, deletes them) before the object goes.
//! - [`OrphanSweep`] removes, at start-up, the storage directories that no
//!   ExternalArtifact accounts for any more: those of objects deleted while the
//!   controller was down, or that moved to another shard.
//!
//! Both remove an object's storage with
//! [`Storage::remove_object_storage`](flux_artifact_storage::Storage::remove_object_storage)
//! on tokio's blocking pool. Neither touches anything outside the storage directories of
//! its artifact kind (`externalartifact/<namespace>/<name>` by default).

mod finalizer;
mod sweep;

use std::{io, path::PathBuf};

pub use finalizer::{ArtifactFinalizer, CleanupFailure, CleanupReport, FinalizerError};
pub use sweep::{FailedDir, KeepReason, KeptDir, ObjectDir, OrphanSweep, SweepReport};

/// What can go wrong while cleaning up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An API call failed (listing or deleting ExternalArtifacts).
    #[error(transparent)]
    Kube(#[from] flux_artifact_kube::Error),
    /// Removing an object's storage failed.
    #[error(transparent)]
    Storage(#[from] flux_artifact_storage::Error),
    /// The storage tree could not be read.
    #[error("cannot read the storage directory {}", path.display())]
    ReadStorage {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The blocking task that reads or removes storage died (it panicked or the runtime
    /// shut down).
    #[error("the storage task failed")]
    Task(#[source] tokio::task::JoinError),
    /// The object lacks metadata the cleanup needs; read it from the API server.
    #[error("cannot clean up after {kind} {name:?}: it has no {field}")]
    IncompleteObject {
        /// Kind of the object.
        kind: String,
        /// Its name, if it has one.
        name: String,
        /// The missing field: `name`, `namespace` or `uid`.
        field: &'static str,
    },
}

/// Runs `f` with `storage` on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    storage: &flux_artifact_storage::Storage,
    f: impl FnOnce(&flux_artifact_storage::Storage) -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let storage = storage.clone();
    tokio::task::spawn_blocking(move || f(&storage))
        .await
        .map_err(Error::Task)?
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    /// The message must not repeat the cause, which anyhow's `{:#}` prints after it.
    fn assert_cause_not_repeated(error: &Error) {
        let cause = error.source().map(ToString::to_string).unwrap_or_default();
        assert!(!cause.is_empty(), "{error:?} has no source");
        assert!(!error.to_string().contains(&cause), "{error} repeats {cause}");
    }

    #[test]
    fn a_read_error_names_the_directory_and_keeps_the_cause_in_source() {
        let error = Error::ReadStorage {
            path: "/data/externalartifact".into(),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            error.to_string(),
            "cannot read the storage directory /data/externalartifact"
        );
        assert_cause_not_repeated(&error);
    }

    #[tokio::test]
    async fn a_dead_storage_task_keeps_the_cause_in_source() {
        let join_error = tokio::spawn(async { std::panic::panic_any("boom") })
            .await
            .unwrap_err();
        let error = Error::Task(join_error);
        assert_eq!(error.to_string(), "the storage task failed");
        assert_cause_not_repeated(&error);
    }
}
