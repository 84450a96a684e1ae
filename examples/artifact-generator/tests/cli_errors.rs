//! Every failure of `artifact-generator build` is one line `error[KIND]: message` on
//! stderr, exit status 1, and nothing on stdout: one test per kind.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::{fs, path::Path};

use cli_support::{build, stderr};
use tempfile::TempDir;

/// A source tree with the given directories and files (`path` → content; a path ending
/// with `/` is a directory).
fn tree(entries: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, content) in entries {
        let target = dir.path().join(path);
        if path.ends_with('/') {
            fs::create_dir_all(target).unwrap();
        } else {
            fs::create_dir_all(target.parent().unwrap()).unwrap();
            fs::write(target, content).unwrap();
        }
    }
    dir
}

/// A generator with one source, `repo`, and the given `spec` lines after `sources`.
fn generator(spec: &str) -> String {
    format!(
        "apiVersion: source.extensions.fluxcd.io/v1beta1\nkind: ArtifactGenerator\nmetadata: {{ name: gen, namespace: apps }}\nspec:\n  sources: [{{ alias: repo, kind: GitRepository, name: repo }}]\n{spec}"
    )
}

/// One artifact named `app` with one copy operation.
fn copy(operation: &str) -> String {
    generator(&format!(
        "  artifacts:\n    - name: app\n      copy:\n        - {operation}\n"
    ))
}

/// Runs the build of `manifest` with `repo` as source `repo`, expecting `kind`; returns
/// the error line.
fn fails(kind: &str, manifest: &str, repo: &Path) -> String {
    let cwd = tempfile::tempdir().unwrap();
    let source = format!("repo={}", repo.display());
    let output = build(cwd.path(), &["-f", "-", "--source", &source], manifest);
    let stderr = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty(), "nothing is printed as published");
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error["))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(line.starts_with(&format!("error[{kind}]: ")), "{line}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error[")).count(), 1);
    line.to_owned()
}

#[test]
fn invalid_spec() {
    let repo = tree(&[("app.yaml", "a: 1\n")]);
    let manifest = generator(
        "  artifacts:\n    - name: app\n      revision: \"@nope\"\n      copy: [{ from: \"@repo/app.yaml\", to: \"@artifact/\" }]\n",
    );
    let line = fails("invalid-spec", &manifest, repo.path());
    assert_eq!(
        line,
        r#"error[invalid-spec]: generator apps/gen: invalid spec.artifacts[0].revision "@nope": source alias "nope" not found in spec.sources"#
    );
}

#[test]
fn invalid_spec_for_a_document_that_is_not_a_generator() {
    let repo = tree(&[]);
    let line = fails("invalid-spec", "apiVersion: v1\nkind: ConfigMap\n", repo.path());
    assert!(
        line.contains("cannot read an ArtifactGenerator from <stdin> (document 1)"),
        "{line}"
    );
    assert!(line.contains("found apiVersion v1 and kind ConfigMap"), "{line}");
}

#[test]
fn missing_source() {
    let cwd = tempfile::tempdir().unwrap();
    let manifest = copy(r#"{ from: "@repo/app.yaml", to: "@artifact/" }"#);
    let output = build(cwd.path(), &["-f", "-"], &manifest);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stderr(&output).trim_end(),
        r#"error[missing-source]: generator apps/gen uses source "repo", which no --source gives (add --source repo=PATH_OR_URL)"#
    );
    assert!(
        !cwd.path().join("artifact-storage").exists(),
        "nothing is created before the sources are there"
    );
}

#[test]
fn source_fetch_failed() {
    let manifest = copy(r#"{ from: "@repo/app.yaml", to: "@artifact/" }"#);
    let line = fails("source-fetch-failed", &manifest, Path::new("/nonexistent/repo"));
    assert!(
        line.contains(r#"cannot fetch source "repo" from /nonexistent/repo: No such file or directory"#),
        "{line}"
    );
}

#[test]
fn io() {
    let cwd = tempfile::tempdir().unwrap();
    let output = build(cwd.path(), &["-f", "missing.yaml", "--source", "repo=."], "");
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.starts_with("error[io]: cannot read missing.yaml: No such file or directory"),
        "{stderr}"
    );
}

/// A `pathPattern` generator over `repo` with one artifact template.
fn pattern(path_pattern: &str, name: &str) -> String {
    generator(&format!(
        "  pathPattern: \"{path_pattern}\"\n  artifacts:\n    - name: \"{name}\"\n      copy: [{{ from: \"@repo/apps/\", to: \"@artifact/\" }}]\n"
    ))
}

#[test]
fn pathpattern_invalid_format() {
    let repo = tree(&[("apps/a/", "")]);
    let line = fails(
        "pathpattern-invalid-format",
        &pattern("apps/{app}", "{app}"),
        repo.path(),
    );
    assert!(line.contains(r#"spec.pathPattern "apps/{app}""#), "{line}");
}

#[test]
fn pathpattern_unknown_alias() {
    let repo = tree(&[("apps/a/", "")]);
    let line = fails(
        "pathpattern-unknown-alias",
        &pattern("@other/apps/{app}", "{app}"),
        repo.path(),
    );
    assert!(line.contains(r#"source alias "other" not found"#), "{line}");
}

#[test]
fn pathpattern_invalid_capture() {
    let repo = tree(&[("apps/a/", "")]);
    let line = fails(
        "pathpattern-invalid-capture",
        &pattern("@repo/apps/{app", "x"),
        repo.path(),
    );
    assert!(line.contains("missing its closing brace"), "{line}");
}

#[test]
fn pathpattern_invalid_label_key() {
    let repo = tree(&[("apps/a/", "")]);
    let line = fails(
        "pathpattern-invalid-label-key",
        &pattern("@repo/apps/{_app}", "x"),
        repo.path(),
    );
    assert!(line.contains(r#"capture variable "_app""#), "{line}");
}

#[test]
fn pathpattern_undefined_capture() {
    let repo = tree(&[("apps/a/", "")]);
    let line = fails(
        "pathpattern-undefined-capture",
        &pattern("@repo/apps/{app}", "{env}"),
        repo.path(),
    );
    assert!(line.contains(r#"spec.artifacts[0].name "{env}""#), "{line}");
}

#[test]
fn pathpattern_invalid_label_value() {
    let repo = tree(&[("apps/my app/", "")]);
    let line = fails(
        "pathpattern-invalid-label-value",
        &pattern("@repo/apps/{app}", "{app}"),
        repo.path(),
    );
    assert!(line.contains(r#"captured value "my app""#), "{line}");
}

#[test]
fn pathpattern_invalid_name() {
    let repo = tree(&[("apps/auth/", "")]);
    let line = fails(
        "pathpattern-invalid-name",
        &pattern("@repo/apps/{app}", "{app}..x"),
        repo.path(),
    );
    assert!(line.contains(r#"artifact name "auth..x""#), "{line}");
}

#[test]
fn pathpattern_name_collision() {
    let repo = tree(&[("apps/Auth/", ""), ("apps/auth/", "")]);
    let line = fails(
        "pathpattern-name-collision",
        &pattern("@repo/apps/{app}", "{app}"),
        repo.path(),
    );
    assert!(line.contains(r#"both resolve to artifact name "auth""#), "{line}");
}
