//! `AsyncStorage`: the operations on tokio's blocking pool, cancellation, panics and
//! locks held across `.await`s.
#![cfg(feature = "tokio")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    fs,
    io::Read as _,
    path::Path,
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use common::TestStorage;
use flux_artifact_storage::{ArchiveEntries, ArchiveFilter, ArchiveSource, AsyncStorage, Error};

fn list(files: &[(&str, &str)]) -> ArchiveEntries {
    let mut entries = ArchiveEntries::new();
    for (path, content) in files {
        entries.add_bytes(path, content.as_bytes().to_vec()).unwrap();
    }
    entries
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn the_producer_flow_runs_without_blocking_calls() {
    let t = TestStorage::new();
    let storage = AsyncStorage::new(t.storage.clone());
    let stored = storage
        .archive_content_addressed(
            "ExternalArtifact",
            &("apps", "app"),
            ArchiveSource::entries(list(&[("a.yaml", "a\n")])),
        )
        .await
        .unwrap();
    assert!(stored.written);
    storage.verify_artifact(&stored.artifact).await.unwrap();
    assert!(storage.artifact_exist(&stored.artifact).await.unwrap());
    let out = tempfile::tempdir().unwrap();
    storage
        .copy_to_path(&stored.artifact, "a.yaml", out.path().join("a.yaml"))
        .await
        .unwrap();
    assert_eq!(fs::read_to_string(out.path().join("a.yaml")).unwrap(), "a\n");
    let deleted = storage
        .garbage_collect(&stored.artifact, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(deleted.is_empty());
    let removed = storage
        .remove_object_storage("ExternalArtifact", &("apps", "app"))
        .await
        .unwrap();
    assert_eq!(removed, Some(t.base().join("externalartifact/apps/app")));
}

#[tokio::test]
async fn writes_update_the_artifact_only_on_success() {
    let t = TestStorage::new();
    let storage = AsyncStorage::from(t.storage.clone());
    let mut artifact = t.artifact("k/ns/n/a.bin");
    storage.copy(&mut artifact, &b"hello"[..]).await.unwrap();
    assert_eq!(artifact.size, Some(5));
    storage.verify_artifact(&artifact).await.unwrap();

    let failing = std::io::Cursor::new(b"partial".to_vec()).chain(FailingReader);
    let before = artifact.clone();
    let err = storage.copy(&mut artifact, failing).await.unwrap_err();
    assert!(matches!(err, Error::CopySource { .. }), "{err}");
    assert_eq!(artifact, before);
    assert_eq!(
        fs::read(t.storage.local_path(&artifact).unwrap()).unwrap(),
        b"hello"
    );

    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("x.yaml"), "x\n").unwrap();
    storage
        .copy_from_path(&mut artifact, src.path().join("x.yaml"))
        .await
        .unwrap();
    assert_eq!(artifact.size, Some(2));
    storage
        .atomic_write_file(&mut artifact, &b"mode"[..], 0o640)
        .await
        .unwrap();
    let filter: Arc<dyn ArchiveFilter + Send + Sync> = Arc::new(|_: &Path, _: &fs::Metadata| false);
    let mut archived = t.artifact("k/ns/n/a.tar.gz");
    storage
        .archive(&mut archived, src.path(), Some(filter))
        .await
        .unwrap();
    storage.verify_artifact(&archived).await.unwrap();
}

/// A reader that fails.
struct FailingReader;

impl std::io::Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("upstream went away"))
    }
}

#[tokio::test]
async fn removals_run_on_the_blocking_pool() {
    let t = TestStorage::new();
    let storage = AsyncStorage::new(t.storage.clone());
    t.put("k/ns/n/current.tar.gz", b"c");
    t.put("k/ns/n/old.tar.gz", b"o");
    let current = t.artifact("k/ns/n/current.tar.gz");
    let removed = storage.remove_all_but_current(&current).await.unwrap();
    assert_eq!(removed, [t.base().join("k/ns/n/old.tar.gz")]);
    storage.remove(&current).await.unwrap();
    assert!(!storage.artifact_exist(&current).await.unwrap());
    storage.mkdir_all(&current).await.unwrap();
    assert_eq!(
        storage.remove_all(&current).await.unwrap(),
        Some(t.base().join("k/ns/n"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_guard_is_held_across_awaits() {
    let t = TestStorage::new();
    let storage = AsyncStorage::new(t.storage.clone());
    let artifact = t.artifact("k/ns/n/a.tar.gz");
    let guard = storage.lock(&artifact).await.unwrap();
    // Held across an await point, and across tasks.
    let other = storage.clone();
    let probe = artifact.clone();
    let held = tokio::spawn(async move { other.try_lock(&probe).await.unwrap().is_none() })
        .await
        .unwrap();
    assert!(held);
    drop(guard);
    assert!(storage.try_lock(&artifact).await.unwrap().is_some());
}

#[tokio::test]
async fn a_panicking_filter_is_a_blocking_task_error_and_leaves_no_file() {
    let t = TestStorage::new();
    let storage = AsyncStorage::new(t.storage.clone());
    let filter = |_: &Path, _: bool| -> bool { panic!("filter bug") };
    let err = storage
        .archive_content_addressed(
            "Kind",
            &("ns", "n"),
            ArchiveSource::entries_with_filter(list(&[("a.yaml", "a\n")]), filter),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::BlockingTask { op: "archive_content_addressed", source } if source.is_panic()),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "the blocking task of storage operation archive_content_addressed panicked"
    );
    assert!(names_in(&t.base().join("kind/ns/n")).is_empty());
}

/// A filter that stops the archive at its first entry until released, telling the test
/// when it got there.
fn gate() -> (
    impl Fn(&Path, bool) -> bool + Send + Sync + 'static,
    mpsc::Receiver<()>,
    mpsc::Sender<()>,
) {
    let (reached_tx, reached_rx) = mpsc::channel::<()>();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let reached = Mutex::new(reached_tx);
    let release = Mutex::new(release_rx);
    let filter = move |_: &Path, _: bool| {
        if let Ok(reached) = reached.lock() {
            let _ = reached.send(());
        }
        if let Ok(release) = release.lock() {
            let _ = release.recv();
        }
        false
    };
    (filter, reached_rx, release_tx)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap()
}

#[test]
fn dropping_the_future_mid_archive_leaves_no_partial_file_and_releases_the_lock() {
    let t = TestStorage::new();
    let storage = AsyncStorage::new(t.storage.clone());
    let dir = t.base().join("kind/ns/n");
    let files = [("a.yaml", "a\n"), ("b.yaml", "b\n")];
    let (filter, reached, release) = gate();

    let first = runtime();
    first.block_on(async {
        let archiving = storage.archive_content_addressed(
            "Kind",
            &("ns", "n"),
            ArchiveSource::entries_with_filter(list(&files), filter),
        );
        let reached = tokio::task::spawn_blocking(move || reached.recv().is_ok());
        tokio::select! {
            result = archiving => panic!("the archive finished while held: {result:?}"),
            got_there = reached => assert!(got_there.unwrap()),
        }
        // The future is dropped here, its blocking work paused mid-archive.
    });
    let names = names_in(&dir);
    assert_eq!(names.len(), 1, "only the temporary file: {names:?}");
    assert!(
        names[0].starts_with(".archive.") && names[0].ends_with(".tmp"),
        "{names:?}"
    );

    // Let the work finish, unobserved; dropping the runtime waits for blocking tasks.
    for _ in 0..files.len() {
        release.send(()).unwrap();
    }
    drop(first);

    runtime().block_on(async {
        // The dropped work stored the complete file and let go of every lock.
        let again = storage
            .archive_content_addressed("Kind", &("ns", "n"), ArchiveSource::entries(list(&files)))
            .await
            .unwrap();
        assert!(!again.written, "the dropped archive did not store its file");
        storage.verify_artifact(&again.artifact).await.unwrap();
        let file_name = Path::new(&again.artifact.path)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert_eq!(
            names_in(&dir),
            [".lock".to_owned(), file_name.clone(), format!("{file_name}.lock")]
        );
        drop(again);
        let artifact = t.artifact(&format!("kind/ns/n/{file_name}"));
        assert!(storage.try_lock(&artifact).await.unwrap().is_some());
        assert!(
            t.storage
                .garbage_collect(&artifact, Duration::from_secs(10))
                .is_ok()
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_acquired_after_its_future_was_dropped_is_released() {
    let t = TestStorage::new();
    let storage = AsyncStorage::new(t.storage.clone());
    let artifact = t.artifact("k/ns/n/a.tar.gz");
    let held = storage.lock(&artifact).await.unwrap();
    {
        let waiting = storage.lock(&artifact);
        tokio::pin!(waiting);
        // Poll once so the blocking task starts waiting, then give up on it.
        assert!(futures_poll_once(waiting.as_mut()).await.is_none());
    }
    drop(held);
    // The abandoned task acquires the lock, finds nobody to hand it to, and releases it.
    let again = storage.lock(&artifact).await.unwrap();
    drop(again);
}

/// Polls a future once, returning its output if it was ready.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}
