//! The successful scenarios of source-watcher's builder, merge and extract tests (and a
//! few of ours), as source trees plus an output artifact. The behaviour tests check what
//! each builds; the equivalence test checks, for all of them, that the streamed archive
//! equals archiving a staging directory.

use artifact_generator::api::{CopyStrategy, OutputArtifact};

use super::{CopyExt, Sources, Tar, artifact, copy, write_tarball};

pub type Setup = fn() -> (Sources, OutputArtifact);

pub const CONFIG_DEV: &str = "
name: app
ports: [8080]
labels:
  env: dev
  keep: me
version: 1.0.1
replicas: 2
env: development
";

pub const CONFIG_PROD: &str = "
name: app
ports: [8081]
labels:
  env: prod
  keep: me
version: 1.0.0
replicas: 5
env: production
";

pub const CONFIG_INT: &str = "
name: app
ports: [8082]
labels:
  env: int
  keep: me
version: 1.0.0
replicas: 3
env: int
";

/// `config.yaml` and `prod/config.yaml`.
pub fn manifests_tarball(sources: &Sources, alias: &str, path: &str) {
    write_tarball(
        sources,
        alias,
        path,
        &[
            Tar::File("config.yaml", CONFIG_DEV),
            Tar::Dir("prod/"),
            Tar::File("prod/config.yaml", CONFIG_PROD),
        ],
    );
}

/// `int/config.yaml`.
pub fn int_tarball(sources: &Sources, alias: &str, path: &str) {
    write_tarball(
        sources,
        alias,
        path,
        &[Tar::Dir("int/"), Tar::File("int/config.yaml", CONFIG_INT)],
    );
}

/// Every scenario, by name.
pub fn all() -> Vec<(&'static str, Setup)> {
    vec![
        ("single_file_copy", single_file_copy),
        ("multiple_copy_operations", multiple_copy_operations),
        ("glob_pattern", glob_pattern),
        ("root_directory_copy", root_directory_copy),
        ("recursive_directory_copy", recursive_directory_copy),
        ("later_copies_overwrite", later_copies_overwrite),
        (
            "directory_without_trailing_slash",
            directory_without_trailing_slash,
        ),
        ("directory_with_trailing_slash", directory_with_trailing_slash),
        ("file_into_directory", file_into_directory),
        ("double_star_strips_prefix", double_star_strips_prefix),
        ("file_to_file", file_to_file),
        ("file_into_existing_directory", file_into_existing_directory),
        ("exclude_extension", exclude_extension),
        ("exclude_directory_recursively", exclude_directory_recursively),
        ("multiple_excludes", multiple_excludes),
        ("exclude_with_glob", exclude_with_glob),
        ("exclude_single_file", exclude_single_file),
        (
            "exclude_nested_directory_by_full_path",
            exclude_nested_directory_by_full_path,
        ),
        (
            "exclude_from_directory_copy_by_root_path",
            exclude_from_directory_copy_by_root_path,
        ),
        ("exclude_by_selected_root_path", exclude_by_selected_root_path),
        (
            "exclude_not_anchored_at_walk_root",
            exclude_not_anchored_at_walk_root,
        ),
        (
            "exclude_from_directory_copy_by_subtree_path",
            exclude_from_directory_copy_by_subtree_path,
        ),
        (
            "exclude_nested_file_by_full_path",
            exclude_nested_file_by_full_path,
        ),
        ("merge_yaml", merge_yaml),
        ("merge_json_into_yaml", merge_json_into_yaml),
        ("merge_in_directories", merge_in_directories),
        ("merge_with_exclude", merge_with_exclude),
        ("merge_without_destination", merge_without_destination),
        ("extract_single_archive", extract_single_archive),
        ("extract_with_glob", extract_with_glob),
        ("extract_recursive_glob", extract_recursive_glob),
        ("extract_to_subdirectory", extract_to_subdirectory),
        ("extract_tar_gz", extract_tar_gz),
        ("extract_with_exclude", extract_with_exclude),
        ("extract_overwrites_extract", extract_overwrites_extract),
        ("extract_skips_non_tarballs", extract_skips_non_tarballs),
        ("default_excludes", default_excludes),
        ("executable_files", executable_files),
        ("helm_chart_composition", helm_chart_composition),
        ("excluded_directory_names", excluded_directory_names),
        ("merge_into_executable", merge_into_executable),
        ("empty_directories", empty_directories),
    ]
}

pub fn single_file_copy() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config.yaml", "apiVersion: v1\nkind: ConfigMap");
    (sources, artifact(vec![copy("@source/config.yaml", "@artifact/")]))
}

pub fn multiple_copy_operations() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["git", "oci"]);
    sources.file("git", "app.yaml", "apiVersion: apps/v1");
    sources.file("oci", "config.json", r#"{"version": "1.0"}"#);
    let ops = vec![
        copy("@git/app.yaml", "@artifact/manifests/"),
        copy("@oci/config.json", "@artifact/config/"),
    ];
    (sources, artifact(ops))
}

pub fn glob_pattern() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    for file in ["deployment.yaml", "service.yaml", "configmap.yaml"] {
        sources.file("source", file, "apiVersion: v1");
    }
    (
        sources,
        artifact(vec![copy("@source/*.yaml", "@artifact/manifests/")]),
    )
}

pub fn root_directory_copy() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "root.yaml", "root: content");
    sources.file("source", "subdir/nested.yaml", "nested: content");
    (sources, artifact(vec![copy("@source/", "@artifact/")]))
}

pub fn recursive_directory_copy() -> (Sources, OutputArtifact) {
    let (sources, _) = root_directory_copy();
    (sources, artifact(vec![copy("@source/**", "@artifact/")]))
}

pub fn later_copies_overwrite() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source1", "source2"]);
    sources.file("source1", "config/app.yaml", "source1: app");
    sources.file("source1", "config/database.yaml", "source1: db");
    sources.file("source2", "config/app.yaml", "source2: app");
    sources.file("source2", "config/network.yaml", "source2: net");
    let ops = vec![
        copy("@source1/**", "@artifact/"),
        copy("@source2/**", "@artifact/"),
    ];
    (sources, artifact(ops))
}

fn config_dir() -> Sources {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config/app.yaml", "app: config");
    sources.file("source", "config/db.yaml", "db: config");
    sources
}

pub fn directory_without_trailing_slash() -> (Sources, OutputArtifact) {
    (
        config_dir(),
        artifact(vec![copy("@source/config", "@artifact/dest")]),
    )
}

pub fn directory_with_trailing_slash() -> (Sources, OutputArtifact) {
    (
        config_dir(),
        artifact(vec![copy("@source/config/", "@artifact/dest/")]),
    )
}

pub fn file_into_directory() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config.yaml", "a: test");
    (
        sources,
        artifact(vec![copy("@source/config.yaml", "@artifact/dest/")]),
    )
}

pub fn double_star_strips_prefix() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config/app.yaml", "app: config");
    sources.file("source", "config/subdir/db.yaml", "db: config");
    (
        sources,
        artifact(vec![copy("@source/config/**", "@artifact/dest/")]),
    )
}

pub fn file_to_file() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["repo", "chart"]);
    sources.file("repo", "charts/podinfo/values-prod.yaml", "env: production");
    sources.file("chart", "Chart.yaml", "name: podinfo");
    sources.file("chart", "values.yaml", "name: podinfo");
    let ops = vec![
        copy("@chart/**", "@artifact/"),
        copy(
            "@repo/charts/podinfo/values-prod.yaml",
            "@artifact/podinfo/values.yaml",
        ),
    ];
    (sources, artifact(ops))
}

pub fn file_into_existing_directory() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "file1.txt", "content1");
    sources.file("source", "subdir/file2.txt", "content2");
    let ops = vec![
        copy("@source/subdir/", "@artifact/"),
        copy("@source/file1.txt", "@artifact/subdir"),
    ];
    (sources, artifact(ops))
}

pub fn exclude_extension() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "app.yaml", "yaml content");
    sources.file("source", "config.json", "json content");
    sources.file("source", "README.md", "markdown content");
    sources.file("source", "notes.md", "more markdown");
    (
        sources,
        artifact(vec![copy("@source/**", "@artifact/").exclude(&["*.md"])]),
    )
}

pub fn exclude_directory_recursively() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "app.yaml", "main app config");
    sources.file("source", "testdata/test.yaml", "test config");
    sources.file("source", "testdata/fixture.json", "test fixture");
    sources.file("source", "configs/prod.yaml", "prod config");
    let op = copy("@source/**", "@artifact/").exclude(&["**/testdata/**"]);
    (sources, artifact(vec![op]))
}

pub fn multiple_excludes() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "app.yaml", "app config");
    sources.file("source", "README.md", "documentation");
    sources.file("source", "temp.tmp", "temporary file");
    sources.file("source", ".hidden", "hidden file");
    sources.file("source", "docs/guide.md", "user guide");
    sources.file("source", "tests/test.go", "test file");
    let op = copy("@source/**", "@artifact/").exclude(&["*.md", "*.tmp", "**/.*", "**/tests/**"]);
    (sources, artifact(vec![op]))
}

pub fn exclude_with_glob() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "app.yaml", "app config");
    sources.file("source", "config.yaml", "config");
    sources.file("source", "secret.yaml", "secret");
    sources.file("source", "other.json", "other config");
    let op = copy("@source/*.yaml", "@artifact/configs/").exclude(&["secret.yaml"]);
    (sources, artifact(vec![op]))
}

pub fn exclude_single_file() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "secret.yaml", "secret content");
    let op = copy("@source/secret.yaml", "@artifact/config.yaml").exclude(&["secret.yaml"]);
    (sources, artifact(vec![op]))
}

fn infrastructure() -> Sources {
    let sources = Sources::new(&["source"]);
    let base = "infrastructure/controllers";
    sources.file(
        "source",
        &format!("{base}/descheduler/release.yaml"),
        "descheduler release",
    );
    sources.file(
        "source",
        &format!("{base}/descheduler/kustomization.yaml"),
        "descheduler kustomization",
    );
    sources.file(
        "source",
        &format!("{base}/sealed-secrets/release.yaml"),
        "sealed-secrets release",
    );
    sources.file(
        "source",
        "infrastructure/configs/cluster-issuer.yaml",
        "cluster issuer",
    );
    sources
}

pub fn exclude_nested_directory_by_full_path() -> (Sources, OutputArtifact) {
    let op = copy("@source/infrastructure/**", "@artifact/")
        .exclude(&["infrastructure/controllers/descheduler/**"]);
    (infrastructure(), artifact(vec![op]))
}

pub fn exclude_from_directory_copy_by_root_path() -> (Sources, OutputArtifact) {
    let op =
        copy("@source/infrastructure", "@artifact/").exclude(&["infrastructure/controllers/descheduler/**"]);
    (infrastructure(), artifact(vec![op]))
}

pub fn exclude_by_selected_root_path() -> (Sources, OutputArtifact) {
    let op = copy("@source/infrastructure/**", "@artifact/").exclude(&["controllers/descheduler/**"]);
    (infrastructure(), artifact(vec![op]))
}

pub fn exclude_not_anchored_at_walk_root() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file(
        "source",
        "infrastructure/descheduler/release.yaml",
        "top-level descheduler",
    );
    sources.file(
        "source",
        "infrastructure/controllers/descheduler/release.yaml",
        "nested descheduler",
    );
    sources.file(
        "source",
        "infrastructure/controllers/sealed-secrets/release.yaml",
        "sealed-secrets release",
    );
    let op = copy("@source/infrastructure/**", "@artifact/").exclude(&["descheduler/**"]);
    (sources, artifact(vec![op]))
}

pub fn exclude_from_directory_copy_by_subtree_path() -> (Sources, OutputArtifact) {
    let op = copy("@source/infrastructure", "@artifact/").exclude(&["controllers/descheduler/**"]);
    (infrastructure(), artifact(vec![op]))
}

pub fn exclude_nested_file_by_full_path() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "infrastructure/configs/app.yaml", "app config");
    sources.file("source", "infrastructure/configs/secret.yaml", "secret config");
    let op = copy("@source/infrastructure/**", "@artifact/").exclude(&["infrastructure/configs/secret.yaml"]);
    (sources, artifact(vec![op]))
}

pub fn merge_yaml() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source1", "source2"]);
    sources.file(
        "source1",
        "config.yaml",
        "\nname: app\nports: [80, 443]\nlabels:\n  env: dev\n  keep: me\nversion: 1.0.0\nreplicas: 3\n",
    );
    sources.file(
        "source2",
        "config.yaml",
        "\nreplicas: 5 # overwrites\nports: [8080] # replaces the array\nlabels:\n  env: prod\nenv: production\n",
    );
    let ops = vec![
        copy("@source1/config.yaml", "@artifact/config.yaml").strategy(CopyStrategy::Overwrite),
        copy("@source2/config.yaml", "@artifact/config.yaml").strategy(CopyStrategy::Merge),
    ];
    (sources, artifact(ops))
}

pub fn merge_json_into_yaml() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source1", "source2"]);
    sources.file("source1", "config.yaml", "a: b");
    sources.file("source2", "config.json", r#"{"c": {"d": "e"}, "a": "override"}"#);
    let ops = vec![
        copy("@source1/config.yaml", "@artifact/config.yaml"),
        copy("@source2/config.json", "@artifact/config.yaml").strategy(CopyStrategy::Merge),
    ];
    (sources, artifact(ops))
}

pub fn merge_in_directories() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source1", "source2"]);
    sources.file("source1", "config1.yaml", "\nenv: dev\nregion: us-west-1\n");
    sources.file(
        "source1",
        "config2.yaml",
        "\nversion: 1.0.0\nimage: my-app:latest\n",
    );
    sources.file("source2", "config1.yaml", "env: prod");
    sources.file("source2", "config2.yaml", "replicas: 5");
    let ops = vec![
        copy("@source1/**", "@artifact/").strategy(CopyStrategy::Overwrite),
        copy("@source2/**", "@artifact/").strategy(CopyStrategy::Merge),
    ];
    (sources, artifact(ops))
}

pub fn merge_with_exclude() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source1", "source2"]);
    sources.file("source1", "config.yaml", "\nenv: dev\nregion: us-west-1\n");
    sources.file("source1", "secret.yaml", "token: base");
    sources.file("source2", "config.yaml", "env: prod");
    sources.file("source2", "secret.yaml", "token: leak");
    let ops = vec![
        copy("@source1/**", "@artifact/").strategy(CopyStrategy::Overwrite),
        copy("@source2/**", "@artifact/")
            .strategy(CopyStrategy::Merge)
            .exclude(&["secret.yaml"]),
    ];
    (sources, artifact(ops))
}

pub fn merge_without_destination() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "config.yaml", "a: b");
    let op = copy("@source/config.yaml", "@artifact/config.yaml").strategy(CopyStrategy::Merge);
    (sources, artifact(vec![op]))
}

pub fn extract_single_archive() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    manifests_tarball(&sources, "source", "manifests.tgz");
    let op = copy("@source/manifests.tgz", "@artifact/manifests").strategy(CopyStrategy::Extract);
    (sources, artifact(vec![op]))
}

pub fn extract_with_glob() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    manifests_tarball(&sources, "source", "manifests1.tgz");
    int_tarball(&sources, "source", "manifests2.tgz");
    let op = copy("@source/*.tg*", "@artifact/").strategy(CopyStrategy::Extract);
    (sources, artifact(vec![op]))
}

pub fn extract_recursive_glob() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    manifests_tarball(&sources, "source", "prod/manifests.tgz");
    int_tarball(&sources, "source", "int/manifests.tgz");
    let op = copy("@source/**", "@artifact/").strategy(CopyStrategy::Extract);
    (sources, artifact(vec![op]))
}

pub fn extract_to_subdirectory() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    manifests_tarball(&sources, "source", "manifests.tgz");
    let op = copy("@source/manifests.tgz", "@artifact/extracted/configs/").strategy(CopyStrategy::Extract);
    (sources, artifact(vec![op]))
}

pub fn extract_tar_gz() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    manifests_tarball(&sources, "source", "manifests.tar.gz");
    let op = copy("@source/manifests.tar.gz", "@artifact/").strategy(CopyStrategy::Extract);
    (sources, artifact(vec![op]))
}

pub fn extract_with_exclude() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    manifests_tarball(&sources, "source", "app.tgz");
    int_tarball(&sources, "source", "int.tgz");
    let op = copy("@source/*.tgz", "@artifact/")
        .strategy(CopyStrategy::Extract)
        .exclude(&["int.tgz"]);
    (sources, artifact(vec![op]))
}

pub fn extract_overwrites_extract() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    let first = "\nname: first-app\nversion: 1.0.0\nenv: first\n";
    let second = "\nname: second-app\nversion: 2.0.0\nenv: second\n";
    write_tarball(
        &sources,
        "source",
        "first.tgz",
        &[Tar::File("config.yaml", first)],
    );
    write_tarball(
        &sources,
        "source",
        "second.tgz",
        &[Tar::File("config.yaml", second)],
    );
    let ops = vec![
        copy("@source/first.tgz", "@artifact/").strategy(CopyStrategy::Extract),
        copy("@source/second.tgz", "@artifact/").strategy(CopyStrategy::Extract),
    ];
    (sources, artifact(ops))
}

pub fn extract_skips_non_tarballs() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["source"]);
    sources.file("source", "readme.txt", "This is a readme");
    manifests_tarball(&sources, "source", "archive.tgz");
    let op = copy("@source/*", "@artifact/").strategy(CopyStrategy::Extract);
    (sources, artifact(vec![op]))
}

/// Flux's default `.sourceignore` excludes, which the archive applies.
pub fn default_excludes() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["repo"]);
    sources.file("repo", "app.yaml", "kind: Deployment");
    sources.file("repo", ".github/workflows/ci.yml", "on: push");
    sources.file("repo", ".gitignore", "*.tmp");
    sources.file("repo", "charts/app-1.0.0.tgz", "not really a tarball");
    sources.file("repo", "charts/app-1.0.0.tar.gz", "not really a tarball");
    sources.file("repo", "bundle.zip", "zip");
    sources.file("repo", "logo.png", "png");
    (sources, artifact(vec![copy("@repo/", "@artifact/")]))
}

/// Files with an execute bit keep it (the archive writes them 0700).
pub fn executable_files() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["repo"]);
    sources.file("repo", "scripts/run.sh", "#!/bin/sh\n");
    sources.file("repo", "scripts/lib.sh", "# sourced\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = sources.root("repo").join("scripts/run.sh");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    write_tarball(
        &sources,
        "repo",
        "tools.tgz",
        &[Tar::Exec("bin/tool", "#!/bin/sh\n")],
    );
    let ops = vec![
        copy("@repo/scripts", "@artifact/"),
        copy("@repo/tools.tgz", "@artifact/").strategy(CopyStrategy::Extract),
    ];
    (sources, artifact(ops))
}

/// The spec's Helm example: a chart tarball extracted, then values merged into it.
pub fn helm_chart_composition() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["chart", "repo"]);
    write_tarball(
        &sources,
        "chart",
        "podinfo-6.7.0.tgz",
        &[
            Tar::File(
                "podinfo/Chart.yaml",
                "apiVersion: v2\nname: podinfo\nversion: 6.7.0\n",
            ),
            Tar::File(
                "podinfo/values.yaml",
                "replicaCount: 1\nimage:\n  tag: 6.7.0\n  pullPolicy: IfNotPresent\n",
            ),
            Tar::File("podinfo/templates/deployment.yaml", "kind: Deployment\n"),
        ],
    );
    sources.file(
        "repo",
        "charts/podinfo/values-prod.yaml",
        "replicaCount: 3\nimage:\n  tag: 6.7.1\n",
    );
    let ops = vec![
        copy("@chart/podinfo-6.7.0.tgz", "@artifact/").strategy(CopyStrategy::Extract),
        copy(
            "@repo/charts/podinfo/values-prod.yaml",
            "@artifact/podinfo/values.yaml",
        )
        .strategy(CopyStrategy::Merge),
    ];
    (sources, artifact(ops))
}

/// Directories whose names the default excludes match (`*.zip`, `.circleci/`) lose
/// everything under them; `**/` patterns reach any depth.
pub fn excluded_directory_names() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["repo"]);
    sources.file("repo", "bundle.zip/app.yaml", "kind: ConfigMap");
    sources.file("repo", ".circleci/config.yml", "version: 2");
    sources.file("repo", "deploy/.flux.yaml", "x: 1");
    sources.file("repo", "deploy/nested/.sops.yaml", "creation_rules: []");
    sources.file("repo", "deploy/app.yaml", "kind: Deployment");
    sources.dir("repo", "images.png");
    (sources, artifact(vec![copy("@repo/", "@artifact/")]))
}

/// A merge result keeps the executable bit of the file it merged into: bytes written
/// 0700 by the archive.
pub fn merge_into_executable() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["a", "b"]);
    sources.file("a", "values.yaml", "replicas: 1\nname: app\n");
    sources.file("b", "values.yaml", "replicas: 2\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = sources.root("a").join("values.yaml");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let ops = vec![
        copy("@a/values.yaml", "@artifact/values.yaml"),
        copy("@b/values.yaml", "@artifact/values.yaml").strategy(CopyStrategy::Merge),
    ];
    (sources, artifact(ops))
}

/// Empty directories, copied and nested, are archived as directories.
pub fn empty_directories() -> (Sources, OutputArtifact) {
    let sources = Sources::new(&["repo"]);
    sources.dir("repo", "empty");
    sources.dir("repo", "a/b/c");
    sources.file("repo", "a/x.yaml", "x: 1");
    (sources, artifact(vec![copy("@repo/", "@artifact/out")]))
}
