//! `artifact-generator build`, run as users run it: the README's first command, a
//! second run, the output formats, `--serve`, and how sources are given.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::{
    collections::BTreeMap,
    fs,
    io::{BufRead, BufReader, Read},
    path::Path,
    process::{Child, Stdio},
    sync::{Arc, Mutex},
    thread,
    time::{Duration, Instant, SystemTime},
};

use cli_support::{build, objects, sample, sample_args, stderr, workspace};
use flux_artifact::{
    config::Options,
    fetch::ArchiveFetcher,
    kube::ExternalArtifact,
    storage::{Storage, UntarOptions, untar},
};

/// The first `cargo run` command of the README's code blocks, as arguments of the
/// binary (what follows `--`), continuation lines joined.
fn readme_first_command() -> Vec<String> {
    let readme = fs::read_to_string(workspace().join("README.md")).unwrap();
    let mut lines = readme
        .lines()
        .skip_while(|l| !l.trim_start().starts_with("cargo run"));
    let mut command = String::new();
    for line in lines.by_ref() {
        let line = line.trim();
        match line.strip_suffix('\\') {
            Some(start) => command.push_str(start),
            None => {
                command.push_str(line);
                break;
            }
        }
        command.push(' ');
    }
    let (cargo, args) = command.split_once(" -- ").expect("cargo run ... -- ARGS");
    assert_eq!(
        cargo.split_whitespace().collect::<Vec<_>>(),
        ["cargo", "run", "-p", "artifact-generator"],
        "the README's first command runs the generator: {command}"
    );
    args.split_whitespace().map(str::to_owned).collect()
}

fn storage(path: &Path) -> Storage {
    Storage::new(&Options {
        storage_path: path.into(),
        ..Options::default()
    })
    .unwrap()
}

fn external_artifacts(stdout: &[u8]) -> Vec<ExternalArtifact> {
    objects(stdout)
        .into_iter()
        .map(|o| serde_json::from_value(o).unwrap())
        .collect()
}

fn name(object: &ExternalArtifact) -> &str {
    object.metadata.name.as_deref().unwrap()
}

/// The files of a stored artifact, by path, with their content.
fn content(storage: &Storage, object: &ExternalArtifact) -> BTreeMap<String, String> {
    let artifact = object.status.as_ref().unwrap().artifact.as_ref().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = fs::File::open(storage.local_path(artifact).unwrap()).unwrap();
    untar(file, dir.path(), &UntarOptions::default()).unwrap();
    walkdir::WalkDir::new(dir.path())
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e
                .path()
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, fs::read_to_string(e.path()).unwrap())
        })
        .collect()
}

#[test]
fn the_readmes_first_command_builds_the_sample() {
    let storage_dir = tempfile::tempdir().unwrap();
    let mut args = readme_first_command();
    assert_eq!(args[0], "build");
    args.extend(["--storage-path".into(), storage_dir.path().display().to_string()]);
    let args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    let output = build(&workspace(), &args, "");
    assert!(output.status.success(), "{}", stderr(&output));

    let objects = external_artifacts(&output.stdout);
    let names: Vec<_> = objects.iter().map(name).collect();
    assert_eq!(
        names,
        [
            "podinfo-chart-production",
            "podinfo-config-production",
            "podinfo-chart-staging",
            "podinfo-config-staging"
        ]
    );
    let storage = storage(storage_dir.path());
    for object in &objects {
        assert_eq!(object.metadata.namespace.as_deref(), Some("apps"));
        let labels = object.metadata.labels.as_ref().unwrap();
        assert_eq!(labels["app.kubernetes.io/part-of"], "podinfo");
        assert_eq!(labels["app.kubernetes.io/managed-by"], "artifact-generator");
        let source = object.spec.source_ref.as_ref().unwrap();
        assert_eq!(
            (source.kind.as_str(), source.name.as_str()),
            ("ArtifactGenerator", "podinfo")
        );
        let status = object.status.as_ref().unwrap();
        let artifact = status.artifact.as_ref().unwrap();
        storage.verify_artifact(artifact).unwrap();
        assert_eq!(artifact.revision, format!("latest@{}", artifact.digest));
        assert!(
            artifact
                .url
                .starts_with("http://127.0.0.1:9090/externalartifact/apps/")
        );
        assert!(
            artifact.metadata["org.opencontainers.image.revision"].starts_with("latest@sha256:"),
            "originRevision: @fleet"
        );
        let ready = &status.conditions.as_ref().unwrap()[0];
        assert_eq!((ready.type_.as_str(), ready.status.as_str()), ("Ready", "True"));
    }
    assert_eq!(
        objects[0].metadata.labels.as_ref().unwrap()["cluster"],
        "production"
    );
    let progress = stderr(&output)
        .lines()
        .filter(|l| l.starts_with("built apps/"))
        .count();
    assert_eq!(progress, 4, "{}", stderr(&output));
}

#[test]
fn the_sample_chart_gets_the_clusters_values() {
    let storage_dir = tempfile::tempdir().unwrap();
    let args = sample_args(storage_dir.path());
    let output = build(
        &workspace(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let objects = external_artifacts(&output.stdout);
    let storage = storage(storage_dir.path());

    let chart = content(&storage, &objects[0]);
    assert_eq!(
        chart.keys().collect::<Vec<_>>(),
        [
            "podinfo/Chart.yaml",
            "podinfo/templates/deployment.yaml",
            "podinfo/templates/service.yaml",
            "podinfo/values.yaml"
        ]
    );
    let values: serde_json::Value = serde_yaml_ng::from_str(&chart["podinfo/values.yaml"]).unwrap();
    assert_eq!(values["replicaCount"], 3, "production's value");
    assert_eq!(values["image"]["tag"], "6.9.0", "the chart's value");
    assert_eq!(values["resources"]["limits"]["memory"], "128Mi");

    let config = content(&storage, &objects[1]);
    assert_eq!(
        config.keys().collect::<Vec<_>>(),
        ["kustomization.yaml", "namespace.yaml", "podinfo-release.yaml"],
        "README.md and the values are excluded"
    );
}

fn mtimes(root: &Path) -> BTreeMap<String, SystemTime> {
    walkdir::WalkDir::new(root)
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            (
                e.path().display().to_string(),
                e.metadata().unwrap().modified().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_second_run_rewrites_nothing() {
    let storage_dir = tempfile::tempdir().unwrap();
    let args = sample_args(storage_dir.path());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = build(&workspace(), &args, "");
    assert!(first.status.success(), "{}", stderr(&first));
    let files = mtimes(storage_dir.path());
    // Enough for a rewrite to show in the modification times.
    thread::sleep(Duration::from_millis(1100));
    let second = build(&workspace(), &args, "");
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(
        String::from_utf8(first.stdout).unwrap(),
        String::from_utf8(second.stdout).unwrap(),
        "same digests, revisions and times"
    );
    assert_eq!(files, mtimes(storage_dir.path()));
}

#[test]
fn json_output_is_a_list_of_the_same_objects() {
    let storage_dir = tempfile::tempdir().unwrap();
    let mut args = sample_args(storage_dir.path());
    let yaml = build(
        &workspace(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    args.extend(["-o".into(), "json".into()]);
    let json = build(
        &workspace(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    assert!(json.status.success(), "{}", stderr(&json));
    let list: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(list["apiVersion"], "v1");
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"], serde_json::Value::Array(objects(&yaml.stdout)));
}

#[test]
fn generators_can_come_from_stdin() {
    let storage_dir = tempfile::tempdir().unwrap();
    let mut args = sample_args(storage_dir.path());
    args[1] = "-".into();
    let manifest = fs::read_to_string(sample().join("generators.yaml")).unwrap();
    let output = build(
        &workspace(),
        &args.iter().map(String::as_str).collect::<Vec<_>>(),
        &manifest,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(external_artifacts(&output.stdout).len(), 4);
}

/// A generator over one directory source, with its objects' namespace and metadata.
const SIMPLE: &str = r#"
apiVersion: source.extensions.fluxcd.io/v1beta1
kind: ArtifactGenerator
metadata: { name: simple }
spec:
  sources: [{ alias: repo, kind: GitRepository, name: repo }]
  artifacts:
    - name: simple
      revision: "@repo"
      copy: [{ from: "@repo/", to: "@artifact/" }]
"#;

fn repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path().join("deploy")).unwrap();
    fs::write(dir.path().join("deploy/app.yaml"), "kind: ConfigMap\n").unwrap();
    dir
}

fn run_simple(cwd: &Path, extra: &[&str]) -> std::process::Output {
    let repo = repo();
    let source = format!("repo={}", repo.path().display());
    let mut args = vec!["-f", "-", "--source", &source];
    args.extend_from_slice(extra);
    build(cwd, &args, SIMPLE)
}

#[test]
fn the_namespace_is_the_generators_else_the_flag_else_default() {
    let cwd = tempfile::tempdir().unwrap();
    let output = run_simple(cwd.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let object = &external_artifacts(&output.stdout)[0];
    assert_eq!(object.metadata.namespace.as_deref(), Some("default"));
    assert_eq!(
        object.spec.source_ref.as_ref().unwrap().namespace.as_deref(),
        Some("default")
    );

    let output = run_simple(cwd.path(), &["--namespace", "team-a"]);
    assert_eq!(
        external_artifacts(&output.stdout)[0]
            .metadata
            .namespace
            .as_deref(),
        Some("team-a")
    );

    let repo = repo();
    let source = format!("repo={}", repo.path().display());
    let own = SIMPLE.replace(
        "metadata: { name: simple }",
        "metadata: { name: simple, namespace: own }",
    );
    let output = build(
        cwd.path(),
        &["-f", "-", "--source", &source, "--namespace", "team-a"],
        &own,
    );
    assert_eq!(
        external_artifacts(&output.stdout)[0]
            .metadata
            .namespace
            .as_deref(),
        Some("own")
    );
}

#[test]
fn the_default_storage_is_a_directory_under_the_current_one() {
    let cwd = tempfile::tempdir().unwrap();
    let output = run_simple(cwd.path(), &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let artifact = external_artifacts(&output.stdout)[0]
        .status
        .clone()
        .unwrap()
        .artifact
        .unwrap();
    assert!(cwd.path().join("artifact-storage").join(&artifact.path).is_file());
    assert!(artifact.url.starts_with("http://127.0.0.1:9090/"));
}

#[test]
fn source_revision_sets_what_revision_takes() {
    let cwd = tempfile::tempdir().unwrap();
    let output = run_simple(cwd.path(), &["--source-revision", "repo=main@sha1:0123abcd"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let artifact = external_artifacts(&output.stdout)[0]
        .status
        .clone()
        .unwrap()
        .artifact
        .unwrap();
    assert_eq!(artifact.revision, "main@sha1:0123abcd");
}

#[test]
fn without_source_revision_a_directory_stands_for_its_content_digest() {
    let cwd = tempfile::tempdir().unwrap();
    let first = run_simple(cwd.path(), &[]);
    let second = run_simple(cwd.path(), &[]);
    let revision = |output: &std::process::Output| {
        external_artifacts(&output.stdout)[0]
            .status
            .clone()
            .unwrap()
            .artifact
            .unwrap()
            .revision
    };
    assert!(revision(&first).starts_with("latest@sha256:"));
    assert_eq!(revision(&first), revision(&second), "same tree, same revision");
}

#[test]
fn a_source_for_one_generator_wins_over_a_source_for_all() {
    let cwd = tempfile::tempdir().unwrap();
    let (wanted, other) = (repo(), tempfile::tempdir().unwrap());
    fs::write(other.path().join("other.yaml"), "kind: Secret\n").unwrap();
    let for_all = format!("repo={}", other.path().display());
    let for_simple = format!("simple/repo={}", wanted.path().display());
    let output = build(
        cwd.path(),
        &["-f", "-", "--source", &for_simple, "--source", &for_all],
        SIMPLE,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let object = &external_artifacts(&output.stdout)[0];
    let storage = storage(&cwd.path().join("artifact-storage"));
    assert!(content(&storage, object).contains_key("deploy/app.yaml"));
}

#[test]
fn a_directory_source_leaves_out_git_and_symlinks() {
    let cwd = tempfile::tempdir().unwrap();
    let repo = repo();
    fs::create_dir_all(repo.path().join(".git")).unwrap();
    fs::write(repo.path().join(".git/HEAD"), "ref: refs/heads/main\n").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink("/etc/hostname", repo.path().join("deploy/link.yaml")).unwrap();
    let source = format!("repo={}", repo.path().display());
    let output = build(cwd.path(), &["-f", "-", "--source", &source], SIMPLE);
    assert!(output.status.success(), "{}", stderr(&output));
    let storage = storage(&cwd.path().join("artifact-storage"));
    let files = content(&storage, &external_artifacts(&output.stdout)[0]);
    assert_eq!(files.keys().collect::<Vec<_>>(), ["deploy/app.yaml"]);
}

#[test]
fn a_tarball_source_is_extracted() {
    let cwd = tempfile::tempdir().unwrap();
    let tarball = format!("repo={}", sample().join("chart/podinfo-6.9.0.tgz").display());
    let generator = SIMPLE.replace("from: \"@repo/\"", "from: \"@repo/podinfo/\"");
    let output = build(cwd.path(), &["-f", "-", "--source", &tarball], &generator);
    assert!(output.status.success(), "{}", stderr(&output));
    let storage = storage(&cwd.path().join("artifact-storage"));
    let files = content(&storage, &external_artifacts(&output.stdout)[0]);
    assert!(files.contains_key("podinfo/Chart.yaml"), "{:?}", files.keys());
}

#[test]
fn warnings_go_to_stderr() {
    let cwd = tempfile::tempdir().unwrap();
    let repo = repo();
    let source = format!("repo={}", repo.path().display());
    let unused = format!("nope={}", repo.path().display());
    let generator = SIMPLE.replace("revision: \"@repo\"", "originRevision: \"@gone\"");
    let output = build(
        cwd.path(),
        &["-f", "-", "--source", &source, "--source", &unused],
        &generator,
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let stderr = stderr(&output);
    assert!(
        stderr.contains("warning: generator default/simple: spec.artifacts[0].originRevision: source alias \"gone\" not found"),
        "{stderr}"
    );
    assert!(stderr.contains("warning: --source nope="), "{stderr}");
}

#[test]
fn help_names_the_default_storage_directory() {
    let output = cli_support::command(&workspace())
        .args(["build", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.contains("[default: artifact-storage]"), "{help}");
    assert!(help.contains("[default: 127.0.0.1:9090]"), "{help}");
}

#[test]
fn the_default_storage_directory_is_ignored_by_git() {
    let gitignore = fs::read_to_string(workspace().join(".gitignore")).unwrap();
    assert!(
        gitignore
            .lines()
            .any(|l| l == "artifact-storage/" || l == "/artifact-storage/"),
        "{gitignore}"
    );
}

/// A `build --serve` child: its stdout collected as it comes, its stderr lines.
struct Serving {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    address: String,
    storage_dir: tempfile::TempDir,
}

impl Serving {
    fn start() -> Serving {
        let storage_dir = tempfile::tempdir().unwrap();
        let mut child = cli_support::command(&workspace())
            .arg("build")
            .args(sample_args(storage_dir.path()))
            .args(["--storage-addr", "127.0.0.1:0", "--serve", "-o", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let mut out = child.stdout.take().unwrap();
        let sink = Arc::clone(&stdout);
        thread::spawn(move || {
            let mut buffer = [0; 4096];
            while let Ok(n) = out.read(&mut buffer) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        });
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let address = loop {
            let line = lines.next().expect("the server says where it serves").unwrap();
            if let Some(rest) = line.strip_prefix("serving ") {
                let (dir, address) = rest.split_once(" on http://").unwrap();
                assert_eq!(Path::new(dir), storage_dir.path());
                break address.to_owned();
            }
        };
        thread::spawn(move || lines.for_each(drop));
        Serving {
            child,
            stdout,
            address,
            storage_dir,
        }
    }

    /// The printed list: complete once the serving line is out, but the reader thread
    /// may still be moving it.
    fn objects(&self) -> Vec<ExternalArtifact> {
        let started = Instant::now();
        loop {
            let bytes = self.stdout.lock().unwrap().clone();
            if let Ok(list) = serde_json::from_slice::<serde_json::Value>(&bytes) {
                return serde_json::from_value(list["items"].clone()).unwrap();
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "no complete JSON on stdout"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_serves_what_it_prints() {
    let serving = Serving::start();
    assert!(!serving.address.ends_with(":0"), "{}", serving.address);
    let objects = serving.objects();
    assert_eq!(objects.len(), 4);
    let fetcher = ArchiveFetcher::new();
    let consumer = tempfile::tempdir().unwrap();
    for object in &objects {
        let artifact = object.status.as_ref().unwrap().artifact.as_ref().unwrap();
        assert!(
            artifact.url.starts_with(&format!("http://{}/", serving.address)),
            "{} names the bound port",
            artifact.url
        );
        let fetched = fetcher
            .fetch(
                &artifact.url,
                &artifact.digest,
                consumer.path().join(name(object)),
            )
            .await
            .unwrap();
        assert!(fetched.extracted.files > 0);
    }
    assert!(serving.storage_dir.path().is_dir());
    assert!(serving.terminate().success(), "a graceful shutdown exits 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_url_source_is_downloaded_and_verified() {
    let serving = Serving::start();
    let objects = serving.objects();
    let chart = objects[0].status.clone().unwrap().artifact.unwrap();
    let cwd = tempfile::tempdir().unwrap();
    let generator = SIMPLE.replace("from: \"@repo/\"", "from: \"@repo/podinfo/\"");

    let source = format!("repo={}#{}", chart.url, chart.digest);
    let output = build(cwd.path(), &["-f", "-", "--source", &source], &generator);
    assert!(output.status.success(), "{}", stderr(&output));
    let object = &external_artifacts(&output.stdout)[0];
    let files = content(&storage(&cwd.path().join("artifact-storage")), object);
    assert!(files.contains_key("podinfo/values.yaml"), "{:?}", files.keys());
    assert_eq!(
        object.status.clone().unwrap().artifact.unwrap().revision,
        format!("latest@{}", chart.digest),
        "revision: @repo is the downloaded artifact's digest"
    );

    let wrong = format!("repo={}#sha256:{}", chart.url, "0".repeat(64));
    let output = build(cwd.path(), &["-f", "-", "--source", &wrong], &generator);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(stderr.starts_with("error[source-fetch-failed]: "), "{stderr}");
    assert!(stderr.contains("doesn't match"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(serving.terminate().success());
}
