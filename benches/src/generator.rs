//! The ArtifactGenerator benchmark's workload: a generator whose one artifact copies a
//! whole source tree, built and stored as the local mode and the controller do.

use std::{collections::BTreeMap, path::Path};

use artifact_generator::{
    Error,
    api::{CopyOperation, OutputArtifact},
    builder::ArtifactBuilder,
};
use flux_artifact_storage::{Storage, StoredArchive};

/// The alias the tree is given.
pub const ALIAS: &str = "tree";

/// An output artifact that copies the whole source `tree` to the artifact's root
/// (`from: "@tree/"`, `to: "@artifact/"`).
#[must_use]
pub fn copy_whole_tree() -> OutputArtifact {
    OutputArtifact {
        name: "whole-tree".to_owned(),
        copy: vec![CopyOperation {
            from: format!("@{ALIAS}/"),
            to: "@artifact/".to_owned(),
            ..CopyOperation::default()
        }],
        ..OutputArtifact::default()
    }
}

/// Builds [`copy_whole_tree`] from `tree` and stores it as the artifact of the
/// `ExternalArtifact` `bench/generator`: the generator's whole path from a spec to a
/// stored artifact.
///
/// # Errors
///
/// The builder's or the storage's error.
pub fn build_and_store(storage: &Storage, tree: &Path) -> Result<StoredArchive, Error> {
    let artifact = copy_whole_tree();
    let sources = BTreeMap::from([(ALIAS.to_owned(), tree.to_path_buf())]);
    ArtifactBuilder::new(&artifact, &sources)
        .build()?
        .store(storage, "bench", "generator")
}
