//! Atomic writes (`atomic_write_file`, `copy`, `copy_from_path`), verification and locks.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    fs,
    io::{self, Read},
    os::unix::fs::PermissionsExt,
    sync::{
        Arc, Barrier,
        atomic::{AtomicUsize, Ordering},
    },
    thread,
    time::Duration,
};

use common::TestStorage;
use flux_artifact_digest::Algorithm;
use flux_artifact_storage::{Artifact, Error};

const PATH: &str = "kind/ns/name/file.txt";

/// Yields `good` bytes, then fails.
struct FailingReader {
    good: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.good == 0 {
            return Err(io::Error::other("network reset"));
        }
        let n = buf.len().min(self.good);
        buf[..n].fill(b'z');
        self.good -= n;
        Ok(n)
    }
}

fn dir_entries(t: &TestStorage, dir: &str) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(t.base().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

#[test]
fn copy_writes_the_file_and_records_digest_size_and_time() {
    let t = TestStorage::new();
    let mut artifact = t.artifact(PATH);
    t.storage.copy(&mut artifact, &b"test"[..]).unwrap();
    assert_eq!(fs::read(t.base().join(PATH)).unwrap(), b"test");
    assert_eq!(
        artifact.digest,
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    );
    assert_eq!(artifact.size, Some(4));
    assert!(artifact.last_update_time.is_some());
    assert_eq!(
        fs::metadata(t.base().join(PATH)).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn copy_creates_the_artifact_directory_with_mode_0700() {
    let t = TestStorage::new();
    let mut artifact = t.artifact(PATH);
    t.storage.copy(&mut artifact, &b"x"[..]).unwrap();
    let mode = fs::metadata(t.base().join("kind/ns/name"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o700);
}

#[test]
fn atomic_write_file_sets_the_mode() {
    let t = TestStorage::new();
    let mut artifact = t.artifact(PATH);
    t.storage
        .atomic_write_file(&mut artifact, &b"#!/bin/sh\n"[..], 0o750)
        .unwrap();
    assert_eq!(
        fs::metadata(t.base().join(PATH)).unwrap().permissions().mode() & 0o777,
        0o750
    );
    assert_eq!(artifact.size, Some(10));
}

#[test]
fn copy_from_path_copies_a_file() {
    let t = TestStorage::new();
    let source = tempfile::NamedTempFile::new().unwrap();
    fs::write(source.path(), "from a path").unwrap();
    let mut artifact = t.artifact(PATH);
    t.storage.copy_from_path(&mut artifact, source.path()).unwrap();
    assert_eq!(fs::read_to_string(t.base().join(PATH)).unwrap(), "from a path");
}

#[test]
fn copy_from_a_missing_path_names_it() {
    let t = TestStorage::new();
    let mut artifact = t.artifact(PATH);
    let err = t
        .storage
        .copy_from_path(&mut artifact, "/nonexistent/source")
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("/nonexistent/source"), "{err}");
}

#[test]
fn a_reader_failing_midway_leaves_no_partial_file_and_the_artifact_unchanged() {
    let t = TestStorage::new();
    let mut artifact = t.artifact(PATH);
    t.storage.copy(&mut artifact, &b"previous"[..]).unwrap();
    let before = artifact.clone();

    for write in [0, 1, 2] {
        let mut attempt = artifact.clone();
        let reader = FailingReader { good: 300_000 };
        let err = match write {
            0 => t.storage.copy(&mut attempt, reader),
            1 => t.storage.atomic_write_file(&mut attempt, reader, 0o644),
            _ => t.storage.copy(
                &mut attempt,
                io::Read::chain(&b"abc"[..], FailingReader { good: 0 }),
            ),
        }
        .unwrap_err();
        assert!(
            matches!(&err, Error::CopySource { source, .. } if source.to_string() == "network reset"),
            "{err}"
        );
        assert_eq!(attempt, before);
        assert_eq!(fs::read(t.base().join(PATH)).unwrap(), b"previous");
        assert_eq!(dir_entries(&t, "kind/ns/name"), ["file.txt"]);
    }
}

#[test]
fn writes_use_the_configured_digest_algorithm() {
    let t = TestStorage::with_options(|o| o.artifact_digest_algo = Algorithm::Sha384);
    let mut artifact = t.artifact(PATH);
    t.storage.copy(&mut artifact, &b"abc"[..]).unwrap();
    assert_eq!(
        artifact.digest,
        Algorithm::Sha384.digest_bytes(b"abc").to_string()
    );
}

#[test]
fn writing_without_a_path_is_an_error() {
    let t = TestStorage::new();
    let mut artifact = Artifact::default();
    assert!(matches!(
        t.storage.copy(&mut artifact, &b"x"[..]),
        Err(Error::EmptyPath)
    ));
}

#[test]
fn concurrent_writers_each_leave_a_complete_file() {
    let t = TestStorage::new();
    let barrier = Arc::new(Barrier::new(4));
    let contents: Vec<Vec<u8>> = (0..4u8).map(|i| vec![b'a' + i; 200_000]).collect();
    thread::scope(|scope| {
        for content in &contents {
            let (storage, barrier) = (t.storage.clone(), barrier.clone());
            let mut artifact = t.artifact(PATH);
            scope.spawn(move || {
                barrier.wait();
                storage.copy(&mut artifact, content.as_slice()).unwrap();
            });
        }
    });
    let written = fs::read(t.base().join(PATH)).unwrap();
    assert!(contents.contains(&written), "the file is a mix of writes");
    assert_eq!(dir_entries(&t, "kind/ns/name"), ["file.txt"]);
}

#[test]
fn verify_without_a_digest_fails_first() {
    let t = TestStorage::new();
    let err = t.storage.verify_artifact(&t.artifact(PATH)).unwrap_err();
    assert!(matches!(err, Error::NoDigest { .. }), "{err}");
}

#[test]
fn verify_an_unparsable_digest_fails_second() {
    let t = TestStorage::new();
    let artifact = Artifact {
        digest: "invalid".into(),
        ..t.artifact(PATH)
    };
    let err = t.storage.verify_artifact(&artifact).unwrap_err();
    assert!(matches!(err, Error::InvalidDigest { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("failed to parse artifact digest \"invalid\""),
        "{err}"
    );
}

#[test]
fn verify_a_missing_file_fails_as_not_found() {
    let t = TestStorage::new();
    let artifact = Artifact {
        digest: Algorithm::Sha256.digest_bytes(b"x").to_string(),
        ..t.artifact(PATH)
    };
    let err = t.storage.verify_artifact(&artifact).unwrap_err();
    assert!(
        matches!(err, Error::NotFound { .. }) && err.is_not_found(),
        "{err}"
    );
}

#[test]
fn verify_a_changed_file_reports_both_digests() {
    let t = TestStorage::new();
    let mut artifact = t.artifact(PATH);
    t.storage.copy(&mut artifact, &b"original"[..]).unwrap();
    t.storage.verify_artifact(&artifact).unwrap();
    fs::write(t.base().join(PATH), "tampered").unwrap();
    let err = t.storage.verify_artifact(&artifact).unwrap_err();
    let Error::DigestMismatch(mismatch) = &err else {
        panic!("{err}")
    };
    assert_eq!(mismatch.expected.to_string(), artifact.digest);
    assert_eq!(mismatch.actual, Algorithm::Sha256.digest_bytes(b"tampered"));
    assert!(
        err.to_string()
            .starts_with(&format!("computed digest doesn't match '{}'", artifact.digest))
    );
}

#[test]
fn verify_uses_the_algorithm_of_the_recorded_digest() {
    let t = TestStorage::new();
    t.put(PATH, b"data");
    let artifact = Artifact {
        digest: Algorithm::Blake3.digest_bytes(b"data").to_string(),
        ..t.artifact(PATH)
    };
    t.storage.verify_artifact(&artifact).unwrap();
}

#[test]
fn a_lock_excludes_other_holders_until_dropped() {
    let t = TestStorage::new();
    let artifact = t.artifact(PATH);
    let inside = Arc::new(AtomicUsize::new(0));
    let max_inside = Arc::new(AtomicUsize::new(0));
    thread::scope(|scope| {
        for _ in 0..2 {
            let (storage, artifact) = (t.storage.clone(), artifact.clone());
            let (inside, max_inside) = (inside.clone(), max_inside.clone());
            scope.spawn(move || {
                for _ in 0..20 {
                    let _guard = storage.lock(&artifact).unwrap();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    max_inside.fetch_max(now, Ordering::SeqCst);
                    thread::sleep(Duration::from_millis(1));
                    inside.fetch_sub(1, Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(max_inside.load(Ordering::SeqCst), 1);
}

#[test]
fn try_lock_fails_while_held_and_succeeds_after_drop() {
    let t = TestStorage::new();
    let artifact = t.artifact(PATH);
    let guard = t.storage.lock(&artifact).unwrap();
    assert_eq!(guard.path(), t.base().join("kind/ns/name/file.txt.lock"));
    let other = thread::scope(|s| {
        s.spawn(|| t.storage.try_lock(&artifact).unwrap().is_some())
            .join()
            .unwrap()
    });
    assert!(!other);
    drop(guard);
    assert!(t.storage.try_lock(&artifact).unwrap().is_some());
}

#[test]
fn a_blocked_lock_proceeds_when_the_holder_drops_it() {
    let t = TestStorage::new();
    let artifact = t.artifact(PATH);
    let guard = t.storage.lock(&artifact).unwrap();
    let (storage, waiting_artifact) = (t.storage.clone(), artifact.clone());
    let waiter = thread::spawn(move || storage.lock(&waiting_artifact).map(|_| ()));
    thread::sleep(Duration::from_millis(50));
    assert!(!waiter.is_finished());
    drop(guard);
    waiter.join().unwrap().unwrap();
}

#[test]
fn the_lock_file_stays_after_unlock() {
    let t = TestStorage::new();
    let artifact = t.artifact(PATH);
    drop(t.storage.lock(&artifact).unwrap());
    assert!(t.base().join("kind/ns/name/file.txt.lock").exists());
}

#[test]
fn locking_without_a_path_is_an_error_not_a_lock_file_in_the_working_directory() {
    let t = TestStorage::new();
    assert!(matches!(
        t.storage.lock(&Artifact::default()),
        Err(Error::EmptyPath)
    ));
    assert!(!std::path::Path::new(".lock").exists());
}
