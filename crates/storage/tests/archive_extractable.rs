//! What `archive` writes, `untar` extracts: found by the `archive_roundtrip` fuzz target
//! (see `docs/security.md`, "Fuzzing"). A file name with a backslash is valid on Linux,
//! but both this crate's `untar` and Flux's `tar.Untar` refuse the whole artifact over
//! it ("invalid name"), so a producer would publish an artifact that every
//! kustomize-controller rejects. The writer now refuses such names with an error naming
//! the file, by the same rules the reader applies (`NameProblem`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod tarball;

use std::{
    ffi::OsStr,
    fs,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use common::{TestStorage, snapshot};
use flux_artifact_storage::{
    ArchiveEntries, ArchiveEntryError, ArchiveSource, Error, MAX_NAME_COMPONENT_BYTES, NameProblem,
    UntarError, UntarOptions, untar,
};
use tarball::{Tar, gzip};

/// A source tree holding one file named `name` (raw bytes) under `dir/`.
fn tree_with(name: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("dir")).unwrap();
    let file = src.path().join("dir").join(OsStr::from_bytes(name));
    fs::write(&file, "kind: ConfigMap\n").unwrap();
    (src, file)
}

fn assert_unextractable(error: Error, file: &Path, problem: NameProblem) {
    match &error {
        Error::UnextractableName { path, problem: p } => {
            assert_eq!((path.as_path(), *p), (file, problem));
        }
        other => panic!("expected UnextractableName, got {other:?}"),
    }
}

#[test]
fn archive_refuses_a_backslash_name_naming_the_file() {
    let t = TestStorage::new();
    let (src, file) = tree_with(b"a\\b.yaml");
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");

    let error = t.storage.archive(&mut artifact, src.path(), None).unwrap_err();

    let message = error.to_string();
    assert_unextractable(error, &file, NameProblem::Backslash);
    assert_eq!(
        message,
        format!(
            "cannot archive {}: its name contains a backslash, which no consumer can extract",
            file.display()
        )
    );
    assert!(artifact.digest.is_empty(), "the artifact is unchanged");
    assert!(
        snapshot(&t.base())
            .iter()
            .all(|(path, content)| content.is_none() || path.ends_with(".lock")),
        "no file is left in the storage: {:?}",
        snapshot(&t.base())
    );
}

#[test]
fn a_directory_with_a_backslash_name_is_refused_too() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    let dir = src.path().join("base\\overlay");
    fs::create_dir(&dir).unwrap();
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");

    let error = t.storage.archive(&mut artifact, src.path(), None).unwrap_err();

    assert_unextractable(error, &dir, NameProblem::Backslash);
}

#[test]
fn content_addressed_archives_of_a_directory_refuse_a_backslash_name() {
    let t = TestStorage::new();
    let (src, file) = tree_with(b"a\\b.yaml");

    let error = t
        .storage
        .archive_content_addressed("Kind", &("ns", "name"), ArchiveSource::dir(src.path()))
        .unwrap_err();

    assert_unextractable(error, &file, NameProblem::Backslash);
    let object_dir = t.base().join("kind/ns/name");
    let left: Vec<_> = fs::read_dir(&object_dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(
        left.iter().all(|name| name == ".lock"),
        "nothing but the lock is left: {left:?}"
    );
}

#[test]
fn an_entry_list_refuses_a_backslash_path_when_it_is_added() {
    let mut entries = ArchiveEntries::new();
    let error = entries.add_bytes("dir/a\\b.yaml", b"x".to_vec()).unwrap_err();
    assert_eq!(
        error,
        ArchiveEntryError::InvalidPath {
            path: "dir/a\\b.yaml".into(),
            reason: "contains a backslash",
        }
    );
    assert!(entries.is_empty(), "nothing was added");
}

#[test]
fn an_entry_list_refuses_a_component_longer_than_a_file_name_can_be() {
    let long = "x".repeat(MAX_NAME_COMPONENT_BYTES + 1);
    let mut entries = ArchiveEntries::new();
    let error = entries.add_dir(format!("dir/{long}/sub")).unwrap_err();
    assert!(
        matches!(&error, ArchiveEntryError::InvalidPath { reason, .. } if *reason == "has a component longer than 255 bytes"),
        "{error}"
    );
    entries
        .add_bytes("x".repeat(MAX_NAME_COMPONENT_BYTES), b"x".to_vec())
        .unwrap();
}

#[test]
fn untar_refuses_a_component_longer_than_a_file_name_can_be_by_name() {
    let long = format!("dir/{}", "x".repeat(MAX_NAME_COMPONENT_BYTES + 1));
    let out = tempfile::tempdir().unwrap();
    // As the Go SDK writes it: a PAX `path` record (the header's field holds 100 bytes).
    let tar = Tar::new()
        .pax(&[("path", long.as_bytes())])
        .file("placeholder", b"x")
        .finish();
    let error = untar(
        gzip(&tar).as_slice(),
        &out.path().join("x"),
        &UntarOptions::default(),
    )
    .unwrap_err();
    assert!(
        matches!(&error, UntarError::InvalidName { name, reason } if *name == long && *reason == "has a component longer than 255 bytes"),
        "{error:?}"
    );
}

#[test]
fn a_filter_can_leave_a_backslash_name_out() {
    let t = TestStorage::new();
    let (src, _) = tree_with(b"a\\b.yaml");
    fs::write(src.path().join("dir/ok.yaml"), "kind: ConfigMap\n").unwrap();
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    let skip_backslashes = |path: &Path, _: &fs::Metadata| path.as_os_str().as_bytes().contains(&b'\\');

    t.storage
        .archive(&mut artifact, src.path(), Some(&skip_backslashes))
        .unwrap();

    let file = fs::File::open(t.storage.local_path(&artifact).unwrap()).unwrap();
    let out = tempfile::tempdir().unwrap();
    untar(file, &out.path().join("x"), &UntarOptions::default()).unwrap();
    assert!(out.path().join("x/dir/ok.yaml").is_file());
}

/// The property the fuzz target checks, on the names that broke it and their
/// neighbours: `archive` either refuses a tree, or writes one that `untar` extracts to
/// the same files.
#[test]
fn what_archive_writes_untar_extracts() {
    let names: [&[u8]; 8] = [
        b"a\\b.yaml",
        b"\\",
        b"trailing\\",
        "ünï😀 with space.yaml".as_bytes(),
        b"not-utf8-\xff\xfe.yaml",
        &[b'L'; MAX_NAME_COMPONENT_BYTES],
        b"..hidden",
        b"-dash",
    ];
    let mut refused = 0;
    for name in names {
        let t = TestStorage::new();
        let (src, _) = tree_with(name);
        let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
        if let Err(error) = t.storage.archive(&mut artifact, src.path(), None) {
            assert!(
                matches!(error, Error::UnextractableName { .. }),
                "{name:?}: {error:?}"
            );
            refused += 1;
            continue;
        }
        let file = fs::File::open(t.storage.local_path(&artifact).unwrap()).unwrap();
        let out = tempfile::tempdir().unwrap();
        untar(file, &out.path().join("x"), &UntarOptions::default())
            .unwrap_or_else(|e| panic!("{name:?}: archived but not extractable: {e}"));
        assert_eq!(snapshot(&out.path().join("x")), snapshot(src.path()), "{name:?}");
    }
    assert_eq!(refused, 3, "exactly the backslash names are refused");
}
