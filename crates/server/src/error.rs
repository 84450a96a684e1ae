//! The error type of the server.

use std::{io, path::PathBuf};

/// Why the server could not start.
///
/// Each message names the value at fault; the underlying error is the
/// [`source`](std::error::Error::source), not repeated in the message, so a report that
/// walks the chain (`anyhow`'s `{:#}`, for one) prints each cause once.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The storage address is invalid.
    #[error(transparent)]
    Config(#[from] flux_artifact_config::Error),
    /// The storage path cannot be opened as a directory.
    #[error("cannot serve storage path {}", path.display())]
    Root {
        /// The storage path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The address cannot be bound, for instance because it is in use.
    #[error("cannot bind artifact server address {address:?}")]
    Bind {
        /// The configured storage address.
        address: String,
        /// The underlying error.
        source: io::Error,
    },
}
