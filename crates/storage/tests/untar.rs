//! `untar`: what it extracts, everything it refuses, and the limits it enforces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod tarball;

use std::{
    fs,
    io::Write,
    os::unix::fs::PermissionsExt,
    path::Path,
    process::Command,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use common::{TestStorage, snapshot, write_tree};
use flate2::{Compression, write::GzEncoder};
use flux_artifact_storage::{EntryKind, TarFormatError, UntarError, UntarOptions, untar};
use tarball::{Header, Tar, gzip, header, tar_of};

fn extract(
    entries: &[(&str, u8, &[u8])],
    options: &UntarOptions,
) -> (tempfile::TempDir, Result<(), UntarError>) {
    let dir = tempfile::tempdir().unwrap();
    let result = untar(
        gzip(&tar_of(entries)).as_slice(),
        &dir.path().join("out"),
        options,
    )
    .map(|_| ());
    (dir, result)
}

fn refused(entries: &[(&str, u8, &[u8])]) -> UntarError {
    let (dir, result) = extract(entries, &UntarOptions::default());
    let err = result.unwrap_err();
    // Nothing lands beside the target, whatever the entry tried.
    let top: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(top, ["out"], "{err}");
    err
}

#[test]
fn archives_made_by_storage_round_trip() {
    let t = TestStorage::new();
    let src = tempfile::tempdir().unwrap();
    write_tree(
        src.path(),
        &[("a.yaml", "a"), ("deep/er/b.yaml", "b"), ("empty/.keep", "")],
    );
    fs::create_dir(src.path().join("empty-dir")).unwrap();
    let mut artifact = t.artifact("k/ns/n/a.tar.gz");
    t.storage.archive(&mut artifact, src.path(), None).unwrap();

    let out = tempfile::tempdir().unwrap();
    let file = fs::File::open(t.storage.local_path(&artifact).unwrap()).unwrap();
    let summary = untar(file, out.path(), &UntarOptions::default()).unwrap();
    assert_eq!(snapshot(out.path()), snapshot(src.path()));
    assert_eq!((summary.files, summary.directories, summary.bytes), (3, 5, 2));
}

#[test]
fn gnu_tar_archives_with_dot_slash_names_extract() {
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("x/y.txt", "y"), ("z.txt", "z")]);
    let tarball = tempfile::NamedTempFile::new().unwrap();
    let status = Command::new("tar")
        .arg("-czf")
        .arg(tarball.path())
        .arg("-C")
        .arg(src.path())
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let out = tempfile::tempdir().unwrap();
    untar(
        fs::File::open(tarball.path()).unwrap(),
        out.path(),
        &UntarOptions::default(),
    )
    .unwrap();
    assert_eq!(snapshot(out.path()), snapshot(src.path()));
}

#[test]
fn absolute_names_are_refused() {
    let err = refused(&[("/etc/evil", b'0', b"x")]);
    assert!(
        matches!(err, UntarError::AbsolutePath { ref name } if name == "/etc/evil"),
        "{err}"
    );
}

#[test]
fn parent_components_are_refused_wherever_they_are() {
    for name in ["../evil", "a/../../evil", "a/..", "..", "a/b/../c"] {
        let err = refused(&[(name, b'0', b"x")]);
        assert!(matches!(err, UntarError::ParentTraversal { .. }), "{name}: {err}");
    }
}

#[test]
fn backslashes_and_empty_names_are_refused() {
    assert!(matches!(
        refused(&[("a\\..\\..\\evil", b'0', b"x")]),
        UntarError::InvalidName { .. }
    ));
    assert!(matches!(
        refused(&[("", b'0', b"x")]),
        UntarError::InvalidName { .. }
    ));
}

#[test]
fn symlinks_are_refused_unless_skipped() {
    let entries: &[(&str, u8, &[u8])] = &[("link", b'2', b""), ("file", b'0', b"f")];
    assert!(matches!(refused(entries), UntarError::Symlink { ref name } if name == "link"));
    let (dir, result) = extract(entries, &UntarOptions::default().skip_symlinks(true));
    result.unwrap();
    assert_eq!(
        snapshot(&dir.path().join("out")),
        [("file".to_owned(), Some(b"f".to_vec()))]
    );
}

#[test]
fn hard_links_are_refused() {
    assert!(matches!(
        refused(&[("hard", b'1', b"")]),
        UntarError::Hardlink { .. }
    ));
}

#[test]
fn devices_fifos_and_unknown_types_are_refused() {
    for type_flag in [b'3', b'4', b'6', b'S', b'Z'] {
        let err = refused(&[("special", type_flag, b"")]);
        assert!(
            matches!(err, UntarError::UnsupportedType { type_flag: t, .. } if t == type_flag),
            "{err}"
        );
    }
}

#[test]
fn a_filter_skips_entries_before_they_are_checked() {
    let options =
        UntarOptions::default().filter(|path, kind| kind == EntryKind::Symlink || path.starts_with("skip"));
    let (dir, result) = extract(
        &[
            ("link", b'2', b""),
            ("skip/a", b'0', b"a"),
            ("keep/b", b'0', b"b"),
        ],
        &options,
    );
    result.unwrap();
    let got: Vec<String> = snapshot(&dir.path().join("out"))
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(got, ["keep", "keep/b"]);
}

#[test]
fn declared_sizes_over_the_cap_are_refused_before_writing() {
    let options = UntarOptions::default().max_size(Some(10));
    let (dir, result) = extract(&[("a", b'0', b"123456"), ("b", b'0', b"123456")], &options);
    let err = result.unwrap_err();
    assert!(
        matches!(err, UntarError::TooLarge { ref name, limit: 10 } if name == "b"),
        "{err}"
    );
    assert!(!dir.path().join("out/b").exists());
}

#[test]
fn a_compression_bomb_is_stopped_at_the_cap() {
    // 256 MiB of zeros compress to a few hundred KiB.
    let size = 256u64 << 20;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&header("bomb", b'0', size, 0o644, 0)).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..256 {
        encoder.write_all(&zeros).unwrap();
    }
    encoder.write_all(&[0u8; 1024]).unwrap();
    let compressed = encoder.finish().unwrap();
    let out = tempfile::tempdir().unwrap();
    let err = untar(compressed.as_slice(), out.path(), &UntarOptions::default()).unwrap_err();
    assert!(
        matches!(err, UntarError::TooLarge { limit, .. } if limit == 100 << 20),
        "{err}"
    );
    assert!(!out.path().join("bomb").exists());
}

#[test]
fn no_cap_when_asked() {
    // A directory declaring 200 MiB: over the default cap, yet cheap to extract, since
    // directories carry no data.
    let tar = Tar::new()
        .entry(Header::new(b"big", b'5').mode(0o755).size(200 << 20), b"")
        .file("big/a", b"a")
        .finish();
    let out = tempfile::tempdir().unwrap();
    let err = untar(
        gzip(&tar).as_slice(),
        &out.path().join("capped"),
        &UntarOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, UntarError::TooLarge { .. }), "{err}");
    let options = UntarOptions::default().max_size(None);
    untar(gzip(&tar).as_slice(), &out.path().join("uncapped"), &options).unwrap();
    assert_eq!(fs::read(out.path().join("uncapped/big/a")).unwrap(), b"a");
}

#[test]
fn a_directorys_declared_size_counts_towards_the_cap_as_in_flux() {
    let tar = Tar::new()
        .entry(Header::new(b"d", b'5').mode(0o755).size(600), b"")
        .file("d/a", b"12345")
        .finish();
    let out = tempfile::tempdir().unwrap();
    let options = UntarOptions::default().max_size(Some(604));
    let err = untar(gzip(&tar).as_slice(), out.path(), &options).unwrap_err();
    assert!(
        matches!(err, UntarError::TooLarge { ref name, limit: 604 } if name == "d/a"),
        "{err}"
    );
}

#[test]
fn oversized_extension_headers_are_refused() {
    // A well-formed PAX record just over 1 MiB: only the cap refuses it.
    let comment = vec![b'a'; 1 << 20];
    let tar = Tar::new().pax(&[("comment", &comment)]).file("a", b"a").finish();
    let out = tempfile::tempdir().unwrap();
    let options = UntarOptions::default().max_size(None);
    let err = untar(gzip(&tar).as_slice(), out.path(), &options).unwrap_err();
    assert!(
        matches!(
            err,
            UntarError::Malformed {
                reason: TarFormatError::ExtensionTooLarge { limit: 1_048_576, .. }
            }
        ),
        "{err}"
    );
    assert!(!out.path().join("a").exists());
}

#[test]
fn extension_headers_up_to_the_cap_are_read() {
    let comment = vec![b'a'; (1 << 20) - 100];
    let tar = Tar::new().pax(&[("comment", &comment)]).file("a", b"a").finish();
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    assert_eq!(fs::read(out.path().join("a")).unwrap(), b"a");
}

#[test]
fn gnu_long_names_name_the_next_entry() {
    let long = format!("{}/file.yaml", "d".repeat(150));
    let tar = Tar::new()
        .gnu_long_name(long.as_bytes())
        .entry(Header::new(b"truncated-name", b'0').size(4), b"long")
        .finish();
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    assert_eq!(fs::read(out.path().join(&long)).unwrap(), b"long");
    assert!(!out.path().join("truncated-name").exists());
}

#[test]
fn gnu_long_names_over_1_mib_are_refused() {
    let name = vec![b'n'; 1 << 20];
    let tar = Tar::new().gnu_long_name(&name).file("short", b"x").finish();
    let out = tempfile::tempdir().unwrap();
    let err = untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            UntarError::Malformed {
                reason: TarFormatError::ExtensionTooLarge { size: 1_048_577, .. }
            }
        ),
        "{err}"
    );
    assert_eq!(fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn gnu_sparse_pax_headers_are_refused() {
    for key in ["GNU.sparse.map", "GNU.sparse.major", "GNU.sparse.size"] {
        let tar = Tar::new().pax(&[(key, b"0")]).file("sparse", b"x").finish();
        let out = tempfile::tempdir().unwrap();
        let err = untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap_err();
        assert!(
            matches!(
                err,
                UntarError::Malformed {
                    reason: TarFormatError::Sparse
                }
            ),
            "{key}: {err}"
        );
        assert!(!out.path().join("sparse").exists(), "{key}");
    }
}

#[test]
fn a_zero_block_followed_by_data_is_refused() {
    let tar = Tar::new()
        .file("a", b"a")
        .raw(&[0u8; 512])
        .file("hidden", b"after a lone zero block")
        .finish();
    let out = tempfile::tempdir().unwrap();
    let err = untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            UntarError::Malformed {
                reason: TarFormatError::DataAfterZeroBlock
            }
        ),
        "{err}"
    );
    assert!(!out.path().join("hidden").exists());
}

#[test]
fn more_than_1_mib_after_the_end_of_the_archive_is_refused() {
    let mut tar = tar_of(&[("a", b'0', b"a")]);
    tar.resize(tar.len() + (1 << 20) + 1, 0);
    let out = tempfile::tempdir().unwrap();
    let err = untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            UntarError::Malformed {
                reason: TarFormatError::TrailingData { limit: 1_048_576 }
            }
        ),
        "{err}"
    );
}

#[test]
fn up_to_1_mib_after_the_end_of_the_archive_is_tolerated() {
    // GNU tar pads archives to 10 KiB records, and other writers further.
    let mut tar = tar_of(&[("a", b'0', b"a")]);
    tar.resize(tar.len() + (1 << 20), 0);
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    assert_eq!(fs::read(out.path().join("a")).unwrap(), b"a");
}

#[test]
fn setuid_setgid_and_sticky_bits_are_dropped() {
    let tar = Tar::new()
        .entry(Header::new(b"sticky", b'5').mode(0o1755), b"")
        .entry(Header::new(b"sticky/setuid", b'0').mode(0o4755).size(2), b"#!")
        .entry(Header::new(b"setgid-empty", b'0').mode(0o2755), b"")
        .entry(Header::new(b"all", b'0').mode(0o7777).size(1), b"x")
        .finish();
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    let mode = |p: &str| fs::metadata(out.path().join(p)).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode("sticky"), 0o755);
    assert_eq!(mode("sticky/setuid"), 0o755);
    assert_eq!(mode("setgid-empty"), 0o755);
    // The umask of the test process may clear group and other bits, never add any.
    assert_eq!(mode("all") & 0o7000, 0);
}

/// An archive in which a directory entry declares a size: Go's `archive/tar` and
/// Python's `tarfile` read no data for it, so the blocks after it are the next entry.
fn directory_with_a_size_then_an_entry_in_its_blocks() -> Vec<u8> {
    let smuggled = Header::new(b"d/smuggled.yaml", b'0').size(12).bytes();
    let mut blocks = smuggled.to_vec();
    blocks.extend_from_slice(b"kind: Secret");
    blocks.resize(1024, 0);
    Tar::new()
        .entry(Header::new(b"d", b'5').mode(0o755).size(1024), b"")
        .raw(&blocks)
        .file("after.yaml", b"after")
        .finish()
}

#[test]
fn directory_entries_carry_no_data_whatever_their_size_says() {
    let out = tempfile::tempdir().unwrap();
    let tar = directory_with_a_size_then_an_entry_in_its_blocks();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    assert_eq!(
        snapshot(out.path()),
        [
            ("after.yaml".to_owned(), Some(b"after".to_vec())),
            ("d".to_owned(), None),
            ("d/smuggled.yaml".to_owned(), Some(b"kind: Secret".to_vec())),
        ]
    );
}

#[test]
fn the_tree_extracted_is_the_one_pythons_tarfile_extracts() {
    let Some(python) = tarball::python3() else {
        println!("skipped: no python3 with tarfile extraction filters on this machine");
        return;
    };
    let tar = directory_with_a_size_then_an_entry_in_its_blocks();
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("crafted.tar");
    fs::write(&archive, &tar).unwrap();
    let theirs = work.path().join("python");
    let status = Command::new(python)
        .args([
            "-c",
            "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')",
        ])
        .arg(&archive)
        .arg(&theirs)
        .status()
        .unwrap();
    assert!(status.success());
    let ours = work.path().join("ours");
    untar(tar.as_slice(), &ours, &UntarOptions::default().gzip(false)).unwrap();
    assert_eq!(snapshot(&ours), snapshot(&theirs));
}

#[test]
fn a_file_entry_whose_mode_names_another_file_type_is_refused() {
    // Go's FileInfo lets these bits decide: Flux would make a directory, or see a
    // symlink and skip it, where the type flag says regular file.
    for mode in [0o040755, 0o120777, 0o010644, 0o020644, 0o060644, 0o140644] {
        let tar = Tar::new()
            .entry(Header::new(b"f", b'0').mode(mode).size(1), b"x")
            .finish();
        let out = tempfile::tempdir().unwrap();
        let err = untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap_err();
        assert!(
            matches!(err, UntarError::TypeMismatch { type_flag: b'0', mode: m, .. } if m == i64::from(mode)),
            "{mode:o}: {err}"
        );
        assert!(!out.path().join("f").exists());
    }
}

#[test]
fn regular_file_type_bits_in_the_mode_are_fine() {
    let tar = Tar::new()
        .entry(Header::new(b"f", b'0').mode(0o100644).size(1), b"x")
        .entry(Header::new(b"d", b'5').mode(0o040755), b"")
        .finish();
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    assert!(out.path().join("f").is_file() && out.path().join("d").is_dir());
}

#[test]
fn a_file_name_with_a_trailing_slash_is_refused() {
    let err = refused(&[("dir-like/", b'0', b"x")]);
    assert!(matches!(err, UntarError::InvalidName { .. }), "{err}");
}

#[test]
fn contiguous_files_are_regular_files() {
    let (dir, result) = extract(&[("c", b'7', b"contiguous")], &UntarOptions::default());
    result.unwrap();
    assert_eq!(fs::read(dir.path().join("out/c")).unwrap(), b"contiguous");
}

#[test]
fn a_pax_path_names_the_next_entry() {
    let tar = Tar::new()
        .pax(&[("path", "ü/pax.yaml".as_bytes())])
        .file("short", b"pax")
        .finish();
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    assert_eq!(fs::read(out.path().join("ü/pax.yaml")).unwrap(), b"pax");
    assert!(!out.path().join("short").exists());
}

#[test]
fn input_that_is_not_gzip_is_refused() {
    let out = tempfile::tempdir().unwrap();
    let err = untar(
        tar_of(&[("a", b'0', b"a")]).as_slice(),
        out.path(),
        &UntarOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, UntarError::NotGzip { .. }), "{err}");
    assert!(err.to_string().starts_with("requires gzip-compressed body"));
    assert!(matches!(
        untar(&b""[..], out.path(), &UntarOptions::default()),
        Err(UntarError::NotGzip { .. })
    ));
}

#[test]
fn a_plain_tar_stream_extracts_when_gzip_is_off() {
    let out = tempfile::tempdir().unwrap();
    let options = UntarOptions::default().gzip(false);
    untar(tar_of(&[("a", b'0', b"plain")]).as_slice(), out.path(), &options).unwrap();
    assert_eq!(fs::read(out.path().join("a")).unwrap(), b"plain");
}

#[test]
fn a_truncated_gzip_stream_is_an_error() {
    let compressed = gzip(&tar_of(&[("a", b'0', &[1u8; 100_000]), ("b", b'0', b"b")]));
    for cut in [compressed.len() / 2, compressed.len() - 4] {
        let out = tempfile::tempdir().unwrap();
        let err = untar(&compressed[..cut], out.path(), &UntarOptions::default()).unwrap_err();
        assert!(matches!(err, UntarError::Stream { .. }), "cut at {cut}: {err}");
    }
}

#[test]
fn a_corrupt_gzip_checksum_is_an_error() {
    let mut compressed = gzip(&tar_of(&[("a", b'0', b"content")]));
    let crc = compressed.len() - 8;
    compressed[crc] ^= 0xff;
    let out = tempfile::tempdir().unwrap();
    assert!(matches!(
        untar(compressed.as_slice(), out.path(), &UntarOptions::default()),
        Err(UntarError::Stream { .. })
    ));
}

#[test]
fn an_existing_symlink_in_the_target_cannot_lead_outside() {
    let top = tempfile::tempdir().unwrap();
    let outside = top.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let target = top.path().join("target");
    fs::create_dir(&target).unwrap();
    std::os::unix::fs::symlink(&outside, target.join("evil")).unwrap();
    std::os::unix::fs::symlink("../outside", target.join("evil-relative")).unwrap();
    for name in ["evil/planted", "evil-relative/planted", "evil/sub/planted"] {
        let err = untar(
            gzip(&tar_of(&[(name, b'0', b"x")])).as_slice(),
            &target,
            &UntarOptions::default(),
        )
        .unwrap_err();
        assert!(matches!(err, UntarError::Write { .. }), "{name}: {err}");
    }
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 0);
}

#[test]
fn the_target_must_be_a_directory_and_is_created_if_missing() {
    let top = tempfile::tempdir().unwrap();
    let file = top.path().join("file");
    fs::write(&file, "x").unwrap();
    let data = gzip(&tar_of(&[("a", b'0', b"a")]));
    assert!(matches!(
        untar(data.as_slice(), &file, &UntarOptions::default()),
        Err(UntarError::NotADirectory { .. })
    ));
    let link = top.path().join("link");
    std::os::unix::fs::symlink(top.path(), &link).unwrap();
    assert!(matches!(
        untar(data.as_slice(), &link, &UntarOptions::default()),
        Err(UntarError::NotADirectory { .. })
    ));
    let missing = top.path().join("new/nested");
    untar(data.as_slice(), &missing, &UntarOptions::default()).unwrap();
    assert!(missing.join("a").is_file());
}

#[test]
fn owners_always_keep_access_to_what_is_extracted() {
    let mut tar = Vec::new();
    tar.extend_from_slice(&header("locked", b'5', 0, 0o000, 0));
    tar.extend_from_slice(&header("locked/file", b'0', 1, 0o000, 0));
    tar.extend_from_slice(&[b'x'; 512]);
    tar.extend_from_slice(&[0u8; 1024]);
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    let mode = |p: &str| fs::metadata(out.path().join(p)).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode("locked") & 0o700, 0o700);
    assert_eq!(mode("locked/file") & 0o600, 0o600);
}

#[test]
fn file_times_come_from_the_archive_but_never_from_the_future() {
    let future = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() + 86_400 * 365;
    let mut tar = Vec::new();
    tar.extend_from_slice(&header("past", b'0', 0, 0o644, 1_000_000_000));
    tar.extend_from_slice(&header("future", b'0', 0, 0o644, future));
    tar.extend_from_slice(&[0u8; 1024]);
    let out = tempfile::tempdir().unwrap();
    untar(gzip(&tar).as_slice(), out.path(), &UntarOptions::default()).unwrap();
    let mtime = |p: &str| fs::metadata(out.path().join(p)).unwrap().modified().unwrap();
    assert_eq!(mtime("past"), UNIX_EPOCH + Duration::from_secs(1_000_000_000));
    assert!(mtime("future") <= SystemTime::now());
}

#[test]
fn files_are_overwritten_not_appended() {
    let out = tempfile::tempdir().unwrap();
    fs::write(out.path().join("a"), "a much longer previous content").unwrap();
    untar(
        gzip(&tar_of(&[("a", b'0', b"new")])).as_slice(),
        out.path(),
        &UntarOptions::default(),
    )
    .unwrap();
    assert_eq!(fs::read(out.path().join("a")).unwrap(), b"new");
}

#[test]
fn a_file_entry_cannot_be_the_root() {
    assert!(matches!(
        refused(&[("./", b'0', b"x")]),
        UntarError::InvalidName { .. }
    ));
}

#[test]
fn directories_named_in_file_paths_are_created() {
    let (dir, result) = extract(&[("implied/parent/file", b'0', b"x")], &UntarOptions::default());
    result.unwrap();
    assert!(Path::new(&dir.path().join("out/implied/parent/file")).is_file());
}
