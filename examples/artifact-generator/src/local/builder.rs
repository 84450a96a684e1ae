//! Building and storing one artifact with the controller's builder.

use std::{collections::BTreeMap, path::PathBuf};

use artifact_generator::{ArtifactRequest, Error, builder::ArtifactBuilder, store_artifact};
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
    storage: &Storage,
    namespace: &str,
    request: &ArtifactRequest,
    sources: &BTreeMap<String, PathBuf>,
) -> Result<Built, Error> {
    let content = ArtifactBuilder::new(&request.artifact, sources)
        .field_path(format!("spec.artifacts[{}]", request.index))
        .build()?;
    // Nothing collects garbage in the local mode, so the file needs no protection.
    let artifact = store_artifact(storage, namespace, &request.artifact.name, &content)?.into_artifact();
    Ok(Built {
        artifact,
        files: content.file_count(),
        bytes: content.content_size(),
    })
}
