//! source-watcher's pathPattern cases (`TestBuildArtifactRequests`), one behaviour per
//! test, plus the points where this implementation differs.

use std::{collections::BTreeMap, fs, path::Path};

use tempfile::TempDir;

use super::*;
use crate::{
    ErrorKind,
    api::{CopyOperation, CopyStrategy, OutputArtifact},
};

/// source-watcher's fixture: `apps/auth/envs/{dev,prod}`, `apps/payments`, and
/// `apps/ignore/envs/dev` as a file.
fn fixture() -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in [
        "apps/auth/envs/dev",
        "apps/auth/envs/prod",
        "apps/payments",
        "apps/ignore/envs",
    ] {
        fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    fs::write(dir.path().join("apps/ignore/envs/dev"), "test").unwrap();
    dir
}

fn tree(dirs: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for d in dirs {
        fs::create_dir_all(dir.path().join(d)).unwrap();
    }
    dir
}

fn sources(root: &Path) -> BTreeMap<String, PathBuf> {
    BTreeMap::from([("repo".to_owned(), root.to_owned())])
}

fn artifact(name: &str, copy: &[(&str, &str)]) -> OutputArtifact {
    OutputArtifact {
        name: name.into(),
        copy: copy
            .iter()
            .map(|(from, to)| CopyOperation {
                from: (*from).into(),
                to: (*to).into(),
                ..CopyOperation::default()
            })
            .collect(),
        ..OutputArtifact::default()
    }
}

fn spec(pattern: &str, artifacts: Vec<OutputArtifact>) -> ArtifactGeneratorSpec {
    ArtifactGeneratorSpec {
        path_pattern: pattern.into(),
        output_artifacts: artifacts,
        ..ArtifactGeneratorSpec::default()
    }
}

fn names(requests: &[ArtifactRequest]) -> Vec<&str> {
    requests.iter().map(|r| r.artifact.name.as_str()).collect()
}

fn error(pattern: &str, artifacts: Vec<OutputArtifact>, root: &Path) -> Error {
    expand_artifacts(&spec(pattern, artifacts), &sources(root)).unwrap_err()
}

#[test]
fn without_path_pattern_the_artifacts_are_returned_as_they_are() {
    let root = fixture();
    let requests = expand_artifacts(
        &spec("", vec![artifact("static-1", &[]), artifact("static-2", &[])]),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["static-1", "static-2"]);
    assert!(requests[0].labels.is_empty());
}

#[test]
fn a_pattern_without_an_alias_is_an_invalid_format() {
    let root = fixture();
    let e = error("invalid-no-at-sign", vec![], root.path());
    assert_eq!(e.kind(), ErrorKind::PathPatternInvalidFormat);
    assert!(e.to_string().contains("\"invalid-no-at-sign\""), "{e}");
}

#[test]
fn a_pattern_naming_an_unknown_alias_is_refused() {
    let root = fixture();
    let e = error("@unknown/apps/{app}", vec![], root.path());
    assert_eq!(e.kind(), ErrorKind::PathPatternUnknownAlias);
    assert!(e.to_string().contains("\"unknown\" not found"), "{e}");
}

#[test]
fn a_capture_name_that_is_not_a_label_key_is_refused() {
    let root = fixture();
    let e = error("@repo/apps/{_app}", vec![], root.path());
    assert_eq!(e.kind(), ErrorKind::PathPatternInvalidLabelKey);
    assert!(e.is_terminal());
    assert!(
        e.to_string()
            .contains("capture variable \"_app\" is not a valid Kubernetes label key"),
        "{e}"
    );
}

#[test]
fn a_source_that_cannot_be_walked_is_a_retryable_io_error() {
    let root = fixture();
    let e = error(
        "@repo/apps/{app}",
        vec![artifact("app-{app}", &[])],
        &root.path().join("does-not-exist"),
    );
    assert_eq!(e.kind(), ErrorKind::Io);
    assert!(!e.is_terminal());
}

#[test]
fn malformed_captures_in_the_pattern_are_refused() {
    let root = fixture();
    for (pattern, message) in [
        ("@repo/apps/{}", "empty capture variable"),
        ("@repo/apps/{app-name}", "valid capture name"),
        ("@repo/apps/{1app}", "valid capture name"),
        ("@repo/apps/{app", "missing its closing brace"),
        ("@repo/apps/app}", "missing its opening brace"),
        ("@repo/apps/{app}/envs/{app}", "duplicate capture variable"),
    ] {
        let e = error(pattern, vec![], root.path());
        assert_eq!(e.kind(), ErrorKind::PathPatternInvalidCapture, "{pattern}");
        let text = e.to_string();
        assert!(text.contains("spec.pathPattern"), "{text}");
        assert!(text.contains(pattern), "{text}");
        assert!(text.contains(message), "{text}");
    }
}

#[test]
fn a_single_capture_matches_every_directory_at_its_depth() {
    let root = fixture();
    let requests = expand_artifacts(
        &spec(
            "@repo/apps/{app}",
            vec![artifact("app-{app}", &[("apps/{app}", ".")])],
        ),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["app-auth", "app-ignore", "app-payments"]);
    assert_eq!(
        requests[0].labels,
        BTreeMap::from([("app".to_owned(), "auth".to_owned())])
    );
    assert_eq!(requests[0].artifact.copy[0].from, "apps/auth");
}

#[test]
fn a_placeholder_the_pattern_does_not_define_is_refused() {
    let root = fixture();
    let e = error("@repo/apps/{app}", vec![artifact("{missing}", &[])], root.path());
    assert_eq!(e.kind(), ErrorKind::PathPatternUndefinedCapture);
    assert!(
        e.to_string()
            .contains("capture variable \"missing\" is not defined by pathPattern"),
        "{e}"
    );
    assert!(e.to_string().starts_with("spec.artifacts[0].name"), "{e}");
}

#[test]
fn exclude_and_strategy_are_kept() {
    let root = fixture();
    let mut template = artifact("app-{app}", &[("apps/{app}", ".")]);
    template.copy[0].exclude = vec!["*.md".into(), "tests/".into()];
    template.copy[0].strategy = Some(CopyStrategy::Merge);
    let requests =
        expand_artifacts(&spec("@repo/apps/{app}", vec![template]), &sources(root.path())).unwrap();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.artifact.copy[0].exclude, ["*.md", "tests/"]);
        assert_eq!(r.artifact.copy[0].strategy, Some(CopyStrategy::Merge));
    }
}

#[test]
fn files_matching_the_pattern_are_not_matches() {
    let root = fixture();
    let requests = expand_artifacts(
        &spec("@repo/apps/{app}/envs/{env}", vec![artifact("{app}-{env}", &[])]),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["auth-dev", "auth-prod"]);
    assert_eq!(requests[1].labels["app"], "auth");
    assert_eq!(requests[1].labels["env"], "prod");
}

#[test]
fn captures_are_lowercased_in_names_and_labels_but_not_in_paths() {
    let root = tree(&["apps/Auth/envs/Dev", "apps/Payments/envs/Prod"]);
    let requests = expand_artifacts(
        &spec(
            "@repo/apps/{app}/envs/{env}",
            vec![artifact(
                "{app}-{env}",
                &[("@repo/apps/{app}/envs/{env}/**", "@artifact/{app}/{env}/")],
            )],
        ),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["auth-dev", "payments-prod"]);
    assert_eq!(requests[0].labels["app"], "auth");
    assert_eq!(requests[0].labels["env"], "dev");
    assert_eq!(requests[0].artifact.copy[0].from, "@repo/apps/Auth/envs/Dev/**");
    assert_eq!(requests[0].artifact.copy[0].to, "@artifact/Auth/Dev/");
    assert_eq!(
        requests[1].artifact.copy[0].from,
        "@repo/apps/Payments/envs/Prod/**"
    );
    assert_eq!(requests[1].artifact.copy[0].to, "@artifact/Payments/Prod/");
}

fn label_value_error(directory: &str) -> Error {
    let root = tree(&[&format!("apps/{directory}")]);
    error("@repo/apps/{app}", vec![artifact("app-{app}", &[])], root.path())
}

#[test]
fn a_captured_name_with_a_leading_dot_is_not_a_label_value() {
    let e = label_value_error(".hidden");
    assert_eq!(e.kind(), ErrorKind::PathPatternInvalidLabelValue);
    assert!(
        e.to_string().contains("not a valid Kubernetes label value"),
        "{e}"
    );
}

#[test]
fn a_captured_name_with_a_space_is_not_a_label_value() {
    let e = label_value_error("my app");
    assert_eq!(e.kind(), ErrorKind::PathPatternInvalidLabelValue);
    assert!(e.to_string().contains("\"my app\""), "{e}");
}

#[test]
fn a_captured_name_longer_than_63_characters_is_not_a_label_value() {
    let e = label_value_error(&"a".repeat(64));
    assert_eq!(e.kind(), ErrorKind::PathPatternInvalidLabelValue);
    assert!(e.to_string().contains("no more than 63 characters"), "{e}");
}

#[test]
fn a_rendered_name_that_is_not_an_object_name_is_refused() {
    let root = tree(&["apps/auth"]);
    let e = error(
        "@repo/apps/{app}",
        vec![artifact("{app}..invalid", &[])],
        root.path(),
    );
    assert_eq!(e.kind(), ErrorKind::PathPatternInvalidName);
    let text = e.to_string();
    assert!(text.contains("\"auth..invalid\""), "{text}");
    assert!(text.contains("not a valid Kubernetes object name"), "{text}");
}

#[test]
fn directories_differing_only_in_case_collide() {
    let root = tree(&["apps/Auth", "apps/auth"]);
    let e = error("@repo/apps/{app}", vec![artifact("app-{app}", &[])], root.path());
    assert_eq!(e.kind(), ErrorKind::PathPatternNameCollision);
    assert!(
        e.to_string().contains(
            "directories \"apps/Auth\" and \"apps/auth\" both resolve to artifact name \"app-auth\""
        ),
        "{e}"
    );
}

#[test]
fn two_templates_rendering_one_name_collide() {
    let root = tree(&["apps/auth"]);
    let e = error(
        "@repo/apps/{app}",
        vec![artifact("{app}", &[]), artifact("{app}", &[])],
        root.path(),
    );
    assert_eq!(e.kind(), ErrorKind::PathPatternNameCollision);
}

#[test]
fn requests_follow_directory_order_then_spec_order() {
    let root = tree(&["apps/b", "apps/a"]);
    let requests = expand_artifacts(
        &spec(
            "@repo/apps/{app}",
            vec![artifact("{app}-deploy", &[]), artifact("{app}-config", &[])],
        ),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["a-deploy", "a-config", "b-deploy", "b-config"]);
    let indexes: Vec<_> = requests.iter().map(|r| r.index).collect();
    assert_eq!(indexes, [0, 1, 0, 1]);
}

#[test]
fn a_capture_can_be_part_of_a_segment() {
    let root = tree(&["apps/web-svc", "apps/web"]);
    let requests = expand_artifacts(
        &spec("@repo/apps/{app}-svc", vec![artifact("{app}", &[])]),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["web"]);
}

#[test]
fn literal_text_in_the_pattern_is_not_a_regular_expression() {
    let root = tree(&["apps/a.b", "apps/axb"]);
    let requests = expand_artifacts(
        &spec("@repo/apps/{app}.b", vec![artifact("{app}", &[])]),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["a"]);
}

#[test]
fn a_broken_template_is_refused_even_without_matches() {
    let root = tree(&["other"]);
    let e = error(
        "@repo/apps/{app}",
        vec![artifact("{app}", &[("@repo/apps/{app", "@artifact/")])],
        root.path(),
    );
    assert_eq!(e.kind(), ErrorKind::PathPatternInvalidCapture);
    assert!(e.to_string().contains("spec.artifacts[0].copy[0].from"), "{e}");
}

#[test]
fn git_directories_are_not_walked() {
    let root = tree(&[".git/refs", "apps/auth"]);
    let requests = expand_artifacts(
        &spec("@repo/{dir}", vec![artifact("{dir}", &[])]),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["apps"]);
}

#[cfg(unix)]
#[test]
fn symbolic_links_to_directories_are_not_matches() {
    let root = tree(&["apps/auth", "elsewhere/linked"]);
    std::os::unix::fs::symlink(
        root.path().join("elsewhere/linked"),
        root.path().join("apps/link"),
    )
    .unwrap();
    let requests = expand_artifacts(
        &spec("@repo/apps/{app}", vec![artifact("{app}", &[])]),
        &sources(root.path()),
    )
    .unwrap();
    assert_eq!(names(&requests), ["auth"]);
}
