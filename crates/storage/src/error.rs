//! The error type of storage operations.

use std::{io, path::PathBuf, time::Duration};

use flux_artifact_digest::{Algorithm, Digest};

use crate::{ArchiveEntryError, NameProblem, UntarError};

/// What went wrong in a storage operation, with the path or value involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The options are invalid, or the advertised address cannot be derived.
    #[error(transparent)]
    Config(#[from] flux_artifact_config::Error),

    /// The storage path does not exist or is not a directory (Go: `invalid dir path`).
    #[error("invalid storage path {}: {reason}", path.display())]
    InvalidStoragePath {
        /// The configured storage path.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// The digest algorithm cannot be verified by Flux's consumers, so artifacts digested
    /// with it would be refused.
    #[error("artifact digests must be verifiable by Flux (sha256, sha384, sha512, blake3), not {algorithm}")]
    UnverifiableAlgorithm {
        /// The refused algorithm.
        algorithm: Algorithm,
    },

    /// A part of an artifact path (kind, namespace, name, file or link name) would escape
    /// its place in the layout.
    #[error("invalid {segment} {value:?}: {reason}")]
    InvalidPathSegment {
        /// Which part: `kind`, `namespace`, `name`, `file name`, `link name`.
        segment: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// The artifact has an empty `path`.
    #[error("artifact has no path")]
    EmptyPath,

    /// The artifact path could not be resolved inside the storage root (a symlink loop,
    /// or a component that cannot be read).
    #[error("cannot resolve artifact path {path:?} inside the storage root")]
    ResolvePath {
        /// The artifact's path.
        path: String,
        /// The error met while resolving it.
        source: io::Error,
    },

    /// The operation would act on the storage root itself, e.g. removing the directory
    /// of an artifact path without a directory part.
    #[error("refusing to {op} the storage root {}", path.display())]
    StorageRoot {
        /// What was about to happen.
        op: &'static str,
        /// The storage root.
        path: PathBuf,
    },

    /// An object key with an empty namespace that does not say it is cluster-scoped,
    /// such as the metadata of a namespaced object that was not read from the API
    /// server. See [`ObjectKey`](crate::ObjectKey) and [`ClusterScoped`](crate::ClusterScoped).
    #[error(
        "{kind} {name:?} has no namespace: pass the metadata of an object read from the API server, \
         or ClusterScoped({name:?}) for a cluster-scoped object"
    )]
    MissingNamespace {
        /// The kind given.
        kind: String,
        /// The object's name.
        name: String,
    },

    /// The directory to archive is missing, is not a directory, or is an empty path
    /// (Go: `invalid dir path`).
    #[error("invalid dir path {}: {problem}", path.display())]
    InvalidDir {
        /// The directory given.
        path: PathBuf,
        /// What is wrong with it.
        problem: DirProblem,
    },

    /// Reading the tree being archived failed; `path` is the file or directory that
    /// failed, and the source says why (e.g. a file that changed size while it was
    /// archived).
    #[error("cannot archive {}", path.display())]
    ArchiveSource {
        /// The file or directory that could not be read.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// A file or directory in the tree to archive has a name that no consumer can
    /// extract (see [`NameProblem`]), so the artifact would be refused by every
    /// kustomize-controller. Leave it out with a filter, or rename it. Nothing was
    /// written.
    #[error("cannot archive {}: its name {problem}, which no consumer can extract", path.display())]
    UnextractableName {
        /// The file or directory, as found in the tree.
        path: PathBuf,
        /// What is wrong with its name.
        problem: NameProblem,
    },

    /// The reader given to a write failed; nothing was written to `destination`.
    #[error("cannot read the data for {}", destination.display())]
    CopySource {
        /// The artifact file that was being written.
        destination: PathBuf,
        /// The reader's error.
        source: io::Error,
    },

    /// A filesystem operation failed.
    #[error("cannot {op} {}", path.display())]
    Io {
        /// The operation, e.g. `create temporary file in`, `rename to`, `lock`.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },

    /// The artifact has no digest to verify against.
    #[error("artifact {path:?} has no digest")]
    NoDigest {
        /// The artifact's path.
        path: String,
    },

    /// The artifact's digest is not a valid digest string.
    #[error("failed to parse artifact digest {digest:?}")]
    InvalidDigest {
        /// The digest string.
        digest: String,
        /// Why it does not parse.
        source: flux_artifact_digest::Error,
    },

    /// The artifact's file does not exist.
    #[error("artifact file {} does not exist", path.display())]
    NotFound {
        /// The local path that was looked up.
        path: PathBuf,
    },

    /// The file's content does not hash to the artifact's digest.
    #[error(transparent)]
    DigestMismatch(Box<DigestMismatch>),

    /// Some files could not be removed; the others were.
    #[error("failed to remove {} file(s): {}", failed.len(), describe_failures(failed))]
    RemoveFailed {
        /// The files that were removed.
        deleted: Vec<PathBuf>,
        /// The files that could not be removed, and why.
        failed: Vec<(PathBuf, io::Error)>,
    },

    /// Garbage collection stopped at its deadline; the files in `deleted` were removed,
    /// nothing after the deadline was.
    #[error("garbage collection of {} timed out after {timeout:?} ({} file(s) deleted)", dir.display(), deleted.len())]
    GcTimeout {
        /// The artifact directory.
        dir: PathBuf,
        /// The time limit.
        timeout: Duration,
        /// What was removed before it.
        deleted: Vec<PathBuf>,
    },

    /// The sub-path asked of [`copy_to_path`](crate::Storage::copy_to_path) is not in the
    /// artifact.
    #[error("sub-path {sub_path:?} not found in artifact {artifact:?}")]
    SubPathNotFound {
        /// The sub-path asked for.
        sub_path: String,
        /// The artifact's path.
        artifact: String,
    },

    /// A URL passed to [`set_hostname`](crate::Storage::set_hostname) is not absolute.
    #[error("invalid URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },

    /// Extracting an archive failed.
    #[error(transparent)]
    Untar(#[from] UntarError),

    /// An entry could not be added to an [`ArchiveEntries`](crate::ArchiveEntries).
    #[error(transparent)]
    ArchiveEntry(#[from] ArchiveEntryError),

    /// The blocking task an [`AsyncStorage`](crate::AsyncStorage) method ran the
    /// operation on panicked, or was cancelled because the runtime shut down. Whether a
    /// file was written is unknown, but a file at an artifact's path is still complete:
    /// writes only ever rename complete files into place.
    #[cfg(feature = "tokio")]
    #[error(
        "the blocking task of storage operation {op} {}",
        if source.is_panic() { "panicked" } else { "was cancelled" }
    )]
    BlockingTask {
        /// The operation, e.g. `archive_content_addressed`.
        op: &'static str,
        /// The task's failure; with a panic, its payload.
        source: tokio::task::JoinError,
    },
}

/// What is wrong with the directory given to [`Storage::archive`](crate::Storage::archive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DirProblem {
    /// Nothing exists at the path.
    Missing,
    /// The path exists but is not a directory (a file, say).
    NotADirectory,
    /// The path is the empty string.
    EmptyPath,
}

impl std::fmt::Display for DirProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DirProblem::Missing => "no such directory",
            DirProblem::NotADirectory => "not a directory",
            DirProblem::EmptyPath => "empty path",
        })
    }
}

impl Error {
    /// Whether the error means that a file or directory does not exist: an artifact to
    /// verify, remove or copy, or a directory to archive.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        match self {
            Error::NotFound { .. }
            | Error::InvalidDir {
                problem: DirProblem::Missing,
                ..
            }
            | Error::SubPathNotFound { .. } => true,
            Error::Io { source, .. } | Error::ArchiveSource { source, .. } => {
                source.kind() == io::ErrorKind::NotFound
            }
            _ => false,
        }
    }

    /// A `map_err` adapter: `.map_err(Error::io("open", path))`.
    pub(crate) fn io(op: &'static str, path: &std::path::Path) -> impl FnOnce(io::Error) -> Error + use<> {
        let path = path.to_path_buf();
        move |source| Error::Io { op, path, source }
    }
}

/// The details of [`Error::DigestMismatch`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("computed digest doesn't match '{expected}' for {}: got '{actual}'", path.display())]
pub struct DigestMismatch {
    /// The artifact file.
    pub path: PathBuf,
    /// The digest recorded in the artifact.
    pub expected: Digest,
    /// The digest of the file's content.
    pub actual: Digest,
}

fn describe_failures(failed: &[(PathBuf, io::Error)]) -> String {
    failed
        .iter()
        .map(|(path, e)| format!("{}: {e}", path.display()))
        .collect::<Vec<_>>()
        .join("; ")
}
