//! For every builder scenario, the streamed archive (the entry list of
//! `ArtifactContent::store`) is byte-identical to source-watcher's way: materialise into
//! a staging directory, then archive that directory with Flux's default `.sourceignore`
//! filter. And the archive holds exactly what `ArtifactContent::entries` lists.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{fs, io::Read, path::Path};

use artifact_generator::builder::{ArchiveEntry, ArtifactContent};
use flux_artifact::{
    config::Options,
    storage::{ArchiveSource, Artifact, Storage, source_ignore_filter},
};

fn storage(root: &Path) -> Storage {
    let options = Options {
        storage_path: root.to_path_buf(),
        ..Options::default()
    };
    Storage::new(&options).unwrap().with_fsync(false)
}

/// The streamed archive: what the local mode and the controller store.
fn streamed(storage: &Storage, content: &ArtifactContent) -> Artifact {
    content.store(storage, "ns", "streamed").unwrap().into_artifact()
}

/// source-watcher's way: a staging directory, archived with the default filter.
fn staged(storage: &Storage, content: &ArtifactContent) -> Artifact {
    let staging = tempfile::tempdir().unwrap();
    content.materialise(staging.path()).unwrap();
    let source = ArchiveSource::dir_with_filter(staging.path(), source_ignore_filter(Vec::new(), &[]));
    storage
        .archive_content_addressed("ExternalArtifact", &("ns", "staged"), source)
        .unwrap()
        .into_artifact()
}

/// One tar entry: name, directory or not, mode, bytes.
type TarEntry = (String, bool, u32, Vec<u8>);

/// The entries of a stored `.tar.gz`, read with the `tar` crate (the root `.` left
/// out).
fn tar_entries(storage: &Storage, artifact: &Artifact) -> Vec<TarEntry> {
    let file = fs::File::open(storage.local_path(artifact).unwrap()).unwrap();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
        if name == "." {
            continue;
        }
        let is_dir = entry.header().entry_type().is_dir();
        let mode = entry.header().mode().unwrap();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        entries.push((name, is_dir, mode, bytes));
    }
    entries
}

/// What `entries()` says the archive holds, as tar entries.
fn listed(content: &ArtifactContent) -> Vec<TarEntry> {
    content
        .entries()
        .iter()
        .map(|e| match e {
            ArchiveEntry::Directory { path } => (path.to_str().unwrap().to_owned(), true, 0o750, Vec::new()),
            ArchiveEntry::File {
                path,
                content,
                executable,
                size,
            } => {
                let bytes = common::read_content(content);
                assert_eq!(bytes.len() as u64, *size, "{}", path.display());
                let mode = if *executable { 0o700 } else { 0o600 };
                (path.to_str().unwrap().to_owned(), false, mode, bytes)
            }
        })
        .collect()
}

fn stored_bytes(storage: &Storage, artifact: &Artifact) -> Vec<u8> {
    fs::read(storage.local_path(artifact).unwrap()).unwrap()
}

#[test]
fn streamed_archives_are_byte_identical_to_archiving_a_staging_directory() {
    let cases = common::cases::all();
    assert!(cases.len() >= 38);
    for (name, setup) in cases {
        let (sources, artifact) = setup();
        let content = common::build_ok(&artifact, &sources);
        let root = tempfile::tempdir().unwrap();
        let storage = storage(root.path());
        let streamed = streamed(&storage, &content);
        let staged = staged(&storage, &content);
        // The entries first, so that a difference shows where it is.
        assert_eq!(
            tar_entries(&storage, &streamed),
            tar_entries(&storage, &staged),
            "case {name}"
        );
        assert_eq!(streamed.digest, staged.digest, "case {name}");
        assert_eq!(streamed.size, staged.size, "case {name}");
        assert!(
            stored_bytes(&storage, &streamed) == stored_bytes(&storage, &staged),
            "case {name}: the stored files differ"
        );
    }
}

#[test]
fn the_archive_holds_exactly_what_entries_lists() {
    for (name, setup) in common::cases::all() {
        let (sources, artifact) = setup();
        let content = common::build_ok(&artifact, &sources);
        let root = tempfile::tempdir().unwrap();
        let storage = storage(root.path());
        let stored = streamed(&storage, &content);
        assert_eq!(tar_entries(&storage, &stored), listed(&content), "case {name}");
    }
}

#[test]
fn the_comparison_sees_a_difference() {
    // The check above would catch a streamed archive that differs from the staging
    // directory's: here the staging directory gains a file.
    let (sources, artifact) = common::cases::root_directory_copy();
    let content = common::build_ok(&artifact, &sources);
    let root = tempfile::tempdir().unwrap();
    let storage = storage(root.path());
    let staging = tempfile::tempdir().unwrap();
    content.materialise(staging.path()).unwrap();
    fs::write(staging.path().join("subdir/extra.yaml"), "x").unwrap();
    let source = ArchiveSource::dir_with_filter(staging.path(), source_ignore_filter(Vec::new(), &[]));
    let staged = storage
        .archive_content_addressed("ExternalArtifact", &("ns", "staged"), source)
        .unwrap()
        .into_artifact();
    let streamed = streamed(&storage, &content);
    assert_ne!(streamed.digest, staged.digest);
    assert_ne!(tar_entries(&storage, &streamed), tar_entries(&storage, &staged));
}

#[test]
fn the_default_excludes_are_left_out_of_the_archive() {
    let (sources, artifact) = common::cases::default_excludes();
    let content = common::build_ok(&artifact, &sources);
    let root = tempfile::tempdir().unwrap();
    let storage = storage(root.path());
    let stored = streamed(&storage, &content);
    let names: Vec<String> = tar_entries(&storage, &stored).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["app.yaml", "charts", "charts/app-1.0.0.tgz"]);
}

#[test]
fn directories_below_an_excluded_directory_name_are_left_out() {
    let (sources, artifact) = common::cases::excluded_directory_names();
    let content = common::build_ok(&artifact, &sources);
    let root = tempfile::tempdir().unwrap();
    let storage = storage(root.path());
    let stored = streamed(&storage, &content);
    let names: Vec<String> = tar_entries(&storage, &stored).into_iter().map(|e| e.0).collect();
    assert_eq!(names, ["deploy", "deploy/app.yaml", "deploy/nested"]);
}

#[test]
fn executable_bits_reach_the_archive_as_mode_0700() {
    for (case, expected) in [
        (
            common::cases::executable_files as common::cases::Setup,
            &["bin/tool", "scripts/run.sh"][..],
        ),
        (common::cases::merge_into_executable, &["values.yaml"][..]),
    ] {
        let (sources, artifact) = case();
        let content = common::build_ok(&artifact, &sources);
        let root = tempfile::tempdir().unwrap();
        let storage = storage(root.path());
        let stored = streamed(&storage, &content);
        let executables: Vec<String> = tar_entries(&storage, &stored)
            .into_iter()
            .filter(|e| e.2 == 0o700)
            .map(|e| e.0)
            .collect();
        let expected: &[&str] = if cfg!(unix) { expected } else { &[] };
        assert_eq!(executables, expected);
    }
}
