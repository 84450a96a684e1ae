//! Storing a built artifact: the builder's entry list, archived under its digest.

use flux_artifact::storage::{Storage, StoredArchive};

use crate::{Error, builder::ArtifactContent};

/// Stores `content` as the artifact of the `ExternalArtifact` `namespace/name`: the
/// builder's entries archived as one reproducible `.tar.gz` named after its digest,
/// `externalartifact/<namespace>/<name>/<hex>.tar.gz`, in one pass and without a staging
/// copy (files stream from the source trees and the build's scratch directory). It is
/// [`ArtifactContent::store`] as a free function: the same archive, Flux's default
/// `.sourceignore` rules applied.
///
/// Storing the same content again writes nothing and returns the same artifact, its
/// `lastUpdateTime` included (see `Storage::archive_content_addressed`). The revision is
/// `latest@<digest>`; [`set_artifact_revisions`](crate::set_artifact_revisions) applies
/// `revision` and `originRevision`. Keep the returned [`StoredArchive`] until the
/// artifact is published: it keeps garbage collection off the file.
///
/// ```
/// use std::{collections::BTreeMap, fs};
/// use artifact_generator::{api::{CopyOperation, OutputArtifact}, builder::ArtifactBuilder, store_artifact};
/// use flux_artifact::{config::Options, storage::Storage};
///
/// # let repo = tempfile::tempdir()?;
/// # fs::create_dir_all(repo.path().join("deploy"))?;
/// # fs::write(repo.path().join("deploy/app.yaml"), "kind: ConfigMap\n")?;
/// # let storage_dir = tempfile::tempdir()?;
/// let storage = Storage::new(&Options { storage_path: storage_dir.path().into(), ..Options::default() })?;
/// let artifact = OutputArtifact {
///     name: "app".into(),
///     copy: vec![CopyOperation { from: "@repo/deploy/**".into(), to: "@artifact/".into(), ..CopyOperation::default() }],
///     ..OutputArtifact::default()
/// };
/// let sources = BTreeMap::from([("repo".to_owned(), repo.path().to_owned())]);
/// let content = ArtifactBuilder::new(&artifact, &sources).build()?;
/// let stored = store_artifact(&storage, "apps", "app", &content)?;
/// assert!(stored.artifact.path.starts_with("externalartifact/apps/app/"));
/// assert_eq!(stored.artifact.revision, format!("latest@{}", stored.artifact.digest));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// [`Error::Store`] (kind `io`) if the object's name or namespace cannot be a storage
/// path, a file cannot be read (or changed size while it was archived), or the archive
/// cannot be written; nothing is left at the artifact's path then.
pub fn store_artifact(
    storage: &Storage,
    namespace: &str,
    name: &str,
    content: &ArtifactContent,
) -> Result<StoredArchive, Error> {
    content.store(storage, namespace, name)
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeMap, fs, path::Path};

    use flux_artifact::{
        config::Options,
        storage::{UntarOptions, untar},
    };

    use super::*;
    use crate::{
        api::{CopyOperation, CopyStrategy, OutputArtifact},
        builder::ArtifactBuilder,
    };

    fn storage(dir: &Path) -> Storage {
        Storage::new(&Options {
            storage_path: dir.into(),
            ..Options::default()
        })
        .unwrap()
    }

    fn copy(from: &str, to: &str, strategy: Option<CopyStrategy>) -> CopyOperation {
        CopyOperation {
            from: from.into(),
            to: to.into(),
            strategy,
            ..CopyOperation::default()
        }
    }

    /// A source with a plain file, an executable script and values to merge.
    fn source() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("values.yaml"), "a: 1\nb: {c: 2}\n").unwrap();
        fs::write(dir.path().join("prod.yaml"), "b: {d: 3}\n").unwrap();
        fs::write(dir.path().join("run.sh"), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(dir.path().join("run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    fn artifact() -> OutputArtifact {
        OutputArtifact {
            name: "app".into(),
            copy: vec![
                copy("@src/values.yaml", "@artifact/", None),
                copy("@src/run.sh", "@artifact/bin/", None),
                copy(
                    "@src/prod.yaml",
                    "@artifact/values.yaml",
                    Some(CopyStrategy::Merge),
                ),
            ],
            ..OutputArtifact::default()
        }
    }

    #[test]
    fn the_archive_holds_what_the_builder_produced() {
        let src = source();
        let storage_dir = tempfile::tempdir().unwrap();
        let storage = storage(storage_dir.path());
        let sources = BTreeMap::from([("src".to_owned(), src.path().to_owned())]);
        let content = ArtifactBuilder::new(&artifact(), &sources).build().unwrap();
        let stored = store_artifact(&storage, "apps", "app", &content).unwrap();
        storage.verify_artifact(&stored.artifact).unwrap();

        let out = tempfile::tempdir().unwrap();
        let file = fs::File::open(storage.local_path(&stored.artifact).unwrap()).unwrap();
        untar(file, out.path(), &UntarOptions::default()).unwrap();
        let merged: serde_json::Value =
            serde_yaml_ng::from_str(&fs::read_to_string(out.path().join("values.yaml")).unwrap()).unwrap();
        assert_eq!(merged, serde_json::json!({ "a": 1, "b": { "c": 2, "d": 3 } }));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(out.path().join("bin/run.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_ne!(mode & 0o100, 0, "the executable bit reaches the archive");
            let mode = fs::metadata(out.path().join("values.yaml"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0);
        }
    }

    #[test]
    fn storing_the_same_content_again_writes_nothing() {
        let src = source();
        let storage_dir = tempfile::tempdir().unwrap();
        let storage = storage(storage_dir.path());
        let sources = BTreeMap::from([("src".to_owned(), src.path().to_owned())]);
        let first = store_artifact(
            &storage,
            "apps",
            "app",
            &ArtifactBuilder::new(&artifact(), &sources).build().unwrap(),
        )
        .unwrap();
        assert!(first.written);
        let again = store_artifact(
            &storage,
            "apps",
            "app",
            &ArtifactBuilder::new(&artifact(), &sources).build().unwrap(),
        )
        .unwrap();
        assert!(!again.written);
        assert_eq!(again.artifact, first.artifact);
    }

    #[test]
    fn a_name_that_cannot_be_a_storage_path_is_an_io_error() {
        let src = source();
        let storage_dir = tempfile::tempdir().unwrap();
        let sources = BTreeMap::from([("src".to_owned(), src.path().to_owned())]);
        let content = ArtifactBuilder::new(&artifact(), &sources).build().unwrap();
        let error = store_artifact(&storage(storage_dir.path()), "apps", "..", &content).unwrap_err();
        assert_eq!(error.kind(), crate::ErrorKind::Io);
        assert_eq!(
            error.to_string(),
            "cannot store the artifact of ExternalArtifact apps/.."
        );
        assert!(std::error::Error::source(&error).is_some());
    }
}
