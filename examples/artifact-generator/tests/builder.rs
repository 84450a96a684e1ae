//! The builder's copy semantics: source-watcher's builder test cases (copy and exclude),
//! its errors, and the points where source-watcher's code (which we follow) differs from
//! its docs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use artifact_generator::{ErrorKind, api::CopyStrategy, builder::ArtifactBuilder};
use common::{
    CopyExt, Sources, artifact, assert_files, build_err, build_ok, cases, copy, dirs, files, paths,
};

#[test]
fn single_file_copies_into_the_root() {
    let (sources, artifact) = cases::single_file_copy();
    assert_files(
        &build_ok(&artifact, &sources),
        &[("config.yaml", "apiVersion: v1\nkind: ConfigMap")],
    );
}

#[test]
fn multiple_operations_copy_from_several_sources() {
    let (sources, artifact) = cases::multiple_copy_operations();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("config/config.json", r#"{"version": "1.0"}"#),
            ("manifests/app.yaml", "apiVersion: apps/v1"),
        ],
    );
}

#[test]
fn glob_copies_every_match_into_the_destination() {
    let (sources, artifact) = cases::glob_pattern();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("manifests/configmap.yaml", "apiVersion: v1"),
            ("manifests/deployment.yaml", "apiVersion: v1"),
            ("manifests/service.yaml", "apiVersion: v1"),
        ],
    );
}

#[test]
fn source_root_copies_its_contents() {
    let (sources, artifact) = cases::root_directory_copy();
    let content = build_ok(&artifact, &sources);
    assert_files(
        &content,
        &[
            ("root.yaml", "root: content"),
            ("subdir/nested.yaml", "nested: content"),
        ],
    );
    assert_eq!(paths(&content), ["root.yaml", "subdir/", "subdir/nested.yaml"]);
}

#[test]
fn double_star_at_the_root_copies_everything() {
    let (sources, artifact) = cases::recursive_directory_copy();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("root.yaml", "root: content"),
            ("subdir/nested.yaml", "nested: content"),
        ],
    );
}

#[test]
fn later_operations_overwrite_files_and_keep_the_rest() {
    let (sources, artifact) = cases::later_copies_overwrite();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("config/app.yaml", "source2: app"),
            ("config/database.yaml", "source1: db"),
            ("config/network.yaml", "source2: net"),
        ],
    );
}

#[test]
fn directory_without_trailing_slash_lands_under_its_name() {
    let (sources, artifact) = cases::directory_without_trailing_slash();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("dest/config/app.yaml", "app: config"),
            ("dest/config/db.yaml", "db: config"),
        ],
    );
}

#[test]
fn directory_with_trailing_slash_lands_under_its_name() {
    let (sources, artifact) = cases::directory_with_trailing_slash();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("dest/config/app.yaml", "app: config"),
            ("dest/config/db.yaml", "db: config"),
        ],
    );
}

#[test]
fn file_to_a_trailing_slash_keeps_its_name() {
    let (sources, artifact) = cases::file_into_directory();
    assert_files(&build_ok(&artifact, &sources), &[("dest/config.yaml", "a: test")]);
}

#[test]
fn dir_double_star_strips_the_directory_prefix() {
    let (sources, artifact) = cases::double_star_strips_prefix();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("dest/app.yaml", "app: config"),
            ("dest/subdir/db.yaml", "db: config"),
        ],
    );
}

#[test]
fn file_to_a_file_path_renames_it() {
    let (sources, artifact) = cases::file_to_file();
    let content = build_ok(&artifact, &sources);
    let files = files(&content);
    assert_eq!(files["Chart.yaml"], "name: podinfo");
    assert_eq!(files["podinfo/values.yaml"], "env: production");
}

#[test]
fn file_to_an_existing_directory_goes_into_it() {
    let (sources, artifact) = cases::file_into_existing_directory();
    assert_files(
        &build_ok(&artifact, &sources),
        &[("subdir/file1.txt", "content1"), ("subdir/file2.txt", "content2")],
    );
}

// Errors (source-watcher's TestBuildErrors).

#[test]
fn missing_source_file_is_source_not_found() {
    let sources = Sources::new(&["source"]);
    let err = build_err(&artifact(vec![copy("@source/test.yaml", "@artifact/")]), &sources);
    assert_eq!(err.kind(), ErrorKind::SourceNotFound);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/test.yaml': 'test.yaml' does not exist in source 'source'"
    );
}

#[test]
fn glob_without_matches_is_no_glob_match() {
    let sources = Sources::new(&["source"]);
    let err = build_err(&artifact(vec![copy("@source/*.yaml", "@artifact/")]), &sources);
    assert_eq!(err.kind(), ErrorKind::NoGlobMatch);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/*.yaml': no files match '*.yaml' in source 'source'"
    );
}

#[test]
fn malformed_glob_is_invalid_glob() {
    let sources = Sources::new(&["source"]);
    let err = build_err(&artifact(vec![copy("@source/[", "@artifact/")]), &sources);
    assert_eq!(err.kind(), ErrorKind::InvalidGlob);
    assert!(
        err.to_string()
            .starts_with("spec.artifacts[0].copy[0].from '@source/[': invalid glob pattern")
    );
}

#[test]
fn undeclared_alias_is_unknown_alias() {
    let sources = Sources::new(&["source"]);
    let err = build_err(
        &artifact(vec![copy("@missing/file.yaml", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::UnknownAlias);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@missing/file.yaml': no source has the alias 'missing'"
    );
}

#[test]
fn scratch_directory_that_cannot_be_created_is_io() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "file.yaml", "a: b");
    let artifact = artifact(vec![copy("@source/file.yaml", "@artifact/")]);
    let missing = sources.dir.path().join("missing/parent");
    let err = ArtifactBuilder::new(&artifact, &sources.roots)
        .scratch_dir(&missing)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
}

#[test]
fn errors_name_the_operation_the_caller_places_them_in() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "a.yaml", "a: 1");
    let artifact = artifact(vec![
        copy("@source/a.yaml", "@artifact/"),
        copy("@source/b.yaml", "@artifact/"),
    ]);
    let err = ArtifactBuilder::new(&artifact, &sources.roots)
        .field_path("spec.artifacts[3]")
        .build()
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("spec.artifacts[3].copy[1].from '@source/b.yaml'"),
        "{err}"
    );
}

#[test]
fn spec_errors_come_before_source_errors() {
    let sources = Sources::new(&["source"]);
    let artifact = artifact(vec![
        copy("@source/missing.yaml", "@artifact/"),
        copy("@source/x", "artifact/"),
    ]);
    assert_eq!(build_err(&artifact, &sources).kind(), ErrorKind::InvalidTo);
}

#[test]
fn from_without_at_is_invalid_from() {
    let sources = Sources::new(&["source"]);
    let err = build_err(&artifact(vec![copy("source/a.yaml", "@artifact/")]), &sources);
    assert_eq!(err.kind(), ErrorKind::InvalidFrom);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from 'source/a.yaml': must start with '@' and have the form '@alias/path'"
    );
}

#[test]
fn to_outside_at_artifact_is_invalid_to() {
    let sources = Sources::new(&["source"]);
    let err = build_err(&artifact(vec![copy("@source/a.yaml", "@output/")]), &sources);
    assert_eq!(err.kind(), ErrorKind::InvalidTo);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].to '@output/': must start with '@artifact/'"
    );
}

#[test]
fn file_where_a_directory_must_go_is_copy_conflict() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "a", "file");
    sources.file("source", "dir/a/b.yaml", "b: 1");
    let ops = vec![
        copy("@source/a", "@artifact/"),
        copy("@source/dir/**", "@artifact/"),
    ];
    let err = build_err(&artifact(ops), &sources);
    assert_eq!(err.kind(), ErrorKind::CopyConflict);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[1].to '@artifact/': cannot write 'a' into the artifact: 'a' is a file, and a directory must go there"
    );
}

#[test]
fn directory_where_a_file_must_go_is_copy_conflict() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "dir/a/b.yaml", "b: 1");
    sources.file("source", "other/a", "file");
    let ops = vec![
        copy("@source/dir/**", "@artifact/"),
        copy("@source/other/**", "@artifact/"),
    ];
    let err = build_err(&artifact(ops), &sources);
    assert_eq!(err.kind(), ErrorKind::CopyConflict);
    assert!(
        err.to_string()
            .ends_with("'a' is a directory, and a file must go there"),
        "{err}"
    );
}

// Excludes (source-watcher's TestBuildWithExcludes).

#[test]
fn exclude_leaves_out_a_file_extension() {
    let (sources, artifact) = cases::exclude_extension();
    assert_files(
        &build_ok(&artifact, &sources),
        &[("app.yaml", "yaml content"), ("config.json", "json content")],
    );
}

#[test]
fn exclude_leaves_out_a_directory_at_any_depth() {
    let (sources, artifact) = cases::exclude_directory_recursively();
    let content = build_ok(&artifact, &sources);
    assert_files(
        &content,
        &[
            ("app.yaml", "main app config"),
            ("configs/prod.yaml", "prod config"),
        ],
    );
    assert!(!dirs(&content).contains("testdata"));
}

#[test]
fn several_excludes_apply_together_and_keep_emptied_directories() {
    let (sources, artifact) = cases::multiple_excludes();
    let content = build_ok(&artifact, &sources);
    assert_files(&content, &[("app.yaml", "app config")]);
    assert_eq!(dirs(&content).into_iter().collect::<Vec<_>>(), ["docs"]);
}

#[test]
fn exclude_filters_glob_matches() {
    let (sources, artifact) = cases::exclude_with_glob();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("configs/app.yaml", "app config"),
            ("configs/config.yaml", "config"),
        ],
    );
}

#[test]
fn excluded_single_file_is_skipped_silently() {
    let (sources, artifact) = cases::exclude_single_file();
    assert!(build_ok(&artifact, &sources).entries().is_empty());
}

#[test]
fn exclude_matches_a_nested_directory_by_its_path_from_the_source_root() {
    let (sources, artifact) = cases::exclude_nested_directory_by_full_path();
    let content = build_ok(&artifact, &sources);
    assert_files(
        &content,
        &[
            ("configs/cluster-issuer.yaml", "cluster issuer"),
            (
                "controllers/sealed-secrets/release.yaml",
                "sealed-secrets release",
            ),
        ],
    );
    assert!(!dirs(&content).contains("controllers/descheduler"));
}

#[test]
fn exclude_matches_from_the_source_root_in_a_directory_copy() {
    let (sources, artifact) = cases::exclude_from_directory_copy_by_root_path();
    let content = build_ok(&artifact, &sources);
    assert_files(
        &content,
        &[
            ("infrastructure/configs/cluster-issuer.yaml", "cluster issuer"),
            (
                "infrastructure/controllers/sealed-secrets/release.yaml",
                "sealed-secrets release",
            ),
        ],
    );
    assert!(!dirs(&content).contains("infrastructure/controllers/descheduler"));
}

#[test]
fn exclude_matches_from_the_non_glob_prefix_of_from() {
    let (sources, artifact) = cases::exclude_by_selected_root_path();
    let content = build_ok(&artifact, &sources);
    assert_files(
        &content,
        &[
            ("configs/cluster-issuer.yaml", "cluster issuer"),
            (
                "controllers/sealed-secrets/release.yaml",
                "sealed-secrets release",
            ),
        ],
    );
}

#[test]
fn exclude_is_not_anchored_at_each_copied_directory() {
    let (sources, artifact) = cases::exclude_not_anchored_at_walk_root();
    assert_files(
        &build_ok(&artifact, &sources),
        &[
            ("controllers/descheduler/release.yaml", "nested descheduler"),
            (
                "controllers/sealed-secrets/release.yaml",
                "sealed-secrets release",
            ),
        ],
    );
}

#[test]
fn exclude_matches_from_the_copied_directory_in_a_directory_copy() {
    let (sources, artifact) = cases::exclude_from_directory_copy_by_subtree_path();
    let content = build_ok(&artifact, &sources);
    assert_eq!(
        files(&content).into_keys().collect::<Vec<_>>(),
        [
            "infrastructure/configs/cluster-issuer.yaml",
            "infrastructure/controllers/sealed-secrets/release.yaml"
        ]
    );
}

#[test]
fn exclude_leaves_out_one_nested_file_by_its_full_path() {
    let (sources, artifact) = cases::exclude_nested_file_by_full_path();
    assert_files(
        &build_ok(&artifact, &sources),
        &[("configs/app.yaml", "app config")],
    );
}

#[test]
fn glob_whose_matches_are_all_excluded_is_all_excluded() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "test.md", "test file");
    sources.file("source", "other.md", "other file");
    let err = build_err(
        &artifact(vec![copy("@source/*.md", "@artifact/").exclude(&["*.md"])]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::AllExcluded);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/*.md': every match of '*.md' in source 'source' is excluded"
    );
}

#[test]
fn malformed_exclude_is_invalid_exclude() {
    let sources = Sources::new(&["source"]);
    let err = build_err(
        &artifact(vec![copy("@source/*.md", "@artifact/").exclude(&["[*.md"])]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::InvalidExclude);
    assert!(
        err.to_string()
            .starts_with("spec.artifacts[0].copy[0].exclude[0] '[*.md': invalid exclude pattern"),
        "{err}"
    );
}

// Where source-watcher's code and its docs disagree, the code wins.

#[test]
fn glob_match_keeps_its_path_under_the_destination() {
    // The docs say `configs/*.yaml` to `apps/` gives `apps/file1.yaml`; the code keeps
    // the matched path.
    let sources = Sources::new(&["source"]);
    sources.file("source", "configs/file1.yaml", "a: 1");
    let content = build_ok(
        &artifact(vec![copy("@source/configs/*.yaml", "@artifact/apps/")]),
        &sources,
    );
    assert_files(&content, &[("apps/configs/file1.yaml", "a: 1")]);
}

#[test]
fn double_star_in_a_non_extract_glob_is_one_level() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "top.yaml", "t: 1");
    sources.file("source", "a/one.yaml", "o: 1");
    sources.file("source", "a/b/two.yaml", "t: 2");
    let content = build_ok(&artifact(vec![copy("@source/**/*.yaml", "@artifact/")]), &sources);
    assert_files(&content, &[("a/one.yaml", "o: 1")]);
}

#[test]
fn directory_copy_nests_even_when_the_destination_does_not_exist() {
    // `cp -r config dest` would copy the contents when `dest` is missing; the builder
    // always makes `dest/config`.
    let (sources, artifact) = cases::directory_without_trailing_slash();
    assert!(dirs(&build_ok(&artifact, &sources)).contains("dest/config"));
}

#[test]
fn merge_applies_only_to_files_named_or_matched_by_from() {
    // A matched directory is copied with its files overwriting, whatever the strategy.
    let sources = Sources::new(&["base", "overlay"]);
    sources.file("base", "values/a.yaml", "x: 1\ny2: 1\n");
    sources.file("overlay", "values/a.yaml", "x: 2\n");
    let ops = vec![
        copy("@base/**", "@artifact/"),
        copy("@overlay/**", "@artifact/").strategy(CopyStrategy::Merge),
    ];
    assert_files(
        &build_ok(&artifact(ops), &sources),
        &[("values/a.yaml", "x: 2\n")],
    );
}

#[test]
fn hidden_files_match_a_star() {
    let sources = Sources::new(&["source"]);
    sources.file("source", ".env.yaml", "a: 1");
    let content = build_ok(&artifact(vec![copy("@source/*.yaml", "@artifact/")]), &sources);
    assert_files(&content, &[(".env.yaml", "a: 1")]);
}

#[test]
fn default_sourceignore_rules_leave_files_out_of_the_archive() {
    let (sources, artifact) = cases::default_excludes();
    let content = build_ok(&artifact, &sources);
    assert_eq!(paths(&content), ["app.yaml", "charts/", "charts/app-1.0.0.tgz"]);
}

#[test]
fn materialise_writes_what_the_operations_produced() {
    let (sources, artifact) = cases::default_excludes();
    let content = build_ok(&artifact, &sources);
    let staging = tempfile::tempdir().unwrap();
    content.materialise(staging.path()).unwrap();
    for path in [
        "app.yaml",
        ".github/workflows/ci.yml",
        "charts/app-1.0.0.tar.gz",
        "bundle.zip",
    ] {
        assert!(staging.path().join(path).is_file(), "{path}");
    }
}

#[test]
fn materialise_refuses_a_directory_that_is_not_empty() {
    let (sources, artifact) = cases::single_file_copy();
    let content = build_ok(&artifact, &sources);
    let staging = tempfile::tempdir().unwrap();
    std::fs::write(staging.path().join("x"), "").unwrap();
    assert_eq!(
        content.materialise(staging.path()).unwrap_err().kind(),
        ErrorKind::Io
    );
}

#[test]
fn file_count_and_content_size_describe_the_archive() {
    let (sources, artifact) = cases::root_directory_copy();
    let content = build_ok(&artifact, &sources);
    assert_eq!(content.file_count(), 2);
    assert_eq!(
        content.content_size(),
        ("root: content".len() + "nested: content".len()) as u64
    );
}

#[test]
fn empty_copy_list_builds_an_empty_artifact() {
    let sources = Sources::new(&["source"]);
    assert!(build_ok(&artifact(Vec::new()), &sources).entries().is_empty());
}
