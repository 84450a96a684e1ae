//! The Extract strategy: source-watcher's extract test cases, and extraction's safety.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use artifact_generator::{
    ErrorKind,
    api::CopyStrategy,
    builder::{ArchiveEntry, ArtifactBuilder},
};
use common::{
    CopyExt, Sources, Tar, artifact, assert_yaml_eq, build_err, build_ok, cases, copy, files, write_tarball,
};

fn extract(from: &str, to: &str) -> artifact_generator::api::CopyOperation {
    copy(from, to).strategy(CopyStrategy::Extract)
}

#[test]
fn extract_unpacks_a_tarball_into_the_destination() {
    let (sources, artifact) = cases::extract_single_archive();
    let files = files(&build_ok(&artifact, &sources));
    assert_yaml_eq(&files["manifests/config.yaml"], cases::CONFIG_DEV);
    assert_yaml_eq(&files["manifests/prod/config.yaml"], cases::CONFIG_PROD);
}

#[test]
fn extract_glob_unpacks_every_matching_tarball() {
    let (sources, artifact) = cases::extract_with_glob();
    let files = files(&build_ok(&artifact, &sources));
    assert_yaml_eq(&files["config.yaml"], cases::CONFIG_DEV);
    assert_yaml_eq(&files["prod/config.yaml"], cases::CONFIG_PROD);
    assert_yaml_eq(&files["int/config.yaml"], cases::CONFIG_INT);
}

#[test]
fn extract_double_star_finds_tarballs_at_any_depth() {
    let (sources, artifact) = cases::extract_recursive_glob();
    let files = files(&build_ok(&artifact, &sources));
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        ["config.yaml", "int/config.yaml", "prod/config.yaml"]
    );
    assert_yaml_eq(&files["int/config.yaml"], cases::CONFIG_INT);
}

#[test]
fn extract_double_star_slash_pattern_is_recursive() {
    let sources = Sources::new(&["source"]);
    cases::manifests_tarball(&sources, "source", "releases/a/b/app.tgz");
    let content = build_ok(
        &artifact(vec![extract("@source/releases/**/*.tgz", "@artifact/")]),
        &sources,
    );
    assert!(files(&content).contains_key("prod/config.yaml"));
}

#[test]
fn invalid_tarball_is_extract_invalid_archive() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "invalid.tgz", "this is not a tarball");
    let err = build_err(
        &artifact(vec![extract("@source/invalid.tgz", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::ExtractInvalidArchive);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/invalid.tgz': '@source/invalid.tgz' is not a valid gzipped tarball"
    );
    assert!(std::error::Error::source(&err).is_some());
}

#[test]
fn truncated_tarball_is_extract_invalid_archive() {
    let sources = Sources::new(&["source"]);
    let mut bytes = common::tarball(&[Tar::File("a.yaml", &"x".repeat(10_000))]);
    bytes.truncate(bytes.len() / 2);
    sources.bytes("source", "cut.tgz", &bytes);
    let err = build_err(
        &artifact(vec![extract("@source/cut.tgz", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::ExtractInvalidArchive);
}

#[test]
fn extract_creates_a_nested_destination() {
    let (sources, artifact) = cases::extract_to_subdirectory();
    let files = files(&build_ok(&artifact, &sources));
    assert!(files.contains_key("extracted/configs/config.yaml"));
    assert!(files.contains_key("extracted/configs/prod/config.yaml"));
}

#[test]
fn extract_takes_tar_gz_files() {
    let (sources, artifact) = cases::extract_tar_gz();
    let files = files(&build_ok(&artifact, &sources));
    assert!(files.contains_key("config.yaml"));
    assert!(files.contains_key("prod/config.yaml"));
}

#[test]
fn extract_skips_excluded_tarballs() {
    let (sources, artifact) = cases::extract_with_exclude();
    let files = files(&build_ok(&artifact, &sources));
    assert!(files.contains_key("config.yaml"));
    assert!(!files.contains_key("int/config.yaml"));
}

#[test]
fn extract_glob_without_matches_is_no_glob_match() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config.yaml", "key: value");
    let err = build_err(&artifact(vec![extract("@source/*.tgz", "@artifact/")]), &sources);
    assert_eq!(err.kind(), ErrorKind::NoGlobMatch);
}

#[test]
fn later_extract_overwrites_an_earlier_one() {
    let (sources, artifact) = cases::extract_overwrites_extract();
    let files = files(&build_ok(&artifact, &sources));
    assert!(files["config.yaml"].contains("name: second-app"));
    assert!(!files["config.yaml"].contains("first"));
}

#[test]
fn extract_glob_skips_files_that_are_not_tarballs() {
    let (sources, artifact) = cases::extract_skips_non_tarballs();
    let files = files(&build_ok(&artifact, &sources));
    assert!(files.contains_key("config.yaml"));
    assert!(files.contains_key("prod/config.yaml"));
    assert!(!files.contains_key("readme.txt"));
}

#[test]
fn extract_of_a_directory_is_extract_directory() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "manifests/config.yaml", "key: value");
    let err = build_err(
        &artifact(vec![extract("@source/manifests", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::ExtractDirectory);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/manifests': '@source/manifests' is a directory; Extract takes .tar.gz or .tgz files"
    );
}

#[test]
fn extract_of_a_file_without_a_tarball_extension_is_extract_not_tarball() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config.yaml", "key: value");
    let err = build_err(
        &artifact(vec![extract("@source/config.yaml", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::ExtractNotTarball);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/config.yaml': '@source/config.yaml' is not a .tar.gz or .tgz file"
    );
}

#[test]
fn tarball_extensions_are_case_insensitive() {
    let sources = Sources::new(&["source"]);
    cases::manifests_tarball(&sources, "source", "APP.TGZ");
    let content = build_ok(
        &artifact(vec![extract("@source/APP.TGZ", "@artifact/")]),
        &sources,
    );
    assert!(files(&content).contains_key("config.yaml"));
}

#[test]
fn extracted_files_keep_their_executable_bit() {
    let sources = Sources::new(&["source"]);
    write_tarball(
        &sources,
        "source",
        "t.tgz",
        &[Tar::Exec("bin/run", "#!/bin/sh\n"), Tar::File("README", "r")],
    );
    let content = build_ok(&artifact(vec![extract("@source/t.tgz", "@artifact/")]), &sources);
    let executable: Vec<_> = content
        .entries()
        .iter()
        .filter_map(|e| match e {
            ArchiveEntry::File { path, executable, .. } => {
                Some((path.to_str().unwrap().to_owned(), *executable))
            }
            ArchiveEntry::Directory { .. } => None,
        })
        .collect();
    assert_eq!(
        executable,
        [("README".to_owned(), false), ("bin/run".to_owned(), cfg!(unix))]
    );
}

#[test]
fn extracted_empty_directories_are_kept() {
    let sources = Sources::new(&["source"]);
    write_tarball(&sources, "source", "t.tgz", &[Tar::Dir("empty/")]);
    let content = build_ok(
        &artifact(vec![extract("@source/t.tgz", "@artifact/x/")]),
        &sources,
    );
    assert_eq!(common::paths(&content), ["x/", "x/empty/"]);
}

// Safety: nothing a tarball holds can write outside the build's scratch directory.

#[test]
fn entry_with_dot_dot_is_extract_unsafe_entry() {
    let sources = Sources::new(&["source"]);
    write_tarball(
        &sources,
        "source",
        "evil.tgz",
        &[Tar::RawName(b"../../evil.yaml", "pwned")],
    );
    let err = build_err(
        &artifact(vec![extract("@source/evil.tgz", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::ExtractUnsafeEntry);
    assert!(!sources.dir.path().join("evil.yaml").exists());
    let cause = std::error::Error::source(&err).unwrap().to_string();
    assert!(cause.contains("../../evil.yaml"), "{cause}");
}

#[test]
fn absolute_entry_is_extract_unsafe_entry() {
    let sources = Sources::new(&["source"]);
    let target = sources.dir.path().join("abs.yaml");
    let name = target.to_str().unwrap().as_bytes().to_vec();
    write_tarball(&sources, "source", "evil.tgz", &[Tar::RawName(&name, "pwned")]);
    let err = build_err(
        &artifact(vec![extract("@source/evil.tgz", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::ExtractUnsafeEntry);
    assert!(!target.exists());
}

#[test]
fn symlink_entry_is_extract_unsafe_entry() {
    let sources = Sources::new(&["source"]);
    write_tarball(
        &sources,
        "source",
        "link.tgz",
        &[Tar::Symlink("passwd", "/etc/passwd")],
    );
    let err = build_err(
        &artifact(vec![extract("@source/link.tgz", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::ExtractUnsafeEntry);
}

#[test]
fn extract_to_dot_dot_is_path_escape() {
    let sources = Sources::new(&["source"]);
    cases::manifests_tarball(&sources, "source", "app.tgz");
    let err = build_err(
        &artifact(vec![extract("@source/app.tgz", "@artifact/../outside")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::PathEscape);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].to '@artifact/../outside': '..' is not allowed: a destination stays inside the artifact"
    );
}

#[test]
fn extraction_over_the_size_limit_is_size_limit() {
    let sources = Sources::new(&["source"]);
    write_tarball(
        &sources,
        "source",
        "big.tgz",
        &[Tar::File("big", &"x".repeat(4096))],
    );
    let artifact = artifact(vec![extract("@source/big.tgz", "@artifact/")]);
    let err = ArtifactBuilder::new(&artifact, &sources.roots)
        .max_extract_size(Some(1024))
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SizeLimit);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/big.tgz': extracting '@source/big.tgz' exceeds the limit of 1024 bytes"
    );
}

#[test]
fn size_limit_counts_all_extractions_of_an_artifact() {
    let sources = Sources::new(&["source"]);
    write_tarball(&sources, "source", "a.tgz", &[Tar::File("a", &"x".repeat(600))]);
    write_tarball(&sources, "source", "b.tgz", &[Tar::File("b", &"x".repeat(600))]);
    let artifact = artifact(vec![extract("@source/*.tgz", "@artifact/")]);
    let build = |limit| {
        ArtifactBuilder::new(&artifact, &sources.roots)
            .max_extract_size(Some(limit))
            .build()
    };
    assert!(build(1200).is_ok());
    assert_eq!(build(1000).unwrap_err().kind(), ErrorKind::SizeLimit);
}

#[test]
fn extracted_file_where_a_directory_is_is_copy_conflict() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config.yaml/nested", "x");
    cases::manifests_tarball(&sources, "source", "app.tgz");
    let ops = vec![
        copy("@source/config.yaml", "@artifact/"),
        extract("@source/app.tgz", "@artifact/"),
    ];
    let err = build_err(&artifact(ops), &sources);
    assert_eq!(err.kind(), ErrorKind::CopyConflict);
}

#[test]
fn the_scratch_directory_goes_with_the_content() {
    let (sources, artifact) = cases::extract_single_archive();
    let content = build_ok(&artifact, &sources);
    let scratch = content.scratch_dir().to_path_buf();
    assert!(scratch.is_dir());
    drop(content);
    assert!(!scratch.exists());
}

#[test]
fn failed_builds_leave_no_scratch_directory() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "invalid.tgz", "this is not a tarball");
    let scratch_parent = tempfile::tempdir().unwrap();
    let artifact = artifact(vec![extract("@source/invalid.tgz", "@artifact/")]);
    ArtifactBuilder::new(&artifact, &sources.roots)
        .scratch_dir(scratch_parent.path())
        .build()
        .unwrap_err();
    assert_eq!(std::fs::read_dir(scratch_parent.path()).unwrap().count(), 0);
}
