//! `Storage::archive_content_addressed`: naming, reuse of stored files, entry lists,
//! failure paths, and how it shares a directory with garbage collection.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    fs,
    path::{Path, PathBuf},
    sync::{Arc, Barrier},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::{TestStorage, chmod, gunzip, set_mtime, write_tree};
use flux_artifact_storage::{
    ArchiveEntries, ArchiveSource, Artifact, ClusterScoped, DirProblem, Error, StoredArchive,
    source_ignore_filter, sourceignore::Pattern,
};

const KIND: &str = "ExternalArtifact";
const KEY: (&str, &str) = ("apps", "podinfo");
const DIR: &str = "externalartifact/apps/podinfo";

fn entries(files: &[(&str, &str)]) -> ArchiveEntries {
    let mut entries = ArchiveEntries::new();
    for (path, content) in files {
        entries.add_bytes(path, content.as_bytes().to_vec()).unwrap();
    }
    entries
}

fn store(t: &TestStorage, files: &[(&str, &str)]) -> StoredArchive {
    t.storage
        .archive_content_addressed(KIND, &KEY, ArchiveSource::entries(entries(files)))
        .unwrap()
}

/// Names in the object's directory, sorted.
fn listing(t: &TestStorage) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(t.base().join(DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

fn file_of(t: &TestStorage, artifact: &Artifact) -> PathBuf {
    t.storage.local_path(artifact).unwrap()
}

#[test]
fn the_file_is_named_after_its_digest_and_described_by_the_artifact() {
    let t = TestStorage::new();
    let stored = store(&t, &[("app.yaml", "kind: ConfigMap\n")]);
    assert!(stored.written);
    let a = &stored.artifact;
    let hex = a.digest.strip_prefix("sha256:").unwrap();
    assert_eq!(a.path, format!("{DIR}/{hex}.tar.gz"));
    assert_eq!(a.url, format!("http://localhost:9090/{DIR}/{hex}.tar.gz"));
    assert_eq!(a.revision, format!("latest@{}", a.digest));
    let file = file_of(&t, a);
    assert_eq!(a.size, Some(fs::metadata(&file).unwrap().len() as i64));
    t.storage.verify_artifact(a).unwrap();
    let mtime = fs::metadata(&file).unwrap().modified().unwrap();
    let whole = mtime.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(a.last_update_time, Some(UNIX_EPOCH + Duration::from_secs(whole)));
    assert!(a.metadata.is_empty());
}

#[test]
fn an_unchanged_result_keeps_the_stored_file_its_time_and_the_artifact() {
    let t = TestStorage::new();
    let first = store(&t, &[("app.yaml", "v1\n")]).into_artifact();
    let file = file_of(&t, &first);
    let long_ago = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    set_mtime(&file, long_ago);
    let before = listing(&t);

    let again = store(&t, &[("app.yaml", "v1\n")]);
    assert!(!again.written);
    assert_eq!(fs::metadata(&file).unwrap().modified().unwrap(), long_ago);
    assert_eq!(again.artifact.last_update_time, Some(long_ago));
    assert_eq!(
        Artifact {
            last_update_time: None,
            ..again.artifact.clone()
        },
        Artifact {
            last_update_time: None,
            ..first
        }
    );
    assert_eq!(listing(&t), before, "nothing added or left behind");
}

#[test]
fn a_changed_result_is_a_new_file_beside_the_previous_one() {
    let t = TestStorage::new();
    let first = store(&t, &[("app.yaml", "v1\n")]).into_artifact();
    let second = store(&t, &[("app.yaml", "v2\n")]);
    assert!(second.written);
    assert_ne!(second.artifact.path, first.path);
    assert!(file_of(&t, &first).exists());
    assert!(file_of(&t, &second.artifact).exists());
}

#[test]
fn a_stored_file_of_another_size_under_the_name_is_replaced() {
    let t = TestStorage::new();
    let first = store(&t, &[("app.yaml", "v1\n")]).into_artifact();
    let file = file_of(&t, &first);
    fs::write(&file, b"torn").unwrap();
    let again = store(&t, &[("app.yaml", "v1\n")]);
    assert!(again.written);
    t.storage.verify_artifact(&again.artifact).unwrap();
}

#[test]
fn a_directory_source_gives_the_bytes_of_archive() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            ("apps/a.yaml", "a\n"),
            ("apps/b/c.yaml", "c\n"),
            (".git/HEAD", "ref\n"),
        ],
    );
    let mut plain = t.artifact("k/ns/n/plain.tar.gz");
    let filter = source_ignore_filter(Vec::new(), &[]);
    t.storage.archive(&mut plain, src.path(), Some(&filter)).unwrap();
    let stored = t
        .storage
        .archive_content_addressed(KIND, &KEY, ArchiveSource::dir_with_filter(src.path(), filter))
        .unwrap();
    assert_eq!(stored.artifact.digest, plain.digest);
    assert_eq!(
        fs::read(file_of(&t, &stored.artifact)).unwrap(),
        fs::read(file_of(&t, &plain)).unwrap()
    );
}

#[test]
fn an_entry_list_gives_the_bytes_of_its_directory() {
    let t = TestStorage::new();
    let disk = tempfile::tempdir().unwrap();
    write_tree(
        disk.path(),
        &[("run.sh", "#!/bin/sh\n"), ("values.yaml", "x: 1\n")],
    );
    chmod(&disk.path().join("run.sh"), 0o755);

    let mut list = ArchiveEntries::new();
    list.add_file("bin/run.sh", disk.path().join("run.sh"))
        .unwrap()
        .add_file("chart/values.yaml", disk.path().join("values.yaml"))
        .unwrap()
        .add_bytes("chart/Chart.yaml", b"name: app\n".to_vec())
        .unwrap()
        .add_executable_bytes("bin/tool", b"#!/bin/sh\n".to_vec())
        .unwrap()
        .add_dir("empty")
        .unwrap();

    let tree = tempfile::tempdir().unwrap();
    write_tree(
        tree.path(),
        &[
            ("bin/run.sh", "#!/bin/sh\n"),
            ("bin/tool", "#!/bin/sh\n"),
            ("chart/values.yaml", "x: 1\n"),
            ("chart/Chart.yaml", "name: app\n"),
        ],
    );
    chmod(&tree.path().join("bin/run.sh"), 0o755);
    chmod(&tree.path().join("bin/tool"), 0o755);
    fs::create_dir(tree.path().join("empty")).unwrap();

    let mut plain = t.artifact("k/ns/n/plain.tar.gz");
    t.storage.archive(&mut plain, tree.path(), None).unwrap();
    let stored = t
        .storage
        .archive_content_addressed(KIND, &KEY, ArchiveSource::entries(list))
        .unwrap();
    assert_eq!(
        gunzip(&file_of(&t, &stored.artifact)),
        gunzip(&file_of(&t, &plain))
    );
    assert_eq!(stored.artifact.digest, plain.digest);
}

#[test]
fn an_excluded_directory_of_a_list_loses_its_entry_only_as_in_a_walk() {
    let t = TestStorage::new();
    let list = entries(&[
        ("build/keep.txt", "k\n"),
        ("build/x.txt", "x\n"),
        ("app.yaml", "a\n"),
    ]);
    let tree = tempfile::tempdir().unwrap();
    write_tree(
        tree.path(),
        &[
            ("build/keep.txt", "k\n"),
            ("build/x.txt", "x\n"),
            ("app.yaml", "a\n"),
        ],
    );
    for (k, v) in [
        ("build/keep.txt", 0o644),
        ("build/x.txt", 0o644),
        ("app.yaml", 0o644),
    ] {
        chmod(&tree.path().join(k), v);
    }
    let patterns = || vec![Pattern::new("build/", &[]), Pattern::new("!build/keep.txt", &[])];

    let mut plain = t.artifact("k/ns/n/plain.tar.gz");
    let walk_filter = source_ignore_filter(patterns(), &[]);
    t.storage
        .archive(&mut plain, tree.path(), Some(&walk_filter))
        .unwrap();
    let stored = t
        .storage
        .archive_content_addressed(
            KIND,
            &KEY,
            ArchiveSource::entries_with_filter(list, source_ignore_filter(patterns(), &[])),
        )
        .unwrap();
    let names = |file: &Path| -> Vec<String> {
        tar::Archive::new(gunzip(file).as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect()
    };
    assert_eq!(
        names(&file_of(&t, &stored.artifact)),
        [".", "app.yaml", "build/keep.txt"]
    );
    assert_eq!(stored.artifact.digest, plain.digest);
}

#[test]
fn entry_filters_see_implied_directories_and_bytes() {
    let t = TestStorage::new();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = Arc::clone(&seen);
    let filter = move |path: &Path, is_dir: bool| {
        record.lock().unwrap().push((path.to_path_buf(), is_dir));
        false
    };
    let _stored = t
        .storage
        .archive_content_addressed(
            KIND,
            &KEY,
            ArchiveSource::entries_with_filter(entries(&[("a/b/c.yaml", "c\n")]), filter),
        )
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (PathBuf::from("a"), true),
            (PathBuf::from("a/b"), true),
            (PathBuf::from("a/b/c.yaml"), false)
        ]
    );
}

/// A procfs file says it is empty and then yields bytes: to the archive, a file that
/// grew while it was read.
#[cfg(target_os = "linux")]
#[test]
fn a_file_that_changes_size_while_archived_is_an_error_naming_it_and_leaves_nothing() {
    let t = TestStorage::new();
    let before = listing_after_first(&t);
    let mut list = entries(&[("a.yaml", "a\n")]);
    list.add_file("status", "/proc/self/status").unwrap();
    let err = t
        .storage
        .archive_content_addressed(KIND, &KEY, ArchiveSource::entries(list))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ArchiveSource { path, .. } if path == Path::new("/proc/self/status")),
        "{err}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("grew while being archived"), "{cause}");
    assert_eq!(listing(&t), before);
}

#[test]
fn a_missing_file_on_disk_is_an_error_naming_it_and_leaves_nothing_behind() {
    let t = TestStorage::new();
    let before = listing_after_first(&t);
    let mut list = entries(&[("a.yaml", "a\n")]);
    list.add_file("b.yaml", "/nonexistent/b.yaml").unwrap();
    let err = t
        .storage
        .archive_content_addressed(KIND, &KEY, ArchiveSource::entries(list))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ArchiveSource { path, .. } if path == Path::new("/nonexistent/b.yaml")),
        "{err}"
    );
    assert!(err.is_not_found());
    assert_eq!(listing(&t), before);
}

#[test]
fn a_directory_on_disk_given_as_a_file_is_an_error_naming_it() {
    let t = TestStorage::new();
    let disk = tempfile::tempdir().unwrap();
    let mut list = ArchiveEntries::new();
    list.add_file("a.yaml", disk.path()).unwrap();
    let err = t
        .storage
        .archive_content_addressed(KIND, &KEY, ArchiveSource::entries(list))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ArchiveSource { path, .. } if path == disk.path()),
        "{err}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert_eq!(cause, "not a regular file");
}

/// Stores one artifact and returns the directory listing it leaves.
fn listing_after_first(t: &TestStorage) -> Vec<String> {
    let _stored = store(t, &[("first.yaml", "1\n")]);
    listing(t)
}

#[test]
fn a_missing_source_directory_is_an_invalid_dir_and_creates_nothing() {
    let t = TestStorage::new();
    let err = t
        .storage
        .archive_content_addressed(KIND, &KEY, ArchiveSource::dir("/nonexistent/dir"))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidDir {
                problem: DirProblem::Missing,
                ..
            }
        ),
        "{err}"
    );
    assert!(!t.base().join(DIR).exists());
}

#[test]
fn an_empty_namespace_must_be_asked_for_as_cluster_scoped() {
    let t = TestStorage::new();
    let err = t
        .storage
        .archive_content_addressed(
            KIND,
            &("", "global"),
            ArchiveSource::entries(ArchiveEntries::new()),
        )
        .unwrap_err();
    assert!(
        matches!(&err, Error::MissingNamespace { name, .. } if name == "global"),
        "{err}"
    );
    assert!(err.to_string().contains("ClusterScoped(\"global\")"), "{err}");
    let stored = t
        .storage
        .archive_content_addressed(
            KIND,
            &ClusterScoped("global"),
            ArchiveSource::entries(ArchiveEntries::new()),
        )
        .unwrap();
    assert!(
        stored.artifact.path.starts_with("externalartifact/global/"),
        "{}",
        stored.artifact.path
    );
}

#[test]
fn concurrent_writers_of_the_same_content_write_it_once() {
    let t = TestStorage::new();
    let writers = 8;
    let barrier = Barrier::new(writers);
    let results: Vec<StoredArchive> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..writers)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    store(&t, &[("app.yaml", "same\n"), ("b/c.yaml", "c\n")])
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(results.iter().filter(|r| r.written).count(), 1);
    for r in &results {
        assert_eq!(r.artifact, results[0].artifact);
    }
    t.storage.verify_artifact(&results[0].artifact).unwrap();
    let file = file_of(&t, &results[0].artifact);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        listing(&t),
        [".lock".to_owned(), name.clone(), format!("{name}.lock")]
    );
}

#[test]
fn garbage_collection_leaves_a_stored_file_alone_until_the_writer_lets_go() {
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_records = 1;
        o.artifact_retention_ttl = Duration::ZERO;
    });
    let old = store(&t, &[("app.yaml", "v1\n")]).into_artifact();
    set_mtime(&file_of(&t, &old), SystemTime::now() - Duration::from_secs(3600));
    let current = store(&t, &[("app.yaml", "v2\n")]).into_artifact();

    // A writer finds v1 stored: old, and not current for a collector that goes by v2.
    let reused = store(&t, &[("app.yaml", "v1\n")]);
    assert!(!reused.written);
    let deleted = t
        .storage
        .garbage_collect(&current, Duration::from_secs(10))
        .unwrap();
    assert!(deleted.is_empty(), "{deleted:?}");
    t.storage.verify_artifact(&reused.artifact).unwrap();

    // Published (or given up): now it is garbage like any other.
    drop(reused);
    let deleted = t
        .storage
        .garbage_collect(&current, Duration::from_secs(10))
        .unwrap();
    assert_eq!(deleted, [file_of(&t, &old)]);
}

#[test]
fn remove_all_but_current_leaves_a_stored_file_alone_until_the_writer_lets_go() {
    let t = TestStorage::new();
    let current = store(&t, &[("app.yaml", "v2\n")]).into_artifact();
    let reused = store(&t, &[("app.yaml", "v1\n")]);
    let removed = t.storage.remove_all_but_current(&current).unwrap();
    assert!(removed.is_empty(), "{removed:?}");
    t.storage.verify_artifact(&reused.artifact).unwrap();
}

#[test]
fn writers_and_collectors_in_parallel_never_lose_a_file_being_published() {
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_records = 1;
        o.artifact_retention_ttl = Duration::ZERO;
    });
    let current = store(&t, &[("app.yaml", "current\n")]).into_artifact();
    let rounds = 40;
    std::thread::scope(|scope| {
        for writer in 0..3 {
            let t = &t;
            scope.spawn(move || {
                for round in 0..rounds {
                    let content = format!("v{}\n", (round + writer) % 4);
                    let stored = store(t, &[("app.yaml", content.as_str())]);
                    // What a writer publishes must exist until it lets go.
                    t.storage.verify_artifact(&stored.artifact).unwrap();
                }
            });
        }
        let t = &t;
        let current = &current;
        scope.spawn(move || {
            for _ in 0..rounds {
                t.storage
                    .garbage_collect(current, Duration::from_secs(10))
                    .unwrap();
            }
        });
    });
    t.storage.verify_artifact(&current).unwrap();
    let leftovers: Vec<String> = listing(&t).into_iter().filter(|n| n.ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
