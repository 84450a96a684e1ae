//! `untar` against hostile tarballs, all generated here (no checked-in blobs). Each
//! case is either refused with the error that names its problem, or extracted exactly
//! (compared with what Python's `tarfile` extracts where readers could disagree); in
//! every case a canary file beside the destination is untouched, nothing is written
//! outside the destination, and nothing but regular files and directories is written.
//!
//! The cases that only an unprivileged user can show (directories the archive makes
//! unreadable, setuid bits a write would clear) run in a child process under
//! `setpriv` when the tests run as root, and are skipped with a message when that is
//! not possible.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod tarball;

use std::{
    fs,
    io::Write,
    os::unix::fs::{FileTypeExt, PermissionsExt},
    path::{Path, PathBuf},
    process::Command,
    sync::mpsc,
    time::Duration,
};

use common::snapshot;
use flate2::{Compression, write::GzEncoder};
use flux_artifact_storage::{TarFormatError, UntarError, UntarOptions, UntarSummary, untar};
use tarball::{BLOCK, Header, Tar, gzip};

const CANARY: &[u8] = b"canary: must never change";

/// A destination with a canary file and an `outside` directory beside it.
struct Scene {
    top: tempfile::TempDir,
}

impl Scene {
    fn new() -> Self {
        let top = tempfile::tempdir().unwrap();
        fs::write(top.path().join("canary.txt"), CANARY).unwrap();
        fs::create_dir(top.path().join("outside")).unwrap();
        fs::create_dir(top.path().join("dest")).unwrap();
        Scene { top }
    }

    fn dest(&self) -> PathBuf {
        self.top.path().join("dest")
    }

    fn outside(&self) -> PathBuf {
        self.top.path().join("outside")
    }

    /// Extracts `input` into the destination, failing the test if that takes more than
    /// a minute (a hang), then checks that nothing escaped. Entries of the destination
    /// listed in `planted` were put there by the test and are not checked.
    fn extract(
        &self,
        input: Vec<u8>,
        options: UntarOptions,
        planted: &[&str],
    ) -> Result<UntarSummary, UntarError> {
        let outside_before = snapshot(&self.outside());
        let dest = self.dest();
        let (sender, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(untar(input.as_slice(), &dest, &options));
        });
        let result = receiver
            .recv_timeout(Duration::from_secs(60))
            .expect("untar did not finish within a minute");
        self.check_contained(planted);
        assert_eq!(snapshot(&self.outside()), outside_before, "outside changed");
        result
    }

    fn check_contained(&self, planted: &[&str]) {
        assert_eq!(fs::read(self.top.path().join("canary.txt")).unwrap(), CANARY);
        let mut top: Vec<String> = fs::read_dir(self.top.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(top, ["canary.txt", "dest", "outside"]);
        for entry in walkdir::WalkDir::new(self.dest()).min_depth(1) {
            let entry = entry.unwrap();
            let relative = entry.path().strip_prefix(self.dest()).unwrap();
            if planted.iter().any(|p| relative.starts_with(p)) {
                continue;
            }
            let kind = entry.file_type();
            assert!(
                kind.is_file() || kind.is_dir(),
                "{} is neither a file nor a directory: {kind:?}",
                relative.display()
            );
        }
    }

    /// The destination's files and directories.
    fn tree(&self) -> Vec<(String, Option<Vec<u8>>)> {
        snapshot(&self.dest())
    }
}

fn default() -> UntarOptions {
    UntarOptions::default()
}

/// Extracts `tar` (gzipped) into a fresh scene and returns the error.
fn refused(tar: Vec<u8>, options: UntarOptions) -> UntarError {
    let scene = Scene::new();
    scene.extract(gzip(&tar), options, &[]).unwrap_err()
}

/// Extracts `tar` (gzipped) into a fresh scene and returns the tree.
fn extracted(tar: Vec<u8>, options: UntarOptions) -> Vec<(String, Option<Vec<u8>>)> {
    let scene = Scene::new();
    scene.extract(gzip(&tar), options, &[]).unwrap();
    scene.tree()
}

fn file(name: &str, content: &[u8]) -> Vec<u8> {
    Tar::new().file(name, content).finish()
}

fn tree_of(entries: &[(&str, Option<&[u8]>)]) -> Vec<(String, Option<Vec<u8>>)> {
    entries
        .iter()
        .map(|(name, content)| ((*name).to_owned(), content.map(<[u8]>::to_vec)))
        .collect()
}

/// What Python's `tarfile` extracts from `tar` (plain), or `None` without Python.
fn python_tree(tar: &[u8]) -> Option<Vec<(String, Option<Vec<u8>>)>> {
    let python = tarball::python3()?;
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("a.tar");
    fs::write(&archive, tar).unwrap();
    let out = work.path().join("out");
    let status = Command::new(python)
        .args([
            "-c",
            "import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2], filter='data')",
        ])
        .arg(&archive)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    Some(snapshot(&out))
}

/// Extracts `tar` and checks the tree equals `expected` and, where Python is available,
/// what Python's `tarfile` extracts.
fn extracted_like_python(tar: Vec<u8>, expected: &[(&str, Option<&[u8]>)]) {
    let ours = extracted(tar.clone(), default());
    assert_eq!(ours, tree_of(expected));
    match python_tree(&tar) {
        Some(theirs) => assert_eq!(ours, theirs, "Python's tarfile extracts another tree"),
        None => println!("not compared with Python: no python3 with tarfile filters"),
    }
}

// --- names ----------------------------------------------------------------------------

#[test]
fn dot_dot_in_every_form_is_refused() {
    let names: &[&[u8]] = &[
        b"..",
        b"../",
        b"../evil",
        b"./../evil",
        b"a/../../evil",
        b"a/..",
        b"a/b/../../../evil",
        b"a/./../../evil",
        b"a//..//..//evil",
        b"../../../../../../../../../../tmp/evil",
    ];
    for name in names {
        let tar = Tar::new().entry(Header::new(name, b'0').size(1), b"x").finish();
        let err = refused(tar, default());
        assert!(
            matches!(err, UntarError::ParentTraversal { .. }),
            "{}: {err}",
            String::from_utf8_lossy(name)
        );
        let tar = Tar::new().entry(Header::new(name, b'5'), b"").finish();
        assert!(matches!(
            refused(tar, default()),
            UntarError::ParentTraversal { .. }
        ));
    }
}

#[test]
fn dot_dot_through_the_ustar_prefix_is_refused() {
    let tar = Tar::new()
        .entry(Header::new(b"evil", b'0').prefix(b"../..").size(1), b"x")
        .finish();
    let err = refused(tar, default());
    assert!(
        matches!(err, UntarError::ParentTraversal { ref name } if name == "../../evil"),
        "{err}"
    );
}

#[test]
fn names_that_only_look_like_dot_dot_are_extracted() {
    let tar = Tar::new()
        .file("...", b"three dots")
        .file("..a/b..", b"dots in names")
        .finish();
    extracted_like_python(
        tar,
        &[
            ("...", Some(b"three dots")),
            ("..a", None),
            ("..a/b..", Some(b"dots in names")),
        ],
    );
}

#[test]
fn absolute_names_are_refused() {
    for name in ["/etc/evil", "//evil", "/", "/./evil"] {
        let err = refused(file(name, b"x"), default());
        assert!(matches!(err, UntarError::AbsolutePath { .. }), "{name}: {err}");
    }
}

#[test]
fn backslash_names_are_refused() {
    for name in ["..\\evil", "a\\..\\..\\evil", "\\evil", "C:\\evil", "a\\b"] {
        let err = refused(file(name, b"x"), default());
        assert!(
            matches!(err, UntarError::InvalidName { reason, .. } if reason.contains("backslash")),
            "{name}: {err}"
        );
    }
}

#[test]
fn a_nul_ends_a_header_name_as_in_every_reader() {
    let tar = Tar::new()
        .entry(Header::new(b"short\0/../../evil", b'0').size(4), b"data")
        .finish();
    extracted_like_python(tar, &[("short", Some(b"data"))]);
}

#[test]
fn a_nul_in_a_pax_path_is_refused() {
    let tar = Tar::new()
        .pax(&[("path", b"ok\0/../../evil")])
        .file("plain", b"x")
        .finish();
    let err = refused(tar, default());
    assert!(
        matches!(
            err,
            UntarError::Malformed {
                reason: TarFormatError::MalformedPax
            }
        ),
        "{err}"
    );
}

#[test]
fn a_pax_path_is_checked_like_any_name() {
    for (path, expected) in [
        ("../evil", "ParentTraversal"),
        ("/etc/evil", "AbsolutePath"),
        ("a\\b", "InvalidName"),
    ] {
        let tar = Tar::new()
            .pax(&[("path", path.as_bytes())])
            .file("innocent", b"x")
            .finish();
        let err = refused(tar, default());
        assert!(format!("{err:?}").starts_with(expected), "{path}: {err}");
    }
}

#[test]
fn a_gnu_long_name_is_checked_like_any_name() {
    let deep = format!("{}/../../../evil", "a/".repeat(60));
    for (name, expected) in [
        ("../evil".to_owned(), "ParentTraversal"),
        ("/etc/evil".to_owned(), "AbsolutePath"),
        (deep, "ParentTraversal"),
    ] {
        let tar = Tar::new()
            .gnu_long_name(name.as_bytes())
            .file("innocent", b"x")
            .finish();
        let err = refused(tar, default());
        assert!(format!("{err:?}").starts_with(expected), "{name}: {err}");
    }
}

#[test]
fn pax_and_gnu_long_name_overrides_name_the_entry() {
    let long = format!("{}/long.yaml", "l".repeat(120));
    let tar = Tar::new()
        .pax(&[("path", b"pax/renamed.yaml")])
        .file("header-name.yaml", b"pax")
        .gnu_long_name(long.as_bytes())
        .file("cut", b"gnu")
        .finish();
    extracted_like_python(
        tar,
        &[
            (&long[..120], None),
            (&long, Some(b"gnu")),
            ("pax", None),
            ("pax/renamed.yaml", Some(b"pax")),
        ],
    );
}

#[test]
fn a_pax_path_and_a_gnu_long_name_on_one_entry_are_refused() {
    // Go lets the long name win, Python the first header: no answer is safe.
    for tar in [
        Tar::new()
            .pax(&[("path", b"seen-by-python")])
            .gnu_long_name(b"seen-by-go")
            .file("x", b"x"),
        Tar::new()
            .gnu_long_name(b"seen-by-go-and-python")
            .pax(&[("path", b"seen-by-nobody")])
            .file("x", b"x"),
    ] {
        let err = refused(tar.finish(), default());
        assert!(
            matches!(
                err,
                UntarError::Malformed {
                    reason: TarFormatError::ConflictingNames
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn deep_nesting_is_extracted_or_refused_cleanly() {
    for depth in [200, 3000] {
        let name = format!("{}f", "d/".repeat(depth));
        let tar = Tar::new()
            .pax(&[("path", name.as_bytes())])
            .file("placeholder", b"deep")
            .finish();
        let scene = Scene::new();
        match scene.extract(gzip(&tar), default(), &[]) {
            Ok(_) => assert_eq!(fs::read(scene.dest().join(&name)).unwrap(), b"deep"),
            Err(err) => assert!(matches!(err, UntarError::Write { .. }), "{depth}: {err}"),
        }
    }
}

// --- links and special files ----------------------------------------------------------

#[test]
fn symlink_then_write_through_it_is_refused() {
    let tar = Tar::new()
        .entry(Header::new(b"link", b'2').raw_field(157, b"../outside"), b"")
        .file("link/planted", b"x")
        .finish();
    let err = refused(tar, default());
    assert!(
        matches!(err, UntarError::Symlink { ref name } if name == "link"),
        "{err}"
    );
}

#[test]
fn symlink_then_write_through_it_writes_a_plain_directory_when_links_are_skipped() {
    let tar = Tar::new()
        .entry(Header::new(b"link", b'2').raw_field(157, b"../outside"), b"")
        .file("link/planted", b"x")
        .finish();
    let tree = extracted(tar, default().skip_symlinks(true));
    assert_eq!(tree, tree_of(&[("link", None), ("link/planted", Some(b"x"))]));
}

#[test]
fn a_symlink_already_in_the_destination_cannot_lead_outside() {
    let scene = Scene::new();
    let dest = scene.dest();
    std::os::unix::fs::symlink(scene.outside(), dest.join("abs")).unwrap();
    std::os::unix::fs::symlink("../outside", dest.join("rel")).unwrap();
    std::os::unix::fs::symlink("../canary.txt", dest.join("to-canary")).unwrap();
    let planted = ["abs", "rel", "to-canary"];
    for name in ["abs/planted", "rel/planted", "abs/sub/planted", "to-canary"] {
        let err = scene
            .extract(gzip(&file(name, b"overwritten")), default(), &planted)
            .unwrap_err();
        assert!(matches!(err, UntarError::Write { .. }), "{name}: {err}");
    }
    let err = scene
        .extract(gzip(&Tar::new().dir("rel/newdir").finish()), default(), &planted)
        .unwrap_err();
    assert!(matches!(err, UntarError::Write { .. }), "{err}");
}

#[test]
fn a_symlink_already_in_the_destination_that_stays_inside_is_followed() {
    let scene = Scene::new();
    fs::create_dir(scene.dest().join("real")).unwrap();
    std::os::unix::fs::symlink("real", scene.dest().join("alias")).unwrap();
    scene
        .extract(gzip(&file("alias/f", b"inside")), default(), &["alias"])
        .unwrap();
    assert_eq!(fs::read(scene.dest().join("real/f")).unwrap(), b"inside");
}

#[test]
fn hardlinks_are_refused_whatever_they_point_at() {
    for target in [&b"/etc/passwd"[..], b"../canary.txt", b"existing", b""] {
        let tar = Tar::new()
            .file("existing", b"e")
            .entry(Header::new(b"hard", b'1').raw_field(157, target), b"")
            .finish();
        let err = refused(tar, default());
        assert!(
            matches!(err, UntarError::Hardlink { ref name } if name == "hard"),
            "{err}"
        );
    }
}

#[test]
fn devices_and_fifos_in_the_archive_are_refused_without_hanging() {
    for type_flag in [b'3', b'4', b'6'] {
        let tar = Tar::new()
            .entry(
                Header::new(b"special", type_flag).raw_field(329, b"0000001\0"),
                b"",
            )
            .file("after", b"x")
            .finish();
        let err = refused(tar, default());
        assert!(
            matches!(err, UntarError::UnsupportedType { type_flag: t, .. } if t == type_flag),
            "{err}"
        );
    }
}

#[test]
fn a_fifo_already_in_the_destination_is_not_written_and_does_not_hang() {
    let scene = Scene::new();
    let fifo = scene.dest().join("fifo");
    let status = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(status.success());
    let err = scene
        .extract(gzip(&file("fifo", b"blocked?")), default(), &["fifo"])
        .unwrap_err();
    assert!(matches!(err, UntarError::Write { .. }), "{err}");
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

// --- sizes ----------------------------------------------------------------------------

#[test]
fn a_size_larger_than_the_data_is_a_stream_error() {
    let tar = Tar::new()
        .entry(Header::new(b"a", b'0').size(10_000), &[b'a'; 100])
        .unfinished();
    let err = refused(tar, default());
    assert!(matches!(err, UntarError::Stream { .. }), "{err}");
}

#[test]
fn a_size_smaller_than_the_data_makes_the_rest_the_next_header_as_in_every_reader() {
    let mut data = b"short".to_vec();
    data.resize(BLOCK, 0);
    data.extend_from_slice(&Header::new(b"smuggled", b'0').size(4).bytes());
    data.extend_from_slice(b"seen");
    let tar = Tar::new().entry(Header::new(b"a", b'0').size(5), &data).finish();
    extracted_like_python(tar, &[("a", Some(b"short")), ("smuggled", Some(b"seen"))]);
}

#[test]
fn header_only_entries_with_a_size_hide_nothing() {
    // Directories (and links, devices, FIFOs) carry no data in Go and Python: the
    // blocks after them are read as headers, here a file.
    let mut hidden = Header::new(b"d/visible", b'0').size(3).bytes().to_vec();
    hidden.extend_from_slice(b"yes");
    hidden.resize(2 * BLOCK, 0);
    let tar = Tar::new()
        .entry(Header::new(b"d", b'5').mode(0o755).size(2 * BLOCK as u64), b"")
        .raw(&hidden)
        .finish();
    extracted_like_python(tar, &[("d", None), ("d/visible", Some(b"yes"))]);
}

#[test]
fn a_huge_base256_size_is_refused_by_the_cap_before_reading() {
    let tar = Tar::new()
        .entry(Header::new(b"huge", b'0').size_base256(1 << 62), b"")
        .finish();
    let err = refused(tar, default());
    assert!(matches!(err, UntarError::TooLarge { .. }), "{err}");
}

#[test]
fn a_huge_size_without_a_cap_ends_at_the_end_of_the_input() {
    let tar = Tar::new()
        .entry(Header::new(b"huge", b'0').size_base256(1 << 62), b"")
        .finish();
    let err = refused(tar, default().max_size(None));
    assert!(matches!(err, UntarError::Stream { .. }), "{err}");
}

#[test]
fn negative_and_malformed_sizes_are_refused() {
    let mut negative = Header::new(b"neg", b'0');
    negative = negative.raw_field(124, &[0xff; 12]);
    let junk = Header::new(b"junk", b'0').raw_field(124, b"0000001 0000");
    for header in [negative, junk] {
        let err = refused(Tar::new().entry(header, b"").finish(), default());
        assert!(
            matches!(
                err,
                UntarError::Malformed {
                    reason: TarFormatError::InvalidField { field: "size" }
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn a_pax_size_overrides_the_header_size() {
    let content = vec![b'p'; 1500];
    let tar = Tar::new()
        .pax(&[("size", b"1500")])
        .entry(Header::new(b"a", b'0').size(1), &content)
        .finish();
    extracted_like_python(tar, &[("a", Some(&content))]);
}

#[test]
fn a_pax_size_does_not_give_a_directory_data() {
    let mut hidden = Header::new(b"d/visible", b'0').size(3).bytes().to_vec();
    hidden.extend_from_slice(b"yes");
    let tar = Tar::new()
        .pax(&[("size", b"1024")])
        .entry(Header::new(b"d", b'5').mode(0o755), b"")
        .raw(&hidden)
        .pad()
        .finish();
    extracted_like_python(tar, &[("d", None), ("d/visible", Some(b"yes"))]);
}

#[test]
fn a_pax_size_over_the_cap_is_refused_before_writing() {
    let tar = Tar::new()
        .pax(&[("size", b"1000000000000")])
        .entry(Header::new(b"a", b'0').size(1), b"x")
        .finish();
    let scene = Scene::new();
    let err = scene.extract(gzip(&tar), default(), &[]).unwrap_err();
    assert!(matches!(err, UntarError::TooLarge { .. }), "{err}");
    assert!(scene.tree().is_empty());
}

#[test]
fn malformed_pax_sizes_are_refused() {
    for size in [&b"-1"[..], b"abc", b"", b"1e3", b"99999999999999999999999"] {
        let tar = Tar::new()
            .pax(&[("size", size)])
            .entry(Header::new(b"a", b'0').size(1), b"x")
            .finish();
        let err = refused(tar, default());
        assert!(
            matches!(
                err,
                UntarError::Malformed {
                    reason: TarFormatError::InvalidField { field: "PAX size" }
                }
            ),
            "{}: {err}",
            String::from_utf8_lossy(size)
        );
    }
}

#[test]
fn sparse_entries_are_refused() {
    let old_gnu = Tar::new()
        .entry(Header::new(b"sparse", b'S').size(0), b"")
        .finish();
    assert!(matches!(
        refused(old_gnu, default()),
        UntarError::UnsupportedType { type_flag: b'S', .. }
    ));
    let pax = Tar::new()
        .pax(&[("GNU.sparse.major", b"1"), ("GNU.sparse.minor", b"0")])
        .file("sparse", b"x")
        .finish();
    assert!(matches!(
        refused(pax, default()),
        UntarError::Malformed {
            reason: TarFormatError::Sparse
        }
    ));
}

// --- bombs ----------------------------------------------------------------------------

/// A gzipped tarball of one entry of `size` zero bytes, compressed as it is built.
fn zeros_bomb(name: &str, size: u64) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder
        .write_all(&Header::new(name.as_bytes(), b'0').size(size).bytes())
        .unwrap();
    let zeros = vec![0u8; 1 << 20];
    let mut left = size;
    while left > 0 {
        let n = left.min(zeros.len() as u64);
        encoder.write_all(&zeros[..n as usize]).unwrap();
        left -= n;
    }
    encoder.write_all(&[0u8; 2 * BLOCK]).unwrap();
    encoder.finish().unwrap()
}

fn bytes_under(dir: &Path) -> u64 {
    walkdir::WalkDir::new(dir)
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_decompression_bomb_writes_nothing_past_the_cap() {
    // 1 GiB of zeros in about 1 MiB: refused on its declared size, before a byte.
    let bomb = zeros_bomb("bomb", 1 << 30);
    assert!(bomb.len() < 2 << 20);
    let scene = Scene::new();
    let err = scene.extract(bomb, default(), &[]).unwrap_err();
    assert!(
        matches!(err, UntarError::TooLarge { limit, .. } if limit == 100 << 20),
        "{err}"
    );
    assert_eq!(bytes_under(&scene.dest()), 0);
}

#[test]
fn many_files_under_the_cap_each_stop_at_the_cap_together() {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    let chunk = vec![0u8; 1 << 20];
    for i in 0..8 {
        let header = Header::new(format!("part{i}").as_bytes(), b'0').size(1 << 20);
        encoder.write_all(&header.bytes()).unwrap();
        encoder.write_all(&chunk).unwrap();
    }
    encoder.write_all(&[0u8; 2 * BLOCK]).unwrap();
    let scene = Scene::new();
    let options = default().max_size(Some(5 << 20));
    let err = scene
        .extract(encoder.finish().unwrap(), options, &[])
        .unwrap_err();
    assert!(
        matches!(err, UntarError::TooLarge { ref name, .. } if name == "part5"),
        "{err}"
    );
    assert_eq!(bytes_under(&scene.dest()), 5 << 20);
}

#[test]
fn a_bomb_after_the_end_of_the_archive_is_read_no_further_than_1_mib() {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&file("a", b"a")).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..1024 {
        encoder.write_all(&zeros).unwrap();
    }
    let scene = Scene::new();
    let err = scene
        .extract(encoder.finish().unwrap(), default(), &[])
        .unwrap_err();
    assert!(
        matches!(
            err,
            UntarError::Malformed {
                reason: TarFormatError::TrailingData { .. }
            }
        ),
        "{err}"
    );
}

// --- modes ----------------------------------------------------------------------------

#[test]
fn special_mode_bits_never_reach_the_disk() {
    let tar = Tar::new()
        .entry(Header::new(b"sticky-dir", b'5').mode(0o1777), b"")
        .entry(Header::new(b"setgid-dir", b'5').mode(0o2755), b"")
        .entry(Header::new(b"setuid", b'0').mode(0o4755).size(1), b"x")
        .entry(Header::new(b"setuid-empty", b'0').mode(0o4755), b"")
        .finish();
    let scene = Scene::new();
    scene.extract(gzip(&tar), default(), &[]).unwrap();
    for name in ["sticky-dir", "setgid-dir", "setuid", "setuid-empty"] {
        let mode = fs::metadata(scene.dest().join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7000, 0, "{name}: {mode:o}");
    }
}

#[test]
fn mode_type_bits_cannot_turn_a_file_into_something_else() {
    for mode in [0o040755, 0o120777, 0o060644, 0o020644, 0o010644, 0o140644] {
        let tar = Tar::new()
            .entry(Header::new(b"f", b'0').mode(mode).size(1), b"x")
            .finish();
        assert!(matches!(refused(tar, default()), UntarError::TypeMismatch { .. }));
    }
    let link_as_dir = Tar::new()
        .entry(Header::new(b"l", b'2').mode(0o040755).raw_field(157, b"x"), b"")
        .finish();
    assert!(matches!(
        refused(link_as_dir, default().skip_symlinks(true)),
        UntarError::TypeMismatch { type_flag: b'2', .. }
    ));
}

// --- duplicates -----------------------------------------------------------------------

#[test]
fn a_duplicate_file_is_overwritten_by_the_last_one_as_in_every_reader() {
    let tar = Tar::new()
        .file("dup", b"first, and longer")
        .file("dup", b"second")
        .finish();
    extracted_like_python(tar, &[("dup", Some(b"second"))]);
}

#[test]
fn a_file_and_a_directory_of_one_name_are_refused() {
    for tar in [
        Tar::new().file("x", b"file").dir("x").finish(),
        Tar::new().dir("x").file("x", b"file").finish(),
        Tar::new()
            .file("x", b"file")
            .file("x/y", b"under a file")
            .finish(),
    ] {
        assert!(matches!(refused(tar, default()), UntarError::Write { .. }));
    }
}

#[test]
fn duplicate_directories_are_fine() {
    let tar = Tar::new().dir("d").file("d/a", b"a").dir("d").dir("d/").finish();
    extracted_like_python(tar, &[("d", None), ("d/a", Some(b"a"))]);
}

// --- corruption -----------------------------------------------------------------------

#[test]
fn garbage_after_the_end_marker_inside_the_stream_is_tolerated() {
    let mut tar = file("a", b"a");
    tar.extend_from_slice(b"garbage that no reader looks at");
    extracted_like_python(tar, &[("a", Some(b"a"))]);
}

#[test]
fn garbage_after_the_gzip_stream_is_refused() {
    let mut input = gzip(&file("a", b"a"));
    input.extend_from_slice(b"not another gzip member");
    let scene = Scene::new();
    let err = scene.extract(input, default(), &[]).unwrap_err();
    assert!(matches!(err, UntarError::Stream { .. }), "{err}");
}

#[test]
fn a_bad_header_checksum_is_refused() {
    let header = Header::new(b"a", b'0').size(1).checksum(12345);
    let err = refused(Tar::new().entry(header, b"x").finish(), default());
    assert!(
        matches!(
            err,
            UntarError::Malformed {
                reason: TarFormatError::Checksum
            }
        ),
        "{err}"
    );
}

#[test]
fn a_bad_gzip_crc_or_length_is_refused() {
    let good = gzip(&file("a", b"content"));
    for offset in [8, 4] {
        let mut bad = good.clone();
        let at = bad.len() - offset;
        bad[at] ^= 0xff;
        let scene = Scene::new();
        let err = scene.extract(bad, default(), &[]).unwrap_err();
        assert!(matches!(err, UntarError::Stream { .. }), "{err}");
    }
}

#[test]
fn a_truncated_archive_is_refused() {
    let whole = gzip(&file("a", &[7u8; 4096]));
    for cut in [10, whole.len() / 2, whole.len() - 1] {
        let scene = Scene::new();
        let err = scene.extract(whole[..cut].to_vec(), default(), &[]).unwrap_err();
        assert!(matches!(err, UntarError::Stream { .. }), "cut at {cut}: {err}");
    }
}

// --- as an unprivileged user ----------------------------------------------------------

const CHILD_CASE: &str = "FLUX_ARTIFACT_UNTAR_TEST_CASE";
const CHILD_DIR: &str = "FLUX_ARTIFACT_UNTAR_TEST_DIR";

/// The archives of the unprivileged cases.
fn unprivileged_case(name: &str) -> Vec<u8> {
    match name {
        "unreadable-directories" => Tar::new()
            .entry(Header::new(b"locked", b'5').mode(0o000), b"")
            .entry(Header::new(b"locked/inner", b'5').mode(0o000), b"")
            .entry(
                Header::new(b"locked/inner/file", b'0').mode(0o000).size(6),
                b"inside",
            )
            .finish(),
        "setuid-empty" => Tar::new()
            .entry(Header::new(b"setuid-empty", b'0').mode(0o4755), b"")
            .entry(Header::new(b"setgid-empty", b'0').mode(0o2755), b"")
            .finish(),
        other => panic!("unknown case {other}"),
    }
}

/// Not a test of its own: extracts a case as the (unprivileged) user it runs as.
#[test]
#[ignore = "helper run by the other tests in a child process as an unprivileged user"]
fn child_extracts_as_an_unprivileged_user() {
    let Ok(case) = std::env::var(CHILD_CASE) else {
        return;
    };
    let dir = PathBuf::from(std::env::var(CHILD_DIR).unwrap());
    let result = untar(
        gzip(&unprivileged_case(&case)).as_slice(),
        &dir.join("dest"),
        &default(),
    );
    println!("OUTCOME={result:?}");
}

fn running_as_root() -> bool {
    fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        == Some("0")
}

/// Extracts `case` as an unprivileged user into `<dir>/dest` and returns the child's
/// `Debug` of the result; `None` (with the reason printed) if no such user can be had.
fn extract_unprivileged(case: &str, dir: &Path) -> Option<String> {
    let exe = std::env::current_exe().unwrap();
    let args = [
        "child_extracts_as_an_unprivileged_user",
        "--exact",
        "--ignored",
        "--nocapture",
    ];
    let mut command = if running_as_root() {
        let probe = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe)
            .arg("--list")
            .output();
        if !probe.is_ok_and(|o| o.status.success()) {
            println!("skipped: running as root, and setpriv cannot run this binary as nobody (65534)");
            return None;
        }
        fs::set_permissions(dir, fs::Permissions::from_mode(0o777)).unwrap();
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&exe);
        command
    } else {
        Command::new(&exe)
    };
    let output = command
        .args(args)
        .env(CHILD_CASE, case)
        .env(CHILD_DIR, dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let outcome = stdout
        .lines()
        .find_map(|l| l.find("OUTCOME=").map(|at| l[at + 8..].to_owned()));
    Some(outcome.unwrap_or_else(|| {
        panic!(
            "the child printed no outcome:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    }))
}

#[test]
fn unreadable_directories_stay_usable_by_their_owner() {
    let work = tempfile::tempdir().unwrap();
    let Some(outcome) = extract_unprivileged("unreadable-directories", work.path()) else {
        return;
    };
    assert!(outcome.starts_with("Ok("), "{outcome}");
    let dest = work.path().join("dest");
    assert_eq!(fs::read(dest.join("locked/inner/file")).unwrap(), b"inside");
    for (path, owner_bits) in [
        ("locked", 0o700),
        ("locked/inner", 0o700),
        ("locked/inner/file", 0o600),
    ] {
        let mode = fs::metadata(dest.join(path)).unwrap().permissions().mode();
        assert_eq!(mode & owner_bits, owner_bits, "{path}: {mode:o}");
    }
}

#[test]
fn setuid_bits_on_empty_files_are_dropped_for_unprivileged_users_too() {
    let work = tempfile::tempdir().unwrap();
    let Some(outcome) = extract_unprivileged("setuid-empty", work.path()) else {
        return;
    };
    assert!(outcome.starts_with("Ok("), "{outcome}");
    for name in ["setuid-empty", "setgid-empty"] {
        let mode = fs::metadata(work.path().join("dest").join(name))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7000, 0, "{name}: {mode:o}");
    }
}
