//! The table in `Storage`'s docs, row by row: which methods follow a symlinked artifact
//! path (`latest.tar.gz -> v1.tar.gz`) and which act on the link.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{fs, path::PathBuf};

use common::TestStorage;
use flux_artifact_digest::Algorithm;
use flux_artifact_storage::Artifact;

const DIR: &str = "k/ns/n";

/// A storage with `v1.tar.gz` and a `latest.tar.gz` link to it; the link's artifact
/// carries the digest of `v1`.
fn linked() -> (TestStorage, Artifact, PathBuf, PathBuf) {
    let t = TestStorage::new();
    let target = t.put(&format!("{DIR}/v1.tar.gz"), b"v1");
    let link = t.base().join(DIR).join("latest.tar.gz");
    std::os::unix::fs::symlink("v1.tar.gz", &link).unwrap();
    let mut artifact = t.artifact(&format!("{DIR}/latest.tar.gz"));
    artifact.digest = Algorithm::Sha256.digest_bytes(b"v1").to_string();
    (t, artifact, target, link)
}

fn is_link(path: &PathBuf) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

#[test]
fn local_path_follows_the_link() {
    let (t, artifact, target, _) = linked();
    assert_eq!(t.storage.local_path(&artifact), Some(target));
}

#[test]
fn artifact_exist_is_false_for_the_link() {
    let (t, artifact, _, _) = linked();
    assert!(!t.storage.artifact_exist(&artifact));
}

#[test]
fn verify_artifact_reads_the_target() {
    let (t, artifact, _, _) = linked();
    t.storage.verify_artifact(&artifact).unwrap();
}

#[test]
fn copy_replaces_the_target_and_keeps_the_link() {
    let (t, mut artifact, target, link) = linked();
    t.storage.copy(&mut artifact, &b"v2"[..]).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"v2");
    assert!(is_link(&link));
}

#[test]
fn lock_locks_the_target() {
    let (t, artifact, target, _) = linked();
    let guard = t.storage.lock(&artifact).unwrap();
    assert_eq!(guard.path(), t.base().join(DIR).join("v1.tar.gz.lock"));
    let direct = t.artifact(&format!("{DIR}/v1.tar.gz"));
    assert!(t.storage.try_lock(&direct).unwrap().is_none());
    drop(guard);
    assert!(target.exists());
}

#[test]
fn remove_removes_the_link_not_the_target() {
    let (t, artifact, target, link) = linked();
    t.storage.remove(&artifact).unwrap();
    assert!(fs::symlink_metadata(&link).is_err());
    assert_eq!(fs::read(&target).unwrap(), b"v1");
}

#[test]
fn remove_all_but_current_keeps_the_target_as_current_and_the_link() {
    let (t, artifact, target, link) = linked();
    let old = t.put(&format!("{DIR}/v0.tar.gz"), b"v0");
    let deleted = t.storage.remove_all_but_current(&artifact).unwrap();
    assert_eq!(deleted, [old]);
    assert!(target.exists() && is_link(&link));
}

#[test]
fn garbage_collection_takes_the_target_as_current() {
    let (t, artifact, target, link) = linked();
    let old = t.put(&format!("{DIR}/v0.tar.gz"), b"v0");
    let garbage = t
        .storage
        .garbage_files(&artifact, 10, 1, std::time::Duration::from_secs(3600))
        .unwrap();
    assert_eq!(garbage, [old]);
    assert!(target.exists() && is_link(&link));
}

#[test]
fn symlink_of_a_linked_path_links_to_the_target_file() {
    let (t, artifact, _, _) = linked();
    let url = t.storage.symlink(&artifact, "stable.tar.gz").unwrap();
    assert_eq!(url, format!("http://localhost:9090/{DIR}/stable.tar.gz"));
    let stable = t.base().join(DIR).join("stable.tar.gz");
    assert_eq!(fs::read_link(stable).unwrap(), PathBuf::from("v1.tar.gz"));
}
