//! `remove`, `remove_all`, `remove_all_but_current`, `mkdir_all` and `symlink`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;

use common::TestStorage;
use flux_artifact_config::Options;
use flux_artifact_storage::{ClusterScoped, Error, Storage};

#[test]
fn remove_deletes_the_file() {
    let t = TestStorage::new();
    let path = t.put("k/ns/n/a.tar.gz", b"x");
    t.storage.remove(&t.artifact("k/ns/n/a.tar.gz")).unwrap();
    assert!(!path.exists());
}

#[test]
fn remove_of_a_missing_file_is_not_found() {
    let t = TestStorage::new();
    let err = t
        .storage
        .remove(&t.artifact("k/ns/n/missing.tar.gz"))
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn remove_of_a_symlink_removes_the_link_not_its_target() {
    let t = TestStorage::new();
    let target = t.put("k/ns/n/a.tar.gz", b"x");
    std::os::unix::fs::symlink("a.tar.gz", t.base().join("k/ns/n/latest.tar.gz")).unwrap();
    t.storage.remove(&t.artifact("k/ns/n/latest.tar.gz")).unwrap();
    assert!(target.exists());
    assert!(fs::symlink_metadata(t.base().join("k/ns/n/latest.tar.gz")).is_err());
}

#[test]
fn remove_all_deletes_the_directory_and_reports_it() {
    let t = TestStorage::new();
    t.put("foo/bar/artifact1.tar.gz", b"1");
    t.put("foo/bar/sub/x", b"x");
    let removed = t
        .storage
        .remove_all(&t.artifact("foo/bar/artifact1.tar.gz"))
        .unwrap();
    assert_eq!(removed, Some(t.base().join("foo/bar")));
    assert!(!t.base().join("foo/bar").exists());
    assert!(t.base().join("foo").exists());
}

#[test]
fn remove_all_of_a_missing_directory_reports_nothing() {
    let t = TestStorage::new();
    assert_eq!(
        t.storage.remove_all(&t.artifact("foo/bar/x.tar.gz")).unwrap(),
        None
    );
}

#[test]
fn remove_all_with_a_directory_at_the_artifact_path_removes_its_parent() {
    let t = TestStorage::new();
    fs::create_dir_all(t.base().join("foo/bar/artifact1.tar.gz")).unwrap();
    let removed = t
        .storage
        .remove_all(&t.artifact("foo/bar/artifact1.tar.gz"))
        .unwrap();
    assert_eq!(removed, Some(t.base().join("foo/bar")));
}

#[test]
fn remove_all_refuses_to_wipe_the_storage_root() {
    let t = TestStorage::new();
    t.put("keep/me", b"x");
    for path in ["top.tar.gz", "../../top.tar.gz", "/top.tar.gz"] {
        let err = t.storage.remove_all(&t.artifact(path)).unwrap_err();
        assert!(matches!(err, Error::StorageRoot { .. }), "{path}: {err}");
    }
    assert!(t.base().join("keep/me").exists());
}

#[test]
fn remove_all_but_current_keeps_the_current_file_its_lock_symlinks_and_dirs() {
    let t = TestStorage::new();
    t.put("foo/bar/artifact1.tar.gz", b"current");
    t.put("foo/bar/artifact1.tar.gz.lock", b"");
    t.put("foo/bar/file1.txt", b"1");
    t.put("foo/bar/file2.txt", b"2");
    t.put("foo/bar/old.tar.gz.lock", b"");
    std::os::unix::fs::symlink("artifact1.tar.gz", t.base().join("foo/bar/latest.tar.gz")).unwrap();
    fs::create_dir(t.base().join("foo/bar/subdir")).unwrap();

    let deleted = t
        .storage
        .remove_all_but_current(&t.artifact("foo/bar/artifact1.tar.gz"))
        .unwrap();
    let dir = t.base().join("foo/bar");
    assert_eq!(
        deleted,
        [
            dir.join("file1.txt"),
            dir.join("file2.txt"),
            dir.join("old.tar.gz.lock")
        ]
    );
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            ".lock", // the directory's lock, held during the call
            "artifact1.tar.gz",
            "artifact1.tar.gz.lock",
            "latest.tar.gz",
            "subdir"
        ]
    );
}

#[test]
fn remove_all_but_current_refuses_the_storage_root() {
    let t = TestStorage::new();
    t.put("top.tar.gz", b"current");
    t.put("top-level-other.txt", b"x");
    t.put("k/ns/n/a.tar.gz", b"a");
    let before = common::snapshot(&t.base());
    for path in ["top.tar.gz", "../../top.tar.gz", "/top.tar.gz", "k/../top.tar.gz"] {
        let err = t.storage.remove_all_but_current(&t.artifact(path)).unwrap_err();
        assert!(
            matches!(err, Error::StorageRoot { op: "clean", .. }),
            "{path}: {err}"
        );
    }
    assert_eq!(common::snapshot(&t.base()), before);
}

#[test]
fn remove_all_but_current_keeps_what_is_in_use() {
    let t = TestStorage::new();
    t.put("foo/bar/current.tar.gz", b"current");
    t.put("foo/bar/locked.tar.gz", b"about to be published");
    t.put("foo/bar/free.tar.gz", b"old");
    t.put("foo/bar/.lock", b"");
    let writing = t.put("foo/bar/.next.tar.gz.Ab12Cd.tmp", b"partial");
    let held = t.storage.lock(&t.artifact("foo/bar/locked.tar.gz")).unwrap();
    let writer = fs::File::open(&writing).unwrap();
    writer.lock().unwrap();

    let deleted = t
        .storage
        .remove_all_but_current(&t.artifact("foo/bar/current.tar.gz"))
        .unwrap();
    assert_eq!(deleted, [t.base().join("foo/bar/free.tar.gz")]);
    for kept in [
        "current.tar.gz",
        "locked.tar.gz",
        "locked.tar.gz.lock",
        ".lock",
        ".next.tar.gz.Ab12Cd.tmp",
    ] {
        assert!(t.base().join("foo/bar").join(kept).exists(), "{kept}");
    }
    drop((held, writer));
}

#[test]
fn remove_all_but_current_of_a_missing_directory_is_an_error() {
    let t = TestStorage::new();
    let err = t
        .storage
        .remove_all_but_current(&t.artifact("foo/bar/artifact1.tar.gz"))
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
}

#[test]
fn mkdir_all_creates_the_artifact_directory_only() {
    let t = TestStorage::new();
    t.storage.mkdir_all(&t.artifact("k/ns/n/a.tar.gz")).unwrap();
    assert!(t.base().join("k/ns/n").is_dir());
    assert!(!t.base().join("k/ns/n/a.tar.gz").exists());
}

#[test]
fn symlink_points_at_the_artifact_and_returns_its_url() {
    let t = TestStorage::new();
    t.put("k/ns/n/v1.tar.gz", b"v1");
    let url = t
        .storage
        .symlink(&t.artifact("k/ns/n/v1.tar.gz"), "latest.tar.gz")
        .unwrap();
    assert_eq!(url, "http://localhost:9090/k/ns/n/latest.tar.gz");
    let link = t.base().join("k/ns/n/latest.tar.gz");
    assert_eq!(fs::read_link(&link).unwrap(), std::path::Path::new("v1.tar.gz"));
    assert_eq!(fs::read(&link).unwrap(), b"v1");
}

#[test]
fn symlink_replaces_a_previous_link() {
    let t = TestStorage::new();
    t.put("k/ns/n/v1.tar.gz", b"v1");
    t.put("k/ns/n/v2.tar.gz", b"v2");
    t.storage
        .symlink(&t.artifact("k/ns/n/v1.tar.gz"), "latest.tar.gz")
        .unwrap();
    t.storage
        .symlink(&t.artifact("k/ns/n/v2.tar.gz"), "latest.tar.gz")
        .unwrap();
    assert_eq!(fs::read(t.base().join("k/ns/n/latest.tar.gz")).unwrap(), b"v2");
    let entries = fs::read_dir(t.base().join("k/ns/n")).unwrap().count();
    assert_eq!(entries, 3, "no staging link is left behind");
}

#[test]
fn symlink_urls_follow_the_advertised_scheme() {
    // Go always writes `http://`, even for an https address.
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage_path: dir.path().into(),
        storage_adv_address: "https://artifacts.example.com".into(),
        ..Options::default()
    };
    let storage = Storage::new(&options).unwrap();
    fs::create_dir_all(storage.base_path().join("k/ns/n")).unwrap();
    fs::write(storage.base_path().join("k/ns/n/v1.tar.gz"), "x").unwrap();
    let artifact = flux_artifact_storage::Artifact {
        path: "k/ns/n/v1.tar.gz".into(),
        ..Default::default()
    };
    let url = storage.symlink(&artifact, "latest.tar.gz").unwrap();
    assert_eq!(url, "https://artifacts.example.com/k/ns/n/latest.tar.gz");
}

#[test]
fn symlink_urls_name_the_resolved_path_inside_the_root() {
    let t = TestStorage::new();
    t.put("k/ns/n/v1.tar.gz", b"v1");
    for path in [
        "../../k/ns/n/v1.tar.gz",
        "/k/ns/n/v1.tar.gz",
        "k/ns/../ns/./n/v1.tar.gz",
    ] {
        let url = t.storage.symlink(&t.artifact(path), "latest.tar.gz").unwrap();
        assert_eq!(url, "http://localhost:9090/k/ns/n/latest.tar.gz", "{path}");
    }
    assert_eq!(fs::read(t.base().join("k/ns/n/latest.tar.gz")).unwrap(), b"v1");
}

#[test]
fn symlink_urls_follow_symlinked_directories_to_where_the_link_is() {
    let t = TestStorage::new();
    t.put("real/ns/n/v1.tar.gz", b"v1");
    std::os::unix::fs::symlink("real", t.base().join("alias")).unwrap();
    let url = t
        .storage
        .symlink(&t.artifact("alias/ns/n/v1.tar.gz"), "latest.tar.gz")
        .unwrap();
    assert_eq!(url, "http://localhost:9090/real/ns/n/latest.tar.gz");
    assert!(t.base().join("real/ns/n/latest.tar.gz").exists());
}

#[test]
fn symlink_names_must_be_plain_file_names() {
    let t = TestStorage::new();
    t.put("k/ns/n/v1.tar.gz", b"v1");
    for name in ["../escape", "a/b", "..", ""] {
        let err = t
            .storage
            .symlink(&t.artifact("k/ns/n/v1.tar.gz"), name)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidPathSegment { .. }), "{name}: {err}");
    }
}

#[test]
fn remove_object_storage_deletes_the_objects_directory_only() {
    let t = TestStorage::new();
    t.put("externalartifact/apps/podinfo/a.tar.gz", b"a");
    t.put("externalartifact/apps/podinfo/b.tar.gz", b"b");
    let neighbour = t.put("externalartifact/apps/other/a.tar.gz", b"a");
    let removed = t
        .storage
        .remove_object_storage("ExternalArtifact", &("apps", "podinfo"))
        .unwrap();
    assert_eq!(removed, Some(t.base().join("externalartifact/apps/podinfo")));
    assert!(!t.base().join("externalartifact/apps/podinfo").exists());
    assert!(neighbour.exists());
}

#[test]
fn remove_object_storage_of_a_missing_directory_reports_nothing() {
    let t = TestStorage::new();
    let removed = t
        .storage
        .remove_object_storage("ExternalArtifact", &("apps", "podinfo"))
        .unwrap();
    assert_eq!(removed, None);
}

#[test]
fn remove_object_storage_refuses_an_empty_namespace_as_missing() {
    let t = TestStorage::new();
    let artifact_of_the_namespace = t.put("externalartifact/apps/podinfo/a.tar.gz", b"a");
    let err = t
        .storage
        .remove_object_storage("ExternalArtifact", &("", "apps"))
        .unwrap_err();
    assert!(matches!(err, Error::MissingNamespace { .. }), "{err}");
    assert!(artifact_of_the_namespace.exists());
}

#[test]
fn remove_object_storage_refuses_a_cluster_scoped_key_that_would_name_a_namespace_directory() {
    let t = TestStorage::new();
    let artifact_of_the_namespace = t.put("externalartifact/apps/podinfo/a.tar.gz", b"a");
    let err = t
        .storage
        .remove_object_storage("ExternalArtifact", &ClusterScoped("apps"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidPathSegment {
                segment: "namespace",
                ..
            }
        ),
        "{err}"
    );
    assert!(artifact_of_the_namespace.exists());
}

#[test]
fn remove_object_storage_refuses_traversal_in_a_name() {
    let t = TestStorage::new();
    let outside = t.put("externalartifact/apps/a.tar.gz", b"a");
    let err = t
        .storage
        .remove_object_storage("ExternalArtifact", &("apps", ".."))
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidPathSegment { segment: "name", .. }),
        "{err}"
    );
    assert!(outside.exists());
}
