//! `Storage::archive`: the tarball format, reproducibility, filters and failure paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    fs,
    io::Read,
    path::{Path, PathBuf},
    process::Command,
    sync::Mutex,
};

use common::{TestStorage, chmod, gunzip, set_mtime, snapshot, write_tree};
use flux_artifact_digest::Algorithm;
use flux_artifact_storage::{DirProblem, Error, Storage, source_ignore_filter, sourceignore};

/// One entry of an archive as an independent reader (the `tar` crate) sees it.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    name: String,
    kind: char,
    mode: u32,
    uid: u64,
    gid: u64,
    mtime: u64,
    size: u64,
}

fn entries(tarball: &Path) -> Vec<Entry> {
    let raw = gunzip(tarball);
    let mut archive = tar::Archive::new(raw.as_slice());
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            Entry {
                name: e.path().unwrap().to_string_lossy().into_owned(),
                kind: h.entry_type().as_byte() as char,
                mode: h.mode().unwrap(),
                uid: h.uid().unwrap(),
                gid: h.gid().unwrap(),
                mtime: h.mtime().unwrap(),
                size: h.size().unwrap(),
            }
        })
        .collect()
}

fn names(tarball: &Path) -> Vec<String> {
    entries(tarball).into_iter().map(|e| e.name).collect()
}

fn archive(t: &TestStorage, dir: &Path) -> (flux_artifact_storage::Artifact, PathBuf) {
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    t.storage.archive(&mut artifact, dir, None).unwrap();
    let path = t.storage.local_path(&artifact).unwrap();
    (artifact, path)
}

fn golden_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/go-tar-golden-make-tree.sh");
    let status = Command::new("bash").arg(script).arg(&tree).status().unwrap();
    assert!(status.success());
    dir
}

#[test]
fn uncompressed_stream_equals_the_go_sdk_stream_for_the_golden_tree() {
    let t = TestStorage::new();
    let tree = golden_tree();
    let (_, tarball) = archive(&t, &tree.path().join("tree"));

    let expected =
        gunzip(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/go-tar-golden-expected.tar.gz"));
    let actual = gunzip(&tarball);
    assert_eq!(actual.len(), expected.len());
    if let Some(offset) = actual.iter().zip(&expected).position(|(a, e)| a != e) {
        panic!("streams differ at byte {offset} (header block {})", offset / 512);
    }
}

#[test]
fn entries_are_normalized_and_in_byte_order() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            ("b/x.yaml", "x"),
            ("a.yaml", "aa"),
            ("B.yaml", "b"),
            ("b.txt", "t"),
        ],
    );
    chmod(&src.path().join("a.yaml"), 0o666);
    chmod(&src.path().join("b.txt"), 0o4755);
    chmod(&src.path().join("b"), 0o777);
    let (_, tarball) = archive(&t, src.path());

    let expected = [
        (".", '5', 0o750, 0),
        ("B.yaml", '0', 0o600, 1),
        ("a.yaml", '0', 0o600, 2),
        ("b", '5', 0o750, 0),
        ("b/x.yaml", '0', 0o600, 1),
        ("b.txt", '0', 0o700, 1),
    ];
    let got = entries(&tarball);
    assert_eq!(got.len(), expected.len(), "{got:?}");
    for (entry, (name, kind, mode, size)) in got.iter().zip(expected) {
        assert_eq!(
            entry,
            &Entry {
                name: name.into(),
                kind,
                mode,
                uid: 0,
                gid: 0,
                mtime: 0,
                size
            },
            "{name}"
        );
    }
}

#[test]
fn symlinks_and_special_files_are_left_out() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("real.yaml", "r"), ("dir/inner.yaml", "i")]);
    std::os::unix::fs::symlink("real.yaml", src.path().join("link.yaml")).unwrap();
    std::os::unix::fs::symlink("dir", src.path().join("linkdir")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", src.path().join("outside")).unwrap();
    assert!(
        Command::new("mkfifo")
            .arg(src.path().join("fifo"))
            .status()
            .unwrap()
            .success()
    );
    let (_, tarball) = archive(&t, src.path());
    assert_eq!(names(&tarball), [".", "dir", "dir/inner.yaml", "real.yaml"]);
}

#[test]
fn the_same_tree_gives_the_same_bytes_whatever_its_times_modes_and_history() {
    let t = TestStorage::new();
    let files = [
        ("deploy/app.yaml", "kind: Deployment\n"),
        ("deploy/svc.yaml", "kind: Service\n"),
        ("x.sh", "#!"),
    ];
    let first = tempfile::tempdir().unwrap();
    write_tree(first.path(), &files);
    chmod(&first.path().join("x.sh"), 0o755);

    // The same content written in another order, with other times and permission bits
    // that do not change the archived mode.
    let second = tempfile::tempdir().unwrap();
    for (path, content) in files.iter().rev() {
        write_tree(second.path(), &[(path, content)]);
    }
    chmod(&second.path().join("x.sh"), 0o711);
    chmod(&second.path().join("deploy/app.yaml"), 0o640);
    chmod(&second.path().join("deploy"), 0o700);
    set_mtime(
        &second.path().join("deploy/svc.yaml"),
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(12345),
    );
    // Another owner, where the test may change owners (it runs as root in CI).
    let _ = std::os::unix::fs::chown(second.path().join("deploy/app.yaml"), Some(4242), Some(4242));

    let (a, path_a) = archive(&t, first.path());
    let bytes_a = fs::read(&path_a).unwrap();
    let (b, path_b) = archive(&t, second.path());
    assert_eq!(a.digest, b.digest);
    assert_eq!(bytes_a, fs::read(path_b).unwrap());
}

#[test]
fn archive_bytes_are_pinned() {
    // The compressed bytes of an archive are part of its identity: published revisions
    // are `latest@<digest>`, and a new digest for the same tree makes every consumer
    // re-apply. If this fails, the deflate engine, its version, the level, the block
    // layout or the tar format changed: that is a breaking change that needs a
    // CHANGELOG entry and a new pinned value here.
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    let manifest: String = (0..400)
        .map(|i| format!("- name: item-{i}\n  value: {}\n", i * 7919 % 1000))
        .collect();
    write_tree(
        src.path(),
        &[
            ("apps/list.yaml", &manifest),
            ("README.md", "# pinned\n"),
            ("empty/.keep", ""),
        ],
    );
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8 % 64 + b' ')
        .collect();
    fs::write(src.path().join("apps/blob.txt"), big).unwrap();
    // Words and noise over a dozen blocks: the kind of input on which a compressor whose
    // output depended on its history (or on the thread count) would show it.
    let mut state = 7u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut mixed = Vec::new();
    while mixed.len() < 1_600_000 {
        if next() % 2 == 0 {
            mixed.extend((0..64).map(|_| next() as u8));
        } else {
            mixed.extend(format!("word{} value{}\n", next() % 300, next() % 50).bytes());
        }
    }
    fs::write(src.path().join("apps/mixed.bin"), mixed).unwrap();
    for threads in [1, 2] {
        let storage = t.storage.clone().with_compression_threads(threads);
        let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
        storage.archive(&mut artifact, src.path(), None).unwrap();
        assert_eq!(
            artifact.digest, "sha256:d3e26ba501117680e6cb724de21aef139df4a5aa63ac3dcafc3f1b190a6498ce",
            "{threads} thread(s)"
        );
    }
}

#[test]
fn digest_and_size_describe_the_stored_file() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("a.yaml", "a: 1\n")]);
    let (artifact, tarball) = archive(&t, src.path());
    let output = Command::new("sha256sum").arg(&tarball).output().unwrap();
    let sha256sum = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        artifact.digest,
        format!("sha256:{}", sha256sum.split_whitespace().next().unwrap())
    );
    assert_eq!(artifact.size, Some(fs::metadata(&tarball).unwrap().len() as i64));
    assert!(artifact.last_update_time.is_some());
    t.storage.verify_artifact(&artifact).unwrap();
}

#[test]
fn stored_archives_have_mode_0600() {
    use std::os::unix::fs::PermissionsExt;
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    let (_, tarball) = archive(&t, src.path());
    assert_eq!(
        fs::metadata(&tarball).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn gnu_tar_and_python_extract_the_same_tree() {
    let t = TestStorage::new();
    let tree = golden_tree();
    let source = tree.path().join("tree");
    let (_, tarball) = archive(&t, &source);
    let mut expected = snapshot(&source);
    expected.retain(|(name, _)| name != "link");

    let gnu = tempfile::tempdir().unwrap();
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(gnu.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(snapshot(gnu.path()), expected);

    let python = tempfile::tempdir().unwrap();
    let script = "import sys, tarfile\n\
        with tarfile.open(sys.argv[1]) as t:\n\
        \x20   for m in t.getmembers():\n\
        \x20       assert m.isfile() or m.isdir(), m.name\n\
        \x20       assert (m.uid, m.gid, m.uname, m.gname, m.mtime) == (0, 0, '', '', 0), m.name\n\
        \x20   t.extractall(sys.argv[2])\n";
    let status = Command::new("python3")
        .args(["-c", script])
        .arg(&tarball)
        .arg(python.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(snapshot(python.path()), expected);
}

#[test]
fn names_are_relative_to_a_relative_dir_too() {
    let t = TestStorage::new();
    // Integration tests run in the crate directory, so this is a relative path there.
    let src = tempfile::Builder::new()
        .prefix(".archive-rel-")
        .tempdir_in(".")
        .unwrap();
    write_tree(src.path(), &[("inner/a.yaml", "a")]);
    let relative = PathBuf::from(src.path().file_name().unwrap());
    let (_, tarball) = archive(&t, &relative);
    assert_eq!(names(&tarball), [".", "inner", "inner/a.yaml"]);
}

#[test]
fn filters_see_paths_relative_to_the_archived_dir() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("keep/a.yaml", "a"), ("drop/b.yaml", "b")]);
    let seen = Mutex::new(Vec::new());
    let filter = |path: &Path, meta: &fs::Metadata| {
        seen.lock().unwrap().push((path.to_path_buf(), meta.is_dir()));
        path.starts_with("drop")
    };
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    t.storage
        .archive(&mut artifact, src.path(), Some(&filter))
        .unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        [
            (PathBuf::from("drop"), true),
            (PathBuf::from("drop/b.yaml"), false),
            (PathBuf::from("keep"), true),
            (PathBuf::from("keep/a.yaml"), false)
        ]
    );
    assert_eq!(
        names(&t.storage.local_path(&artifact).unwrap()),
        [".", "keep", "keep/a.yaml"]
    );
}

#[test]
fn an_output_dir_named_like_an_excluded_file_is_still_archived() {
    // In Go the default `*.zip` pattern matches the staging dir `…/app.zip` in the
    // absolute path and every entry is dropped; relative paths cannot match it.
    let t = TestStorage::new();
    let parent = tempfile::tempdir().unwrap();
    let src = parent.path().join("app.zip");
    write_tree(&src, &[("deploy.yaml", "d"), ("chart.tar.gz", "c")]);
    let mut artifact = t.artifact("kind/ns/app.zip/a.tar.gz");
    let filter = source_ignore_filter(Vec::new(), &[]);
    t.storage.archive(&mut artifact, &src, Some(&filter)).unwrap();
    assert_eq!(
        names(&t.storage.local_path(&artifact).unwrap()),
        [".", "deploy.yaml"]
    );
}

#[test]
fn source_ignore_defaults_drop_vcs_and_default_patterns() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            (".git/config", "c"),
            (".github/workflows/ci.yml", "w"),
            ("logo.png", "p"),
            ("manifest.yaml", "m"),
            ("sub/.sops.yaml", "s"),
        ],
    );
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    t.storage
        .archive(
            &mut artifact,
            src.path(),
            Some(&source_ignore_filter(Vec::new(), &[])),
        )
        .unwrap();
    assert_eq!(
        names(&t.storage.local_path(&artifact).unwrap()),
        [".", "manifest.yaml", "sub"]
    );
}

#[test]
fn custom_patterns_replace_the_defaults_but_keep_vcs_excluded() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            (".git/config", "c"),
            ("custom", "x"),
            ("horse.jpg", "j"),
            ("keep.yaml", "k"),
        ],
    );
    let filter = source_ignore_filter(vec![sourceignore::Pattern::new("custom", &[])], &[]);
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    t.storage
        .archive(&mut artifact, src.path(), Some(&filter))
        .unwrap();
    assert_eq!(
        names(&t.storage.local_path(&artifact).unwrap()),
        [".", "horse.jpg", "keep.yaml"]
    );
}

#[test]
fn sourceignore_files_apply_to_their_own_directory() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[
            (".sourceignore", "# root rules\n/secret.yaml\n*.md\n!KEEP.md\n"),
            ("secret.yaml", "s"),
            ("README.md", "r"),
            ("KEEP.md", "k"),
            ("apps/.sourceignore", "*.tmp.yaml\n"),
            ("apps/secret.yaml", "not anchored here"),
            ("apps/a.tmp.yaml", "t"),
            ("apps/b.yaml", "b"),
            ("other/a.tmp.yaml", "kept: other domain"),
        ],
    );
    let patterns = sourceignore::load_ignore_patterns(src.path()).unwrap();
    let filter = source_ignore_filter(patterns, &[]);
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    t.storage
        .archive(&mut artifact, src.path(), Some(&filter))
        .unwrap();
    assert_eq!(
        names(&t.storage.local_path(&artifact).unwrap()),
        [
            ".",
            ".sourceignore",
            "KEEP.md",
            "apps",
            "apps/.sourceignore",
            "apps/b.yaml",
            "apps/secret.yaml",
            "other",
            "other/a.tmp.yaml"
        ]
    );
}

#[test]
fn a_missing_dir_is_an_invalid_dir() {
    let t = TestStorage::new();
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    let err = t
        .storage
        .archive(&mut artifact, "/nonexistent/dir", None)
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidDir { ref path, problem: DirProblem::Missing } if path == Path::new("/nonexistent/dir")),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        "invalid dir path /nonexistent/dir: no such directory"
    );
    assert!(err.is_not_found());
}

#[test]
fn a_file_is_an_invalid_dir() {
    let t = TestStorage::new();
    let file = tempfile::NamedTempFile::new().unwrap();
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    let err = t.storage.archive(&mut artifact, file.path(), None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidDir {
                problem: DirProblem::NotADirectory,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("invalid dir path {}: not a directory", file.path().display())
    );
    assert!(!err.is_not_found());
}

#[test]
fn an_empty_path_is_an_invalid_dir() {
    let t = TestStorage::new();
    let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
    let err = t.storage.archive(&mut artifact, "", None).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidDir {
                problem: DirProblem::EmptyPath,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.to_string(), "invalid dir path : empty path");
}

#[test]
fn a_failed_archive_leaves_the_previous_file_and_no_temporary_file() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("a.yaml", "first version\n")]);
    let (previous, tarball) = archive(&t, src.path());
    let previous_bytes = fs::read(&tarball).unwrap();

    write_tree(src.path(), &[("big.yaml", &"x".repeat(100_000))]);
    // The filter runs after the entry's size is read and before its content is: truncating
    // the file there is a file changing while it is archived.
    let filter = |path: &Path, _: &fs::Metadata| {
        if path == Path::new("big.yaml") {
            fs::write(src.path().join("big.yaml"), "").unwrap();
        }
        false
    };
    let mut artifact = previous.clone();
    let err = t
        .storage
        .archive(&mut artifact, src.path(), Some(&filter))
        .unwrap_err();
    assert!(
        matches!(&err, Error::ArchiveSource { path, .. } if path.ends_with("big.yaml")),
        "{err}"
    );
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("shrank"), "{cause}");
    assert_eq!(artifact, previous);
    assert_eq!(fs::read(&tarball).unwrap(), previous_bytes);
    let leftovers: Vec<_> = fs::read_dir(tarball.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers, [tarball.file_name().unwrap()]);
}

#[test]
fn the_configured_digest_algorithm_is_used() {
    let t = TestStorage::with_options(|o| o.artifact_digest_algo = Algorithm::Blake3);
    let src = tempfile::tempdir().unwrap();
    let (artifact, tarball) = archive(&t, src.path());
    let expected = Algorithm::Blake3.digest_bytes(&fs::read(tarball).unwrap());
    assert_eq!(artifact.digest, expected.to_string());
}

#[test]
fn algorithms_flux_cannot_verify_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let options = flux_artifact_config::Options {
        storage_path: root.path().into(),
        ..Default::default()
    };
    let storage = Storage::new(&options).unwrap();
    for algorithm in [Algorithm::Sha1, Algorithm::Sha3_256, Algorithm::Sha3_512] {
        assert!(matches!(
            storage.clone().with_digest_algorithm(algorithm),
            Err(Error::UnverifiableAlgorithm { .. })
        ));
    }
    let sha1_options = flux_artifact_config::Options {
        artifact_digest_algo: Algorithm::Sha1,
        ..options
    };
    assert!(matches!(Storage::new(&sha1_options), Err(Error::Config(_))));
}

#[test]
fn every_compression_level_produces_a_readable_archive() {
    let src = tempfile::tempdir().unwrap();
    let text: String = (0..2000).map(|i| format!("line {i}\n")).collect();
    write_tree(src.path(), &[("a.txt", &text)]);
    let mut sizes = Vec::new();
    for level in [0, 1, 6, 9] {
        let t = TestStorage::new();
        let storage = t.storage.clone().with_compression_level(level);
        let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
        storage.archive(&mut artifact, src.path(), None).unwrap();
        let tarball = storage.local_path(&artifact).unwrap();
        let mut content = String::new();
        tar::Archive::new(gunzip(&tarball).as_slice())
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap() == Path::new("a.txt"))
            .unwrap()
            .read_to_string(&mut content)
            .unwrap();
        assert_eq!(content, text, "level {level}");
        sizes.push(fs::metadata(&tarball).unwrap().len());
    }
    assert!(sizes[0] > text.len() as u64, "level 0 stores: {sizes:?}");
    assert!(sizes[2] < sizes[0] / 3, "level 6 compresses: {sizes:?}");
}

#[test]
fn the_number_of_compression_threads_does_not_change_the_bytes() {
    let src = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(48_271) >> 11) as u8 % 90 + b' ')
        .collect();
    fs::write(src.path().join("data.txt"), data).unwrap();
    let mut digests = Vec::new();
    for threads in [1, 2, 4] {
        let t = TestStorage::new();
        let storage = t.storage.clone().with_compression_threads(threads);
        let mut artifact = t.artifact("kind/ns/name/a.tar.gz");
        storage.archive(&mut artifact, src.path(), None).unwrap();
        digests.push(artifact.digest);
    }
    assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
}
