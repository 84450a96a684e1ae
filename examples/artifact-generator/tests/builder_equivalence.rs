//! For every builder scenario, the entry list the archive streams from equals what
//! source-watcher's way gives: materialise into a staging directory, then archive that
//! directory with Flux's default `.sourceignore` filter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;

use artifact_generator::builder::{ArchiveEntry, ArtifactContent};
use flux_artifact::storage::{ArchiveFilter, source_ignore_filter};
use walkdir::WalkDir;

/// One archive entry as the archive writes it: name, directory or not, executable or
/// not, bytes.
type Entry = (String, bool, bool, Vec<u8>);

fn streamed(content: &ArtifactContent) -> Vec<Entry> {
    content
        .entries()
        .iter()
        .map(|e| match e {
            ArchiveEntry::Directory { path } => (path.display().to_string(), true, false, Vec::new()),
            ArchiveEntry::File {
                path,
                content,
                executable,
                size,
            } => {
                let bytes = common::read_content(content);
                assert_eq!(bytes.len() as u64, *size, "{}", path.display());
                (path.display().to_string(), false, *executable, bytes)
            }
        })
        .collect()
}

/// The entries `Storage::archive` writes for `dir` with `filter`: the same walk.
fn archived(dir: &Path) -> Vec<Entry> {
    let filter = source_ignore_filter(Vec::new(), &[]);
    let mut entries = Vec::new();
    for entry in WalkDir::new(dir)
        .min_depth(1)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.unwrap();
        let relative = entry.path().strip_prefix(dir).unwrap();
        let metadata = entry.metadata().unwrap();
        if filter.exclude(relative, &metadata) {
            continue;
        }
        let name = relative.display().to_string();
        if metadata.is_dir() {
            entries.push((name, true, false, Vec::new()));
        } else {
            entries.push((
                name,
                false,
                executable(&metadata),
                std::fs::read(entry.path()).unwrap(),
            ));
        }
    }
    entries
}

#[cfg(unix)]
fn executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o111 != 0
}

#[cfg(not(unix))]
fn executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

#[test]
fn streamed_entries_equal_archiving_a_staging_directory() {
    let cases = common::cases::all();
    assert!(cases.len() >= 35);
    for (name, setup) in cases {
        let (sources, artifact) = setup();
        let content = common::build_ok(&artifact, &sources);
        let staging = tempfile::tempdir().unwrap();
        content.materialise(staging.path()).unwrap();
        assert_eq!(streamed(&content), archived(staging.path()), "case {name}");
    }
}

#[test]
fn the_comparison_sees_a_difference() {
    // The check above would catch a streamed entry list that differs from the staging
    // directory: here the staging directory gains a file.
    let (sources, artifact) = common::cases::root_directory_copy();
    let content = common::build_ok(&artifact, &sources);
    let staging = tempfile::tempdir().unwrap();
    content.materialise(staging.path()).unwrap();
    std::fs::write(staging.path().join("subdir/extra.yaml"), "x").unwrap();
    assert_ne!(streamed(&content), archived(staging.path()));
}

#[test]
fn executable_bits_reach_both_ways() {
    let (sources, artifact) = common::cases::executable_files();
    let content = common::build_ok(&artifact, &sources);
    let executables: Vec<_> = streamed(&content)
        .into_iter()
        .filter(|e| e.2)
        .map(|e| e.0)
        .collect();
    let expected: &[&str] = if cfg!(unix) {
        &["bin/tool", "scripts/run.sh"]
    } else {
        &[]
    };
    assert_eq!(executables, expected);
}
