//! `ArtifactContent::store` and `store_async`: a built artifact becomes a stored,
//! content-addressed `.tar.gz` of an `ExternalArtifact`, or one `io` error naming it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{error::Error as _, fs, io::Read, path::Path, pin::pin, task::Poll};

use artifact_generator::{Error, ErrorKind};
use flux_artifact::{
    config::Options,
    storage::{self, Artifact, AsyncStorage, Storage},
};

fn storage(root: &Path) -> Storage {
    let options = Options {
        storage_path: root.to_path_buf(),
        ..Options::default()
    };
    Storage::new(&options).unwrap().with_fsync(false)
}

/// The `.tar.gz` files in an object's directory.
fn stored_files(root: &Path, namespace: &str, name: &str) -> Vec<String> {
    let dir = root.join("externalartifact").join(namespace).join(name);
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tar.gz"))
        .collect();
    names.sort();
    names
}

/// The names of the files in a stored archive.
fn archived_files(storage: &Storage, artifact: &Artifact) -> Vec<String> {
    let file = fs::File::open(storage.local_path(artifact).unwrap()).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.header().entry_type().is_file() {
            names.push(String::from_utf8(entry.path_bytes().into_owned()).unwrap());
            entry.read_to_end(&mut Vec::new()).unwrap();
        }
    }
    names
}

#[test]
fn store_names_the_file_after_its_digest_under_the_external_artifact() {
    let (sources, artifact) = common::cases::root_directory_copy();
    let content = common::build_ok(&artifact, &sources);
    let root = tempfile::tempdir().unwrap();
    let storage = storage(root.path());
    let stored = content.store(&storage, "apps", "podinfo").unwrap();
    assert!(stored.written);
    let hex = stored.artifact.digest.strip_prefix("sha256:").unwrap();
    assert_eq!(
        stored.artifact.path,
        format!("externalartifact/apps/podinfo/{hex}.tar.gz")
    );
    assert_eq!(
        stored.artifact.revision,
        format!("latest@{}", stored.artifact.digest)
    );
    storage.verify_artifact(&stored.artifact).unwrap();
    assert_eq!(
        archived_files(&storage, &stored.artifact),
        ["root.yaml", "subdir/nested.yaml"]
    );
}

#[test]
fn storing_the_same_content_again_writes_nothing() {
    let (sources, artifact) = common::cases::helm_chart_composition();
    let root = tempfile::tempdir().unwrap();
    let storage = storage(root.path());
    let first = common::build_ok(&artifact, &sources)
        .store(&storage, "apps", "podinfo")
        .unwrap();
    // A second build: new scratch directory, same content.
    let again = common::build_ok(&artifact, &sources)
        .store(&storage, "apps", "podinfo")
        .unwrap();
    assert!(!again.written);
    assert_eq!(again.artifact, first.artifact);
    assert_eq!(stored_files(root.path(), "apps", "podinfo").len(), 1);
}

#[test]
fn a_source_file_gone_before_storing_is_an_io_error_naming_the_artifact() {
    let (sources, artifact) = common::cases::root_directory_copy();
    let content = common::build_ok(&artifact, &sources);
    let missing = sources.root("source").join("subdir/nested.yaml");
    fs::remove_file(&missing).unwrap();
    let root = tempfile::tempdir().unwrap();

    let err = content
        .store(&storage(root.path()), "apps", "podinfo")
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(!err.kind().is_terminal());
    assert_eq!(
        err.to_string(),
        "cannot store the artifact of ExternalArtifact apps/podinfo"
    );
    let Some(storage::Error::ArchiveSource { path, .. }) =
        err.source().and_then(|s| s.downcast_ref::<storage::Error>())
    else {
        panic!("the cause is the storage's: {:?}", err.source());
    };
    assert_eq!(path, &missing);
    assert!(stored_files(root.path(), "apps", "podinfo").is_empty());
}

#[test]
fn an_object_key_the_storage_refuses_is_a_store_error() {
    let (sources, artifact) = common::cases::single_file_copy();
    let content = common::build_ok(&artifact, &sources);
    let root = tempfile::tempdir().unwrap();
    let err = content.store(&storage(root.path()), "", "podinfo").unwrap_err();
    assert!(matches!(err, Error::Store { .. }), "{err}");
    assert_eq!(err.kind(), ErrorKind::Io);
    // The cause is in source(), not repeated in the message.
    let cause = err.source().unwrap().to_string();
    assert!(!err.to_string().contains(&cause), "{err}");
}

#[test]
fn store_async_stores_what_store_stores() {
    let (sources, artifact) = common::cases::helm_chart_composition();
    let root = tempfile::tempdir().unwrap();
    let sync_storage = storage(root.path());
    let expected = common::build_ok(&artifact, &sources)
        .store(&sync_storage, "apps", "sync")
        .unwrap()
        .into_artifact();

    let content = common::build_ok(&artifact, &sources);
    let scratch = content.scratch_dir().to_path_buf();
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    let stored = runtime
        .block_on(content.store_async(&AsyncStorage::new(sync_storage.clone()), "apps", "async"))
        .unwrap();
    assert!(stored.written);
    assert_eq!(stored.artifact.digest, expected.digest);
    assert!(!scratch.exists(), "the scratch directory goes with the content");
}

#[test]
fn store_async_keeps_the_extracted_files_until_the_archive_is_written_even_if_dropped() {
    // One blocking thread, held busy, so that the archive task queues behind it; the
    // future is dropped before it runs. The content (and its scratch directory of
    // extracted files) must travel with the task.
    let (sources, artifact) = common::cases::extract_single_archive();
    let content = common::build_ok(&artifact, &sources);
    let scratch = content.scratch_dir().to_path_buf();
    let root = tempfile::tempdir().unwrap();
    let sync_storage = storage(root.path());
    let async_storage = AsyncStorage::new(sync_storage.clone());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(1)
        .build()
        .unwrap();
    runtime.block_on(async {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let blocker = tokio::task::spawn_blocking(move || wait.recv());
        {
            let mut store = pin!(content.store_async(&async_storage, "apps", "chart"));
            let pending = std::future::poll_fn(|cx| Poll::Ready(store.as_mut().poll(cx).is_pending())).await;
            assert!(pending, "the archive waits for the blocking thread");
        }
        assert!(scratch.exists(), "the queued task holds the content");
        release.send(()).unwrap();
        blocker.await.unwrap().unwrap();
        // Blocking tasks run in order on the one thread: this one runs after the
        // archive.
        tokio::task::spawn_blocking(|| ()).await.unwrap();
    });
    assert!(!scratch.exists());
    let stored = stored_files(root.path(), "apps", "chart");
    assert_eq!(stored.len(), 1, "the dropped future's archive was written");
    let artifact = Artifact {
        path: format!("externalartifact/apps/chart/{}", stored[0]),
        ..Artifact::default()
    };
    assert_eq!(
        archived_files(&sync_storage, &artifact),
        ["manifests/config.yaml", "manifests/prod/config.yaml"]
    );
}
