//! `copy_to_path`: extracting all or part of a stored artifact, with the Go SDK's cases.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::{TestStorage, snapshot, write_tree};
use flux_artifact_storage::{Artifact, Error};

fn stored(t: &TestStorage) -> Artifact {
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            ("README.md", "readme"),
            ("src/main.go", "package main"),
            ("src/utils/helper.go", "package utils"),
        ],
    );
    let mut artifact = t.artifact("gitrepository/default/repo/artifact.tar.gz");
    t.storage.archive(&mut artifact, src.path(), None).unwrap();
    artifact
}

fn listing(dir: &std::path::Path) -> Vec<String> {
    snapshot(dir).into_iter().map(|(name, _)| name).collect()
}

#[test]
fn an_empty_sub_path_copies_the_whole_tree() {
    let t = TestStorage::new();
    let artifact = stored(&t);
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("dest");
    t.storage.copy_to_path(&artifact, "", &to).unwrap();
    assert_eq!(
        listing(&to),
        [
            "README.md",
            "src",
            "src/main.go",
            "src/utils",
            "src/utils/helper.go"
        ]
    );
}

#[test]
fn a_directory_sub_path_copies_its_content() {
    let t = TestStorage::new();
    let artifact = stored(&t);
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("dest");
    t.storage.copy_to_path(&artifact, "src", &to).unwrap();
    assert_eq!(listing(&to), ["main.go", "utils", "utils/helper.go"]);
}

#[test]
fn a_nested_sub_path_copies_its_content() {
    let t = TestStorage::new();
    let artifact = stored(&t);
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("dest");
    t.storage.copy_to_path(&artifact, "src/utils", &to).unwrap();
    assert_eq!(listing(&to), ["helper.go"]);
}

#[test]
fn a_file_sub_path_becomes_the_destination() {
    let t = TestStorage::new();
    let artifact = stored(&t);
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("nested/dir/README.md");
    t.storage.copy_to_path(&artifact, "README.md", &to).unwrap();
    assert_eq!(fs::read_to_string(&to).unwrap(), "readme");
}

#[test]
fn a_sub_path_cannot_climb_out_of_the_tree() {
    let t = TestStorage::new();
    let artifact = stored(&t);
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("dest");
    t.storage.copy_to_path(&artifact, "../../src/utils", &to).unwrap();
    assert_eq!(listing(&to), ["helper.go"]);
}

#[test]
fn a_missing_sub_path_is_an_error_and_leaves_nothing() {
    let t = TestStorage::new();
    let artifact = stored(&t);
    let out = tempfile::tempdir().unwrap();
    let err = t
        .storage
        .copy_to_path(&artifact, "nonexistent/path", out.path().join("dest"))
        .unwrap_err();
    assert!(
        matches!(err, Error::SubPathNotFound { .. }) && err.is_not_found(),
        "{err}"
    );
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn a_missing_artifact_is_not_found() {
    let t = TestStorage::new();
    let out = tempfile::tempdir().unwrap();
    let err = t
        .storage
        .copy_to_path(&t.artifact("k/ns/n/none.tar.gz"), "", out.path().join("d"))
        .unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
}

#[test]
fn a_tampered_artifact_is_refused_and_nothing_is_moved_into_place() {
    let t = TestStorage::new();
    let mut artifact = stored(&t);
    // Same content archived again, with a digest that does not match it.
    artifact.digest = flux_artifact_digest::Algorithm::Sha256
        .digest_bytes(b"something else")
        .to_string();
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("dest");
    let err = t.storage.copy_to_path(&artifact, "", &to).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch(_)), "{err}");
    assert!(!to.exists());
    assert_eq!(
        fs::read_dir(out.path()).unwrap().count(),
        0,
        "the staging directory is removed"
    );
}
