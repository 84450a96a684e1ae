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

// The builder's kinds, with the minimal triggers of its documentation.

#[test]
fn unknown_alias() {
    let repo = tree(&[("a.yaml", "a: 1\n")]);
    let line = fails(
        "unknown-alias",
        &copy(r#"{ from: "@nope/a.yaml", to: "@artifact/" }"#),
        repo.path(),
    );
    assert!(line.contains("spec.artifacts[0].copy[0].from"), "{line}");
}

#[test]
fn invalid_from() {
    let repo = tree(&[("a.yaml", "a: 1\n")]);
    let line = fails(
        "invalid-from",
        &copy(r#"{ from: "repo/a.yaml", to: "@artifact/" }"#),
        repo.path(),
    );
    assert!(line.contains("spec.artifacts[0].copy[0].from"), "{line}");
}

#[test]
fn invalid_to() {
    let repo = tree(&[("a.yaml", "a: 1\n")]);
    let line = fails(
        "invalid-to",
        &copy(r#"{ from: "@repo/a.yaml", to: "@out/" }"#),
        repo.path(),
    );
    assert!(line.contains("spec.artifacts[0].copy[0].to"), "{line}");
}

#[test]
fn invalid_glob() {
    let repo = tree(&[("a.yaml", "a: 1\n")]);
    fails(
        "invalid-glob",
        &copy(r#"{ from: "@repo/[", to: "@artifact/" }"#),
        repo.path(),
    );
}

#[test]
fn invalid_exclude() {
    let repo = tree(&[("a.md", "# a\n")]);
    fails(
        "invalid-exclude",
        &copy(r#"{ from: "@repo/*.md", to: "@artifact/", exclude: ["[*.md"] }"#),
        repo.path(),
    );
}

#[test]
fn path_escape() {
    let repo = tree(&[("a.yaml", "a: 1\n")]);
    fails(
        "path-escape",
        &copy(r#"{ from: "@repo/a.yaml", to: "@artifact/../x" }"#),
        repo.path(),
    );
}

#[test]
fn source_not_found() {
    let repo = tree(&[("a.yaml", "a: 1\n")]);
    let line = fails(
        "source-not-found",
        &copy(r#"{ from: "@repo/missing.yaml", to: "@artifact/" }"#),
        repo.path(),
    );
    assert!(line.contains("missing.yaml"), "{line}");
}

#[test]
fn no_glob_match() {
    let repo = tree(&[("a.json", "{}\n")]);
    fails(
        "no-glob-match",
        &copy(r#"{ from: "@repo/*.yaml", to: "@artifact/" }"#),
        repo.path(),
    );
}

#[test]
fn all_excluded() {
    let repo = tree(&[("a.md", "# a\n")]);
    fails(
        "all-excluded",
        &copy(r#"{ from: "@repo/*.md", to: "@artifact/", exclude: ["*.md"] }"#),
        repo.path(),
    );
}

/// One artifact named `app` with several copy operations.
fn copies(operations: &[&str]) -> String {
    let list: String = operations.iter().map(|op| format!("        - {op}\n")).collect();
    generator(&format!("  artifacts:\n    - name: app\n      copy:\n{list}"))
}

#[test]
fn copy_conflict() {
    let repo = tree(&[("a", "file\n"), ("d/a/b", "nested\n")]);
    fails(
        "copy-conflict",
        &copies(&[
            r#"{ from: "@repo/a", to: "@artifact/" }"#,
            r#"{ from: "@repo/d/**", to: "@artifact/" }"#,
        ]),
        repo.path(),
    );
}

#[test]
fn merge_invalid_yaml() {
    let repo = tree(&[("a.env", "A=B\n"), ("b.yaml", "b: 1\n")]);
    fails(
        "merge-invalid-yaml",
        &copies(&[
            r#"{ from: "@repo/a.env", to: "@artifact/a.yaml" }"#,
            r#"{ from: "@repo/b.yaml", to: "@artifact/a.yaml", strategy: Merge }"#,
        ]),
        repo.path(),
    );
}

#[test]
fn extract_not_tarball() {
    let repo = tree(&[("a.yaml", "a: 1\n")]);
    fails(
        "extract-not-tarball",
        &copy(r#"{ from: "@repo/a.yaml", to: "@artifact/", strategy: Extract }"#),
        repo.path(),
    );
}

#[test]
fn extract_directory() {
    let repo = tree(&[("d/x", "x\n")]);
    fails(
        "extract-directory",
        &copy(r#"{ from: "@repo/d", to: "@artifact/", strategy: Extract }"#),
        repo.path(),
    );
}

#[test]
fn extract_invalid_archive() {
    let repo = tree(&[("bad.tgz", "not a tarball\n")]);
    fails(
        "extract-invalid-archive",
        &copy(r#"{ from: "@repo/bad.tgz", to: "@artifact/", strategy: Extract }"#),
        repo.path(),
    );
}

/// A gzipped tarball holding one symbolic link, which extraction refuses.
fn tarball_with_a_symlink() -> Vec<u8> {
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    header.set_mode(0o777);
    builder.append_link(&mut header, "link", "/etc/passwd").unwrap();
    builder.into_inner().unwrap().finish().unwrap()
}

#[test]
fn extract_unsafe_entry() {
    let repo = tree(&[]);
    fs::write(repo.path().join("link.tgz"), tarball_with_a_symlink()).unwrap();
    fails(
        "extract-unsafe-entry",
        &copy(r#"{ from: "@repo/link.tgz", to: "@artifact/", strategy: Extract }"#),
        repo.path(),
    );
}

#[test]
fn size_limit() {
    // A Merge reads files of at most 16 MiB.
    let big = format!("a: \"{}\"\n", "x".repeat(17 << 20));
    let repo = tree(&[("a.yaml", "a: 1\n"), ("big.yaml", &big)]);
    fails(
        "size-limit",
        &copies(&[
            r#"{ from: "@repo/a.yaml", to: "@artifact/a.yaml" }"#,
            r#"{ from: "@repo/big.yaml", to: "@artifact/a.yaml", strategy: Merge }"#,
        ]),
        repo.path(),
    );
}
