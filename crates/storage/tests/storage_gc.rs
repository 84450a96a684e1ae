//! Garbage collection: the Go SDK's table cases, and the cases where Go is wrong.
//!
//! File ages are set explicitly with `set_modified` instead of sleeping between writes,
//! so the tests are exact and fast.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    fs,
    path::PathBuf,
    time::{Duration, SystemTime},
};

use common::{TestStorage, set_age, set_mtime};
use flux_artifact_storage::{Error, GARBAGE_COUNT_LIMIT};

const DIR: &str = "foo/bar";

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

/// Creates `names` in the artifact dir with the given ages, oldest first.
fn create(t: &TestStorage, files: &[(&str, Duration)]) {
    for (name, age) in files {
        let path = t.put(&format!("{DIR}/{name}"), b"content");
        set_age(&path, *age);
    }
}

/// Names of garbage files, relative to the artifact dir.
fn garbage(t: &TestStorage, current: &str, limit: usize, max: usize, ttl: Duration) -> Vec<String> {
    let artifact = t.artifact(&format!("{DIR}/{current}"));
    names(t, t.storage.garbage_files(&artifact, limit, max, ttl).unwrap())
}

fn names(t: &TestStorage, paths: Vec<PathBuf>) -> Vec<String> {
    let dir = t.base().join(DIR);
    paths
        .into_iter()
        .map(|p| p.strip_prefix(&dir).unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The files left in the directory, but the directory's own lock file, which every
/// collection creates (see `the_directory_lock_file_is_never_collected`).
fn remaining(t: &TestStorage) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(t.base().join(DIR))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != ".lock")
        .collect();
    names.sort();
    names
}

/// Five files `artifact1..5.tar.gz` with ages `step * (5 - i)` plus `offset`.
fn five(step: f64, offset: f64) -> Vec<(String, Duration)> {
    (1..=5)
        .map(|i| {
            (
                format!("artifact{i}.tar.gz"),
                secs(step * f64::from(5 - i) + offset),
            )
        })
        .collect()
}

fn create_owned(t: &TestStorage, files: &[(String, Duration)]) {
    let borrowed: Vec<(&str, Duration)> = files.iter().map(|(n, a)| (n.as_str(), *a)).collect();
    create(t, &borrowed);
}

#[test]
fn go_case_retention_count_keeps_the_newest() {
    let t = TestStorage::new();
    create_owned(&t, &five(0.01, 0.0));
    assert_eq!(
        garbage(&t, "artifact5.tar.gz", 10, 2, Duration::from_secs(120)),
        ["artifact1.tar.gz", "artifact2.tar.gz", "artifact3.tar.gz"]
    );
}

#[test]
fn go_case_retention_count_ignores_lock_files() {
    let t = TestStorage::new();
    create_owned(&t, &five(0.01, 0.0));
    create(
        &t,
        &[
            ("artifact1.tar.gz.lock", secs(1.0)),
            ("artifact2.tar.gz.lock", secs(1.0)),
            ("artifact3.tar.gz.lock", secs(1.0)),
        ],
    );
    assert_eq!(
        garbage(&t, "artifact5.tar.gz", 10, 2, Duration::from_secs(120)),
        ["artifact1.tar.gz", "artifact2.tar.gz", "artifact3.tar.gz"]
    );
}

#[test]
fn go_case_ttl_collects_the_expired() {
    let t = TestStorage::new();
    create_owned(&t, &five(1.0, 1.0));
    assert_eq!(
        garbage(&t, "artifact5.tar.gz", 10, 4, secs(3.5)),
        ["artifact1.tar.gz", "artifact2.tar.gz"]
    );
}

#[test]
fn go_case_ttl_ignores_lock_files() {
    let t = TestStorage::new();
    create_owned(&t, &five(1.0, 1.0));
    create(
        &t,
        &[
            ("artifact1.tar.gz.lock", secs(9.0)),
            ("artifact2.tar.gz.lock", secs(9.0)),
        ],
    );
    assert_eq!(
        garbage(&t, "artifact5.tar.gz", 10, 4, secs(3.5)),
        ["artifact1.tar.gz", "artifact2.tar.gz"]
    );
}

#[test]
fn go_case_ttl_then_retention_count() {
    let t = TestStorage::new();
    let six: Vec<(String, Duration)> = (1..=6)
        .map(|i| (format!("artifact{i}.tar.gz"), secs(f64::from(7 - i))))
        .collect();
    create_owned(&t, &six);
    assert_eq!(
        garbage(&t, "artifact6.tar.gz", 10, 4, secs(5.5)),
        ["artifact1.tar.gz", "artifact2.tar.gz"]
    );
}

#[test]
fn go_case_total_count_limit_stops_the_listing() {
    let t = TestStorage::new();
    let six: Vec<(String, Duration)> = (1..=6)
        .map(|i| (format!("artifact{i}.tar.gz"), secs(0.5 * f64::from(7 - i))))
        .collect();
    create_owned(&t, &six);
    assert_eq!(
        garbage(&t, "artifact6.tar.gz", 3, 2, secs(0.5)),
        ["artifact1.tar.gz", "artifact2.tar.gz", "artifact3.tar.gz"]
    );
}

#[test]
fn ttl_only_collects_every_expired_file_but_the_current() {
    let t = TestStorage::new();
    create(
        &t,
        &[
            ("old1", secs(100.0)),
            ("old2", secs(90.0)),
            ("current", secs(80.0)),
        ],
    );
    assert_eq!(garbage(&t, "current", 10, 10, secs(60.0)), ["old1", "old2"]);
}

#[test]
fn count_only_collects_the_oldest_over_the_limit() {
    let t = TestStorage::new();
    create(
        &t,
        &[
            ("a", secs(4.0)),
            ("b", secs(3.0)),
            ("c", secs(2.0)),
            ("current", secs(1.0)),
        ],
    );
    assert_eq!(garbage(&t, "current", 10, 3, secs(3600.0)), ["a"]);
}

#[test]
fn expired_files_count_once_towards_retention() {
    // Ten files, the two oldest expired, retention two: the current one and the newest
    // other remain. Go counts the expired ones twice and leaves five.
    let t = TestStorage::new();
    let files: Vec<(String, Duration)> = (0..10)
        .map(|i| {
            (
                format!("a{i}.tar.gz"),
                secs(if i < 2 {
                    1000.0 - f64::from(i)
                } else {
                    f64::from(20 - i)
                }),
            )
        })
        .collect();
    create_owned(&t, &files);
    let artifact = t.artifact(&format!("{DIR}/a9.tar.gz"));
    let listed = names(
        &t,
        t.storage.garbage_files(&artifact, 1000, 2, secs(500.0)).unwrap(),
    );
    let expected: Vec<String> = (0..8).map(|i| format!("a{i}.tar.gz")).collect();
    assert_eq!(listed, expected);

    let t = TestStorage::with_options(|o| {
        o.artifact_retention_ttl = secs(500.0);
        o.artifact_retention_records = 2;
    });
    create_owned(&t, &files);
    let deleted = t
        .storage
        .garbage_collect(&t.artifact(&format!("{DIR}/a9.tar.gz")), secs(10.0))
        .unwrap();
    assert_eq!(deleted.len(), 8);
    assert_eq!(remaining(&t), ["a8.tar.gz", "a9.tar.gz"]);
}

#[test]
fn equal_mtimes_are_ordered_by_name_and_none_escapes() {
    // Go keys a map by mtime: equal times collide and a file is never counted.
    let t = TestStorage::new();
    let same = SystemTime::now() - secs(5.0);
    for name in ["d", "b", "a", "c", "current"] {
        set_mtime(&t.put(&format!("{DIR}/{name}"), b"x"), same);
    }
    assert_eq!(garbage(&t, "current", 10, 2, secs(3600.0)), ["a", "b", "c"]);
}

#[test]
fn the_current_artifact_is_never_garbage_even_when_expired() {
    let t = TestStorage::new();
    create(&t, &[("older", secs(50.0)), ("current", secs(100.0))]);
    assert_eq!(garbage(&t, "current", 10, 1, secs(1.0)), ["older"]);
}

#[test]
fn addressing_the_directory_protects_the_newest_file() {
    // source-watcher collects with a placeholder name (`…/*`) that matches no file: Go
    // then deletes every expired file, the one just written included if it is old.
    let t = TestStorage::new();
    create(
        &t,
        &[("a", secs(300.0)), ("b", secs(200.0)), ("newest", secs(100.0))],
    );
    assert_eq!(garbage(&t, "*", 10, 2, secs(10.0)), ["a", "b"]);
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_ttl = secs(10.0);
        o.artifact_retention_records = 1;
    });
    create(
        &t,
        &[("a", secs(300.0)), ("b", secs(200.0)), ("newest", secs(100.0))],
    );
    t.storage
        .garbage_collect(&t.artifact(&format!("{DIR}/*")), secs(10.0))
        .unwrap();
    assert_eq!(remaining(&t), ["newest"]);
}

#[test]
fn the_listing_stops_at_the_count_limit() {
    let t = TestStorage::new();
    for i in 0..GARBAGE_COUNT_LIMIT + 5 {
        t.put(&format!("{DIR}/f{i:05}"), b"");
    }
    let artifact = t.artifact(&format!("{DIR}/f{:05}", GARBAGE_COUNT_LIMIT + 4));
    let listed = t
        .storage
        .garbage_files(&artifact, GARBAGE_COUNT_LIMIT, 0, Duration::from_secs(3600))
        .unwrap();
    // The first 1000 names are considered, all collectable since only the current one
    // (beyond the limit) is kept.
    assert_eq!(listed.len(), GARBAGE_COUNT_LIMIT);
    assert!(
        listed
            .iter()
            .all(|p| p.file_name().unwrap().to_str().unwrap() < "f01000")
    );
}

#[test]
fn garbage_collect_deletes_lock_files_with_their_artifacts() {
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_ttl = secs(2.0);
        o.artifact_retention_records = 2;
    });
    create(
        &t,
        &[
            ("artifact1.tar.gz", secs(5.0)),
            ("artifact1.tar.gz.lock", secs(4.0)),
            ("artifact2.tar.gz", secs(3.0)),
            ("artifact2.tar.gz.lock", secs(2.0)),
            ("artifact3.tar.gz", secs(1.0)),
            ("artifact4.tar.gz", secs(0.0)),
        ],
    );
    let deleted = t
        .storage
        .garbage_collect(&t.artifact(&format!("{DIR}/artifact4.tar.gz")), secs(1.0))
        .unwrap();
    assert_eq!(names(&t, deleted), ["artifact1.tar.gz", "artifact2.tar.gz"]);
    assert_eq!(remaining(&t), ["artifact3.tar.gz", "artifact4.tar.gz"]);
}

#[test]
fn garbage_collect_leaves_an_artifact_whose_lock_is_held() {
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_ttl = secs(1.0);
        o.artifact_retention_records = 1;
    });
    create(
        &t,
        &[
            ("in-use.tar.gz", secs(10.0)),
            ("old.tar.gz", secs(9.0)),
            ("current.tar.gz", secs(0.0)),
        ],
    );
    let guard = t
        .storage
        .lock(&t.artifact(&format!("{DIR}/in-use.tar.gz")))
        .unwrap();
    let deleted = t
        .storage
        .garbage_collect(&t.artifact(&format!("{DIR}/current.tar.gz")), secs(5.0))
        .unwrap();
    assert_eq!(names(&t, deleted), ["old.tar.gz"]);
    assert_eq!(
        remaining(&t),
        ["current.tar.gz", "in-use.tar.gz", "in-use.tar.gz.lock"]
    );
    drop(guard);
}

#[test]
fn garbage_collect_stops_at_its_deadline_and_deletes_nothing_after() {
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_ttl = secs(1.0);
        o.artifact_retention_records = 1;
    });
    create(
        &t,
        &[
            ("a", secs(10.0)),
            ("b", secs(9.0)),
            ("c", secs(8.0)),
            ("current", secs(0.0)),
        ],
    );
    let err = t
        .storage
        .garbage_collect(&t.artifact(&format!("{DIR}/current")), Duration::ZERO)
        .unwrap_err();
    let Error::GcTimeout { deleted, timeout, .. } = &err else {
        panic!("{err}")
    };
    assert!(deleted.is_empty());
    assert_eq!(*timeout, Duration::ZERO);
    assert!(err.to_string().contains("timed out"), "{err}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(remaining(&t), ["a", "b", "c", "current"]);
}

#[test]
fn leftovers_of_crashed_writes_are_collected_but_live_writes_are_not() {
    let t = TestStorage::new();
    create(&t, &[("current.tar.gz", secs(0.0))]);
    let crashed = t.put(&format!("{DIR}/.current.tar.gz.a1b2c3.tmp"), b"partial");
    set_age(&crashed, secs(3600.0));
    let young = t.put(&format!("{DIR}/.current.tar.gz.d4e5f6.tmp"), b"just created");
    let live = t.put(&format!("{DIR}/.current.tar.gz.g7h8i9.tmp"), b"being written");
    set_age(&live, secs(3600.0));
    let writer = fs::File::open(&live).unwrap();
    writer.lock().unwrap();

    let artifact = t.artifact(&format!("{DIR}/current.tar.gz"));
    let deleted = t.storage.garbage_collect(&artifact, secs(5.0)).unwrap();
    assert_eq!(deleted, [crashed]);
    assert!(young.exists() && live.exists());
    drop(writer);
}

#[test]
fn temporary_files_do_not_count_as_artifacts() {
    let t = TestStorage::new();
    create(&t, &[("old.tar.gz", secs(10.0)), ("current.tar.gz", secs(0.0))]);
    t.put(&format!("{DIR}/.current.tar.gz.zzzzzz.tmp"), b"");
    assert!(garbage(&t, "current.tar.gz", 10, 2, secs(3600.0)).is_empty());
}

#[test]
fn symlinks_and_subdirectories_are_never_collected() {
    let t = TestStorage::new();
    create(&t, &[("old.tar.gz", secs(100.0)), ("current.tar.gz", secs(0.0))]);
    std::os::unix::fs::symlink("current.tar.gz", t.base().join(DIR).join("latest.tar.gz")).unwrap();
    fs::create_dir(t.base().join(DIR).join("sub")).unwrap();
    assert_eq!(garbage(&t, "current.tar.gz", 10, 1, secs(1.0)), ["old.tar.gz"]);
}

#[test]
fn a_missing_directory_has_no_garbage() {
    let t = TestStorage::new();
    let artifact = t.artifact("none/here/x.tar.gz");
    assert!(
        t.storage
            .garbage_collect(&artifact, secs(1.0))
            .unwrap()
            .is_empty()
    );
}

#[test]
fn the_directory_lock_file_is_never_collected() {
    let t = TestStorage::with_options(|o| {
        o.artifact_retention_records = 1;
        o.artifact_retention_ttl = Duration::ZERO;
    });
    create(&t, &[("old.tar.gz", secs(100.0)), ("current.tar.gz", secs(1.0))]);
    let lock = t.base().join(DIR).join(".lock");
    fs::write(&lock, b"").unwrap();
    set_age(&lock, secs(1000.0));
    let deleted = t
        .storage
        .garbage_collect(
            &t.artifact(&format!("{DIR}/current.tar.gz")),
            Duration::from_secs(10),
        )
        .unwrap();
    assert_eq!(names(&t, deleted), ["old.tar.gz"]);
    assert!(lock.exists());
}

/// Go collects in the storage root when the path has no directory part; the root holds
/// no object's artifacts, so this is refused, as `remove_all` refuses it.
#[test]
fn garbage_collection_refuses_a_path_without_a_directory_part() {
    let t = TestStorage::new();
    for name in ["top.tar.gz", "old-1.tar.gz", "old-2.tar.gz", "old-3.tar.gz"] {
        set_age(&t.put(name, b"content"), secs(3600.0));
    }
    t.put("k/ns/n/a.tar.gz", b"a");
    let before = common::snapshot(&t.base());
    for path in ["top.tar.gz", "../../top.tar.gz", "/top.tar.gz", "k/../top.tar.gz"] {
        let artifact = t.artifact(path);
        let err = t
            .storage
            .garbage_files(&artifact, GARBAGE_COUNT_LIMIT, 1, secs(1.0))
            .unwrap_err();
        assert!(
            matches!(&err, Error::StorageRoot { op: "collect garbage in", path } if *path == t.base()),
            "garbage_files({path}): {err}"
        );
        let err = t.storage.garbage_collect(&artifact, secs(10.0)).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::StorageRoot {
                    op: "collect garbage in",
                    ..
                }
            ),
            "garbage_collect({path}): {err}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "refusing to collect garbage in the storage root {}",
                t.base().display()
            )
        );
    }
    assert_eq!(common::snapshot(&t.base()), before, "nothing was deleted");
}
