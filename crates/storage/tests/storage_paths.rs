//! Opening storage, artifact paths and URLs, and confinement of every operation to the
//! storage root.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{fs, path::Path, time::Duration};

use common::{TestStorage, snapshot, write_tree};
use flux_artifact_config::Options;
use flux_artifact_storage::{Artifact, Error, Storage};

fn options(path: &Path) -> Options {
    Options {
        storage_path: path.to_path_buf(),
        ..Options::default()
    }
}

#[test]
fn new_needs_an_existing_directory() {
    let err = Storage::new(&options(Path::new("/nonexistent"))).unwrap_err();
    assert!(matches!(err, Error::InvalidStoragePath { .. }), "{err}");
    assert!(err.to_string().contains("/nonexistent"), "{err}");

    let file = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        Storage::new(&options(file.path())),
        Err(Error::InvalidStoragePath { .. })
    ));

    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::new(&options(dir.path())).unwrap();
    assert_eq!(storage.base_path(), fs::canonicalize(dir.path()).unwrap());
}

#[test]
fn new_does_not_create_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    assert!(Storage::new(&options(&missing)).is_err());
    assert!(!missing.exists());
}

#[test]
fn new_reports_a_bad_storage_address() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        storage_address: "invalid-address".into(),
        ..options(dir.path())
    };
    assert!(matches!(Storage::new(&options), Err(Error::Config(_))));
}

#[test]
fn new_takes_retention_and_algorithm_from_the_options() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        artifact_retention_ttl: Duration::from_secs(300),
        artifact_retention_records: 7,
        artifact_digest_algo: flux_artifact_digest::Algorithm::Sha512,
        storage_adv_address: "https://artifacts.example.com".into(),
        ..options(dir.path())
    };
    let storage = Storage::new(&options).unwrap();
    assert_eq!(storage.retention_ttl(), Duration::from_secs(300));
    assert_eq!(storage.retention_records(), 7);
    assert_eq!(
        storage.digest_algorithm(),
        flux_artifact_digest::Algorithm::Sha512
    );
    assert_eq!(storage.hostname(), "https://artifacts.example.com");
}

#[test]
fn new_artifact_for_sets_path_revision_and_url_only() {
    let t = TestStorage::new();
    let artifact = t
        .storage
        .new_artifact_for(
            "GitRepository",
            &("test-namespace", "test-resource"),
            "main@sha1:abcd1234",
            "source.tar.gz",
        )
        .unwrap();
    assert_eq!(
        artifact,
        Artifact {
            path: "gitrepository/test-namespace/test-resource/source.tar.gz".into(),
            url: "http://localhost:9090/gitrepository/test-namespace/test-resource/source.tar.gz".into(),
            revision: "main@sha1:abcd1234".into(),
            ..Artifact::default()
        }
    );
}

#[test]
fn new_artifact_for_refuses_names_that_would_leave_their_directory() {
    let t = TestStorage::new();
    for (namespace, name, file) in [
        ("..", "n", "f"),
        ("ns", "a/b", "f"),
        ("ns", "n", "../../x"),
        ("ns", "n", ""),
    ] {
        let err = t
            .storage
            .new_artifact_for("Kind", &(namespace, name), "r", file)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidPathSegment { .. }),
            "{namespace}/{name}/{file}: {err}"
        );
    }
}

fn url_with(adv: &str, path: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::new(&Options {
        storage_adv_address: adv.into(),
        ..options(dir.path())
    })
    .unwrap();
    let mut artifact = Artifact {
        path: path.into(),
        url: "unchanged".into(),
        ..Artifact::default()
    };
    storage.set_artifact_url(&mut artifact);
    artifact.url
}

#[test]
fn set_artifact_url_follows_the_go_rules() {
    let path = "gitrepository/default/repo/artifact.tar.gz";
    assert_eq!(
        url_with("localhost:9090", path),
        format!("http://localhost:9090/{path}")
    );
    assert_eq!(
        url_with("localhost:9090", &format!("//{path}")),
        format!("http://localhost:9090/{path}")
    );
    assert_eq!(
        url_with("http://example.com", path),
        format!("http://example.com/{path}")
    );
    assert_eq!(
        url_with("https://artifacts.example.com", path),
        format!("https://artifacts.example.com/{path}")
    );
    assert_eq!(url_with("localhost:9090", ""), "unchanged");
}

#[test]
fn set_artifact_url_drops_a_trailing_slash_of_the_address() {
    let path = "a/b/c/d.tar.gz";
    assert_eq!(
        url_with("https://artifacts.example.com/", path),
        format!("https://artifacts.example.com/{path}")
    );
}

#[test]
fn set_hostname_replaces_scheme_and_host_keeping_the_path() {
    let t = TestStorage::new();
    assert_eq!(
        t.storage
            .set_hostname("http://source-controller.flux-system.svc/a/b.tar.gz?x=1")
            .unwrap(),
        "http://localhost:9090/a/b.tar.gz?x=1"
    );
    let dir = tempfile::tempdir().unwrap();
    let https = Storage::new(&Options {
        storage_adv_address: "https://cdn.example.com".into(),
        ..options(dir.path())
    })
    .unwrap();
    assert_eq!(
        https.set_hostname("http://old:9090/a/b.tar.gz").unwrap(),
        "https://cdn.example.com/a/b.tar.gz"
    );
}

#[test]
fn set_hostname_refuses_relative_urls() {
    let t = TestStorage::new();
    for url in ["a/b.tar.gz", "://host/x", "http:///x", ""] {
        assert!(
            matches!(t.storage.set_hostname(url), Err(Error::InvalidUrl { .. })),
            "{url}"
        );
    }
}

#[test]
fn local_path_of_an_empty_path_is_none() {
    let t = TestStorage::new();
    assert_eq!(t.storage.local_path(&Artifact::default()), None);
}

#[test]
fn local_path_clamps_parent_dirs_at_the_root() {
    let t = TestStorage::new();
    assert_eq!(
        t.storage.local_path(&t.artifact("../../etc/passwd")).unwrap(),
        t.base().join("etc/passwd")
    );
    assert_eq!(
        t.storage.local_path(&t.artifact("a/../../b")).unwrap(),
        t.base().join("b")
    );
}

#[test]
fn local_path_reroots_absolute_paths() {
    let t = TestStorage::new();
    assert_eq!(
        t.storage.local_path(&t.artifact("/etc/passwd")).unwrap(),
        t.base().join("etc/passwd")
    );
}

#[test]
fn local_path_resolves_symlinks_inside_the_root() {
    let t = TestStorage::new();
    fs::create_dir_all(t.base().join("real/dir")).unwrap();
    std::os::unix::fs::symlink("real/dir", t.base().join("inside")).unwrap();
    std::os::unix::fs::symlink("/", t.base().join("slash")).unwrap();
    std::os::unix::fs::symlink("../../..", t.base().join("up")).unwrap();
    assert_eq!(
        t.storage.local_path(&t.artifact("inside/f")).unwrap(),
        t.base().join("real/dir/f")
    );
    assert_eq!(
        t.storage.local_path(&t.artifact("slash/etc/passwd")).unwrap(),
        t.base().join("etc/passwd")
    );
    assert_eq!(
        t.storage.local_path(&t.artifact("up/etc/passwd")).unwrap(),
        t.base().join("etc/passwd")
    );
}

#[test]
fn local_path_of_a_symlink_loop_is_none() {
    let t = TestStorage::new();
    std::os::unix::fs::symlink("b", t.base().join("a")).unwrap();
    std::os::unix::fs::symlink("a", t.base().join("b")).unwrap();
    assert_eq!(t.storage.local_path(&t.artifact("a/file")), None);
    let mut artifact = t.artifact("a/file");
    assert!(matches!(
        t.storage.copy(&mut artifact, &b"x"[..]),
        Err(Error::ResolvePath { .. })
    ));
}

#[test]
fn artifact_exist_is_true_for_regular_files_only() {
    let t = TestStorage::new();
    t.put("k/ns/n/file.tar.gz", b"x");
    fs::create_dir_all(t.base().join("k/ns/n/dir.tar.gz")).unwrap();
    std::os::unix::fs::symlink("file.tar.gz", t.base().join("k/ns/n/link.tar.gz")).unwrap();
    assert!(t.storage.artifact_exist(&t.artifact("k/ns/n/file.tar.gz")));
    assert!(!t.storage.artifact_exist(&t.artifact("k/ns/n/dir.tar.gz")));
    assert!(!t.storage.artifact_exist(&t.artifact("k/ns/n/link.tar.gz")));
    assert!(!t.storage.artifact_exist(&t.artifact("k/ns/n/missing.tar.gz")));
    assert!(!t.storage.artifact_exist(&Artifact::default()));
}

/// A storage operation that writes an artifact from a source directory.
type WriteOp = fn(&Storage, &mut Artifact, &Path) -> Result<(), Error>;

/// Runs every storage operation on `artifact` and checks what each one that succeeds
/// reports: whatever it wrote, locked, linked or deleted is inside the root and is not
/// the root itself; the operations that would act on the whole root are refused.
fn every_operation(storage: &Storage, artifact: &Artifact, source_dir: &Path, scratch: &Path) {
    let base = storage.base_path();
    let path = &artifact.path;
    let inside = |p: &Path| p.starts_with(base) && p != base;
    let resolved_dir = storage
        .local_path(artifact)
        .and_then(|p| p.parent().map(Path::to_path_buf));
    let dir_is_root = resolved_dir.as_deref() == Some(base);

    let writes: [(&str, WriteOp); 4] = [
        ("copy", |s, a, _| s.copy(a, &b"written"[..])),
        ("atomic_write_file", |s, a, _| {
            s.atomic_write_file(a, &b"written"[..], 0o644)
        }),
        ("copy_from_path", |s, a, src| {
            s.copy_from_path(a, src.join("a.yaml"))
        }),
        ("archive", |s, a, src| s.archive(a, src, None)),
    ];
    for (op, write) in writes {
        let mut a = artifact.clone();
        if write(storage, &mut a, source_dir).is_ok() {
            let written = storage.local_path(&a).unwrap();
            assert!(inside(&written), "{op} of {path:?} wrote {}", written.display());
            assert!(written.is_file(), "{op} of {path:?}");
        }
    }
    if storage.mkdir_all(artifact).is_ok() {
        assert!(
            resolved_dir
                .as_deref()
                .is_some_and(|d| d.starts_with(base) && d.is_dir())
        );
    }
    if let Ok(guard) = storage.lock(artifact) {
        assert!(
            inside(guard.path()),
            "lock of {path:?}: {}",
            guard.path().display()
        );
    }
    if let Ok(Some(guard)) = storage.try_lock(artifact) {
        assert!(
            inside(guard.path()),
            "try_lock of {path:?}: {}",
            guard.path().display()
        );
    }
    if let Ok(url) = storage.symlink(artifact, "latest.tar.gz") {
        assert!(
            !url.contains("/../") && !url.ends_with("/.."),
            "symlink of {path:?}: {url}"
        );
        let link = base.join(url.trim_start_matches("http://localhost:9090/"));
        assert!(
            fs::symlink_metadata(&link).is_ok(),
            "symlink of {path:?}: no link at {url}"
        );
    }
    assert!(
        storage.verify_artifact(artifact).is_err(),
        "{path:?} verified against a file outside the root"
    );
    if let Ok(garbage) = storage.garbage_files(artifact, 1000, 0, Duration::ZERO) {
        assert!(
            garbage.iter().all(|p| inside(p)),
            "garbage of {path:?}: {garbage:?}"
        );
    }
    if let Ok(deleted) = storage.garbage_collect(artifact, Duration::from_secs(10)) {
        assert!(deleted.iter().all(|p| inside(p)), "gc of {path:?}: {deleted:?}");
    }
    let copied_out = scratch.join("copy-out");
    if storage.copy_to_path(artifact, "", &copied_out).is_ok() {
        assert!(fs::symlink_metadata(&copied_out).is_ok());
        let _ = fs::remove_dir_all(&copied_out).or_else(|_| fs::remove_file(&copied_out));
    }
    match storage.remove_all_but_current(artifact) {
        Ok(deleted) => {
            assert!(
                !dir_is_root,
                "remove_all_but_current of {path:?} cleaned the root"
            );
            assert!(deleted.iter().all(|p| inside(p)), "{path:?}: {deleted:?}");
        }
        Err(Error::StorageRoot { .. }) => {}
        Err(e) => assert!(!dir_is_root, "remove_all_but_current of {path:?}: {e}"),
    }
    if storage.remove(artifact).is_ok() {
        let removed = storage.local_path(artifact).unwrap();
        assert!(inside(&removed), "remove of {path:?}");
    }
    match storage.remove_all(artifact) {
        Ok(Some(dir)) => assert!(
            inside(&dir) && !dir_is_root,
            "remove_all of {path:?}: {}",
            dir.display()
        ),
        Ok(None) | Err(Error::StorageRoot { .. }) => {}
        Err(e) => assert!(!dir_is_root, "remove_all of {path:?}: {e}"),
    }
}

#[test]
fn no_operation_touches_anything_outside_the_root_for_hostile_paths() {
    let top = tempfile::tempdir().unwrap();
    let base = top.path().join("storage");
    let outside = top.path().join("outside");
    write_tree(
        &outside,
        &[
            ("victim.txt", "precious"),
            ("victim/x.tar.gz", "precious too"),
            ("ns/name/keep", "k"),
        ],
    );
    fs::create_dir_all(&base).unwrap();
    std::os::unix::fs::symlink("../outside", base.join("escape")).unwrap();
    std::os::unix::fs::symlink(&outside, base.join("abs")).unwrap();
    let storage = Storage::new(&options(&base)).unwrap().with_fsync(false);
    let source = tempfile::tempdir().unwrap();
    write_tree(source.path(), &[("a.yaml", "a")]);
    let scratch = tempfile::tempdir().unwrap();
    // Files in the root that no hostile path addresses, which only an operation on the
    // whole root could reach: other objects' artifacts. (Files directly in the root are
    // not watched: garbage collection of an artifact whose path has no directory part
    // collects there, as in Go.)
    let bystanders = [
        storage.base_path().join("other/ns/name/current.tar.gz"),
        storage.base_path().join("other/ns/second/a/deeper.tar.gz"),
    ];
    for bystander in &bystanders {
        fs::create_dir_all(bystander.parent().unwrap()).unwrap();
        fs::write(bystander, "bystander").unwrap();
    }

    let before = snapshot(&outside);
    let victim_digest = flux_artifact_digest::Algorithm::Sha256
        .digest_bytes(b"precious")
        .to_string();
    let outside_str = outside.to_str().unwrap();
    let hostile = [
        "../outside/victim.txt".to_owned(),
        "../../outside/victim.txt".to_owned(),
        "/outside/victim.txt".to_owned(),
        format!("{outside_str}/victim.txt"),
        format!("{outside_str}/victim/x.tar.gz"),
        "escape/victim.txt".to_owned(),
        "escape/victim/x.tar.gz".to_owned(),
        "abs/victim.txt".to_owned(),
        "abs/victim/x.tar.gz".to_owned(),
        "abs/ns/name/new.tar.gz".to_owned(),
        "escape/../../outside/victim.txt".to_owned(),
        "kind/ns/name/../../../../outside/victim.txt".to_owned(),
        "./../outside/victim.txt".to_owned(),
        "..".to_owned(),
        "../outside".to_owned(),
        "escape".to_owned(),
        "abs".to_owned(),
        "victim.txt".to_owned(),
        "escape/ns/name/keep".to_owned(),
        "escape/ns/name/*".to_owned(),
    ];
    for path in &hostile {
        let artifact = Artifact {
            path: path.clone(),
            digest: victim_digest.clone(),
            ..Artifact::default()
        };
        every_operation(&storage, &artifact, source.path(), scratch.path());
        assert_eq!(snapshot(&outside), before, "after operations on {path:?}");
        for bystander in &bystanders {
            assert_eq!(
                fs::read(bystander).ok().as_deref(),
                Some(&b"bystander"[..]),
                "{} after operations on {path:?}",
                bystander.display()
            );
        }
    }
    let top_level: Vec<_> = fs::read_dir(top.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top_level.len(), 2, "{top_level:?}");
}
