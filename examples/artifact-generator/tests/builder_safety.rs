//! What the builder refuses or skips so that it never reads outside a source tree nor
//! writes outside the artifact, and cancellation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::Cell;

use artifact_generator::{Error, ErrorKind, builder::ArtifactBuilder};
use common::{Sources, artifact, assert_files, build_err, build_ok, copy, paths};

#[test]
fn dot_dot_in_from_is_path_escape() {
    let sources = Sources::new(&["source", "other"]);
    sources.file("other", "secret.yaml", "s: 1");
    let err = build_err(
        &artifact(vec![copy("@source/../other/secret.yaml", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::PathEscape);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[0].from '@source/../other/secret.yaml': '..' is not allowed: a source path stays inside its source"
    );
}

#[test]
fn dot_dot_in_a_glob_is_path_escape() {
    let sources = Sources::new(&["source"]);
    let err = build_err(&artifact(vec![copy("@source/../*", "@artifact/")]), &sources);
    assert_eq!(err.kind(), ErrorKind::PathEscape);
}

#[test]
fn dot_dot_in_to_is_path_escape() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "a.yaml", "a: 1");
    let err = build_err(
        &artifact(vec![copy("@source/a.yaml", "@artifact/x/../../a.yaml")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::PathEscape);
}

#[test]
fn a_leading_slash_stays_inside_the_source() {
    let sources = Sources::new(&["source"]);
    let err = build_err(
        &artifact(vec![copy("@source//etc/hostname", "@artifact/")]),
        &sources,
    );
    assert_eq!(err.kind(), ErrorKind::SourceNotFound);
    assert!(
        err.to_string()
            .contains("'etc/hostname' does not exist in source 'source'"),
        "{err}"
    );
}

#[cfg(unix)]
mod symlinks {
    use std::os::unix::fs::symlink;

    use super::*;

    fn with_links() -> Sources {
        let sources = Sources::new(&["source", "outside"]);
        sources.file("outside", "secret.yaml", "secret: 1");
        sources.file("source", "app/app.yaml", "app: 1");
        let root = sources.root("source");
        symlink(
            sources.root("outside").join("secret.yaml"),
            root.join("app/secret.yaml"),
        )
        .unwrap();
        symlink(sources.root("outside"), root.join("app/linked")).unwrap();
        symlink("app.yaml", root.join("app/inside.yaml")).unwrap();
        sources
    }

    #[test]
    fn directory_copies_skip_symlinks() {
        let sources = with_links();
        let content = build_ok(&artifact(vec![copy("@source/app", "@artifact/")]), &sources);
        assert_eq!(paths(&content), ["app/", "app/app.yaml"]);
    }

    #[test]
    fn globs_skip_symlinks() {
        let sources = with_links();
        let content = build_ok(&artifact(vec![copy("@source/app/*", "@artifact/")]), &sources);
        assert_eq!(paths(&content), ["app/", "app/app.yaml"]);
    }

    #[test]
    fn globs_do_not_enter_symlinked_directories() {
        let sources = with_links();
        let err = build_err(
            &artifact(vec![copy("@source/app/linked/*", "@artifact/")]),
            &sources,
        );
        assert_eq!(err.kind(), ErrorKind::NoGlobMatch);
    }

    #[test]
    fn naming_a_symlink_is_source_not_found() {
        let sources = with_links();
        let err = build_err(
            &artifact(vec![copy("@source/app/secret.yaml", "@artifact/")]),
            &sources,
        );
        assert_eq!(err.kind(), ErrorKind::SourceNotFound);
        assert_eq!(
            err.to_string(),
            "spec.artifacts[0].copy[0].from '@source/app/secret.yaml': 'app/secret.yaml' is (or lies under) a symlink, which artifacts cannot hold in source 'source'"
        );
    }

    #[test]
    fn paths_through_a_symlinked_directory_are_source_not_found() {
        let sources = with_links();
        let err = build_err(
            &artifact(vec![copy("@source/app/linked/secret.yaml", "@artifact/")]),
            &sources,
        );
        assert_eq!(err.kind(), ErrorKind::SourceNotFound);
        assert!(
            err.to_string()
                .contains("'app/linked' is (or lies under) a symlink"),
            "{err}"
        );
    }

    #[test]
    fn extract_double_star_does_not_enter_symlinked_directories() {
        let sources = with_links();
        common::cases::manifests_tarball(&sources, "outside", "charts/app.tgz");
        let op = common::CopyExt::strategy(
            copy("@source/**", "@artifact/"),
            artifact_generator::api::CopyStrategy::Extract,
        );
        let content = build_ok(&artifact(vec![op]), &sources);
        assert!(content.entries().is_empty());
    }

    #[test]
    fn a_symlinked_source_root_is_followed() {
        // The alias root is the caller's choice (a temporary directory may sit behind a
        // symlink); only what lies below it is confined.
        let sources = Sources::new(&["real"]);
        sources.file("real", "a.yaml", "a: 1");
        let link = sources.dir.path().join("link");
        symlink(sources.root("real"), &link).unwrap();
        let roots = std::collections::BTreeMap::from([("source".to_owned(), link)]);
        let artifact = artifact(vec![copy("@source/a.yaml", "@artifact/")]);
        let content = ArtifactBuilder::new(&artifact, &roots).build().unwrap();
        assert_files(&content, &[("a.yaml", "a: 1")]);
    }

    #[test]
    fn special_files_are_skipped() {
        let sources = Sources::new(&["source"]);
        sources.file("source", "a.yaml", "a: 1");
        let socket = std::os::unix::net::UnixListener::bind(sources.root("source").join("sock")).unwrap();
        let content = build_ok(&artifact(vec![copy("@source/", "@artifact/")]), &sources);
        assert_eq!(paths(&content), ["a.yaml"]);
        drop(socket);
    }
}

#[test]
fn cancellation_stops_the_build_between_operations() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "a.yaml", "a: 1");
    let artifact = artifact(vec![
        copy("@source/a.yaml", "@artifact/"),
        copy("@source/a.yaml", "@artifact/b.yaml"),
    ]);
    let calls = Cell::new(0);
    let cancel = || {
        calls.set(calls.get() + 1);
        calls.get() > 1
    };
    let err = ArtifactBuilder::new(&artifact, &sources.roots)
        .field_path("spec.artifacts[2]")
        .cancel_when(&cancel)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled { .. }));
    assert_eq!(err.kind(), ErrorKind::Io);
    assert_eq!(err.to_string(), "building spec.artifacts[2] was cancelled");
}

#[test]
fn a_build_that_is_not_cancelled_completes() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "a.yaml", "a: 1");
    let artifact = artifact(vec![copy("@source/a.yaml", "@artifact/")]);
    let never = || false;
    let content = ArtifactBuilder::new(&artifact, &sources.roots)
        .cancel_when(&never)
        .build()
        .unwrap();
    assert_files(&content, &[("a.yaml", "a: 1")]);
}

#[test]
fn sources_are_only_read() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "a/b.yaml", "b: 1");
    common::cases::manifests_tarball(&sources, "source", "t.tgz");
    let before = listing(sources.root("source"));
    let ops = vec![
        copy("@source/a", "@artifact/"),
        common::CopyExt::strategy(
            copy("@source/t.tgz", "@artifact/a/"),
            artifact_generator::api::CopyStrategy::Extract,
        ),
    ];
    let content = build_ok(&artifact(ops), &sources);
    let staging = tempfile::tempdir().unwrap();
    content.materialise(staging.path()).unwrap();
    assert_eq!(listing(sources.root("source")), before);
}

fn listing(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .map(|e| {
            let content = if e.file_type().is_file() {
                std::fs::read(e.path()).unwrap()
            } else {
                Vec::new()
            };
            (e.path().display().to_string(), content)
        })
        .collect()
}
