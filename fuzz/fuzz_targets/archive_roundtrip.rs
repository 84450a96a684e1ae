//! `Storage::archive` of an arbitrary small tree (nested directories, empty and
//! executable files, long, non-ASCII and non-UTF-8 names, symlinks and FIFOs that must
//! be skipped) round-trips exactly through `untar`: the same directories, the same
//! files with the same bytes, normalised modes, nothing else. A tree with a name no
//! consumer extracts (a backslash) is refused instead, naming it.
//!
//! The archive is also read with the `tar` crate, an independent reader, so that one
//! bug shared by the writer and `untar` cannot hide: entries are the root `.` then the
//! tree depth-first in byte order of names, with uid/gid 0, no owner names, mtime 0
//! and the documented modes. Archiving the same tree twice gives the same bytes, and
//! the artifact verifies against its digest.
#![no_main]

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    fs,
    io::Read,
    os::unix::{ffi::OsStrExt, fs::PermissionsExt},
    path::{Path, PathBuf},
};

use arbitrary::Arbitrary;
use flux_artifact_config::Options;
use flux_artifact_fuzz::{Node, snapshot, umask};
use flux_artifact_storage::{Error, Storage, UntarOptions, untar};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Part {
    A,
    B,
    Upper,
    Unicode,
    Spaced,
    Dotted,
    Long(u8),
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Kind {
    Dir,
    File(Vec<u8>),
    Exec(Vec<u8>),
    Symlink(String),
    Fifo,
}

#[derive(Arbitrary, Debug)]
struct Spec {
    path: Vec<Part>,
    kind: Kind,
}

impl Part {
    fn name(&self) -> Option<Vec<u8>> {
        let name = match self {
            Part::A => b"a".to_vec(),
            Part::B => b"b-b".to_vec(),
            Part::Upper => b"A".to_vec(),
            Part::Unicode => "ünï😀".as_bytes().to_vec(),
            Part::Spaced => b"with space".to_vec(),
            Part::Dotted => b".hidden.tar.gz".to_vec(),
            Part::Long(n) => vec![b'L'; usize::from((*n).max(1))],
            Part::Raw(raw) => raw
                .iter()
                .copied()
                .filter(|&b| b != b'/' && b != 0)
                .take(64)
                .collect(),
        };
        (!name.is_empty() && name != b"." && name != b"..").then_some(name)
    }
}

fn build(src: &Path, specs: &[Spec]) {
    for spec in specs.iter().take(16) {
        let Some(parts) = spec
            .path
            .iter()
            .take(4)
            .map(Part::name)
            .collect::<Option<Vec<_>>>()
        else {
            continue;
        };
        if parts.is_empty() {
            continue;
        }
        let path = parts
            .iter()
            .fold(src.to_path_buf(), |p, n| p.join(OsStr::from_bytes(n)));
        if fs::create_dir_all(path.parent().unwrap()).is_err() || fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        let _ = match &spec.kind {
            Kind::Dir => fs::create_dir(&path),
            Kind::File(data) => fs::write(&path, &data[..data.len().min(4096)]),
            Kind::Exec(data) => fs::write(&path, &data[..data.len().min(4096)])
                .and_then(|()| fs::set_permissions(&path, fs::Permissions::from_mode(0o751))),
            Kind::Symlink(target) if !target.is_empty() && !target.contains('\0') => {
                std::os::unix::fs::symlink(target, &path)
            }
            Kind::Symlink(_) => Ok(()),
            Kind::Fifo => rustix::fs::mknodat(
                rustix::fs::CWD,
                &path,
                rustix::fs::FileType::Fifo,
                rustix::fs::Mode::from_raw_mode(0o644),
                0,
            )
            .map_err(Into::into),
        };
    }
}

/// The names an archive of `dir` must list, in order: depth-first, siblings in byte
/// order, directories and regular files only.
fn expected_order(dir: &Path, relative: &Path, out: &mut Vec<Vec<u8>>) {
    let mut children: Vec<_> = fs::read_dir(dir.join(relative))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    children.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in children {
        let rel = relative.join(&name);
        let kind = fs::symlink_metadata(dir.join(&rel)).unwrap().file_type();
        if kind.is_dir() {
            out.push(rel.as_os_str().as_bytes().to_vec());
            expected_order(dir, &rel, out);
        } else if kind.is_file() {
            out.push(rel.as_os_str().as_bytes().to_vec());
        }
    }
}

fuzz_target!(|specs: Vec<Spec>| {
    let top = flux_artifact_fuzz::tempdir();
    let (src, store, out) = (
        top.path().join("src"),
        top.path().join("store"),
        top.path().join("out"),
    );
    fs::create_dir(&src).unwrap();
    fs::create_dir(&store).unwrap();
    build(&src, &specs);

    // The tree as it must come back: directories and regular files, normalised modes.
    let umask = umask();
    let expected: BTreeMap<PathBuf, Node> = snapshot(&src)
        .into_iter()
        .filter_map(|(path, node)| match node {
            Node::Dir { .. } => Some((path, Node::Dir { mode: 0o750 & !umask })),
            Node::File { content, mode } => {
                let mode = if mode & 0o111 != 0 { 0o700 } else { 0o600 };
                Some((path, Node::File { content, mode }))
            }
            Node::Symlink { .. } | Node::Other { .. } => None,
        })
        .collect();

    let storage = Storage::new(&Options {
        storage_path: store.clone(),
        ..Options::default()
    })
    .unwrap()
    .with_fsync(false);
    let mut artifact = storage
        .new_artifact_for("Fuzz", &("ns", "tree"), "rev", "a.tar.gz")
        .unwrap();
    // A name with a backslash is refused, naming a file: Flux's untar (and ours) would
    // refuse the whole artifact (crates/storage/tests/archive_extractable.rs).
    let unextractable = expected
        .keys()
        .any(|path| path.as_os_str().as_bytes().contains(&b'\\'));
    match storage.archive(&mut artifact, &src, None) {
        Err(Error::UnextractableName { path, .. }) if unextractable => {
            assert!(path.starts_with(&src), "{path:?}");
            assert!(path.as_os_str().as_bytes().contains(&b'\\'), "{path:?}");
            return;
        }
        result => {
            assert!(!unextractable, "archived a name with a backslash: {result:?}");
            result.unwrap();
        }
    }
    storage.verify_artifact(&artifact).unwrap();
    let archive_path = storage.local_path(&artifact).unwrap();
    let bytes = fs::read(&archive_path).unwrap();
    assert_eq!(artifact.size, Some(bytes.len() as i64));

    // Reproducible: the same tree gives the same bytes.
    let mut again = storage
        .new_artifact_for("Fuzz", &("ns", "tree"), "rev", "b.tar.gz")
        .unwrap();
    storage.archive(&mut again, &src, None).unwrap();
    assert_eq!(again.digest, artifact.digest);
    assert_eq!(fs::read(storage.local_path(&again).unwrap()).unwrap(), bytes);

    // Round trip through untar.
    let summary = untar(bytes.as_slice(), &out, &UntarOptions::default()).unwrap();
    let extracted = snapshot(&out);
    assert_eq!(extracted, expected, "the tree did not round-trip");
    let files = expected
        .values()
        .filter(|n| matches!(n, Node::File { .. }))
        .count() as u64;
    assert_eq!(summary.files, files);
    assert_eq!(
        summary.directories,
        expected.len() as u64 - files + 1,
        "directories and the root"
    );

    // Independent reader. The `tar` crate splits PAX records at newlines instead of
    // reading their length, so it cannot read a name with a newline (our reader and
    // Go's can): such trees are left to the round trip above.
    let mut order = vec![b".".to_vec()];
    expected_order(&src, Path::new(""), &mut order);
    if order.iter().any(|name| name.contains(&b'\n')) {
        return;
    }
    let mut decoder = flate2::read::GzDecoder::new(bytes.as_slice());
    let mut tar_stream = Vec::new();
    decoder.read_to_end(&mut tar_stream).unwrap();
    let mut reader = tar::Archive::new(tar_stream.as_slice());
    let mut names = Vec::new();
    for entry in reader.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path_bytes().into_owned();
        let header = entry.header();
        assert_eq!(header.uid().unwrap(), 0);
        assert_eq!(header.gid().unwrap(), 0);
        assert_eq!(header.mtime().unwrap(), 0);
        assert!(header.username_bytes().is_none_or(<[u8]>::is_empty));
        assert!(header.groupname_bytes().is_none_or(<[u8]>::is_empty));
        let mode = header.mode().unwrap();
        let kind = header.entry_type();
        let relative = PathBuf::from(OsStr::from_bytes(&name));
        if name == b"." {
            assert!(kind.is_dir());
            assert_eq!(mode, 0o750);
        } else if kind.is_dir() {
            assert_eq!(mode, 0o750);
            assert!(
                matches!(expected.get(&relative), Some(Node::Dir { .. })),
                "{relative:?}"
            );
        } else {
            assert!(kind.is_file(), "{relative:?} is {kind:?}");
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            match expected.get(&relative) {
                Some(Node::File {
                    content: want,
                    mode: want_mode,
                }) => {
                    assert_eq!(&content, want, "{relative:?}");
                    assert_eq!(mode, *want_mode, "{relative:?}");
                }
                other => panic!("{relative:?} archived as a file, source has {other:?}"),
            }
        }
        names.push(name);
    }
    assert_eq!(names, order, "entry order");
});
