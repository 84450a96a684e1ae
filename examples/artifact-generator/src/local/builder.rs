//! The one call the local mode makes to build and store an artifact: the seam to the
//! builder (`crate::builder`), which the controller uses too.

use std::{collections::BTreeMap, io, path::PathBuf};

use artifact_generator::{ArtifactRequest, Error};
use flux_artifact::storage::{Artifact, Storage};

/// A built and stored artifact.
#[derive(Debug)]
pub(crate) struct Built {
    /// The stored artifact: path, URL, digest, size, `latest@<digest>` revision.
    pub(crate) artifact: Artifact,
    /// Regular files in it.
    pub(crate) files: usize,
    /// Their total size before compression.
    pub(crate) bytes: u64,
}

/// Builds `request`'s artifact from `sources` (alias → directory) and stores it as the
/// artifact of the `ExternalArtifact` `namespace/<name>`.
pub(crate) fn build(
    _storage: &Storage,
    _namespace: &str,
    request: &ArtifactRequest,
    _sources: &BTreeMap<String, PathBuf>,
) -> Result<Built, Error> {
    // INTERIM: replaced by the call to the builder when `generator-builder` is merged.
    Err(Error::Io {
        op: "build",
        path: PathBuf::from(&request.artifact.name),
        source: io::Error::new(io::ErrorKind::Unsupported, "the builder is not merged yet"),
    })
}
