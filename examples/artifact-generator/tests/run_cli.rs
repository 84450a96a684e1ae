//! `artifact-generator run` as a Deployment or a person starts it, without a cluster:
//! its flags, its usage errors, and a clean exit when no API server answers.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod cli_support;

use std::{
    fs,
    io::Read,
    net::TcpListener,
    path::Path,
    process::{Command, ExitStatus, Stdio},
    thread,
    time::{Duration, Instant},
};

use cli_support::workspace;

/// Every flag of source-watcher's docs/README.md, and the SDK's artifact options.
const SOURCE_WATCHER_FLAGS: [&str; 27] = [
    "--artifact-digest-algo",
    "--artifact-retention-records",
    "--artifact-retention-ttl",
    "--concurrent",
    "--enable-leader-election",
    "--events-addr",
    "--health-addr",
    "--http-retry",
    "--interval-jitter-percentage",
    "--leader-election-lease-duration",
    "--leader-election-release-on-cancel",
    "--leader-election-renew-deadline",
    "--leader-election-retry-period",
    "--log-encoding",
    "--log-level",
    "--max-retry-delay",
    "--metrics-addr",
    "--min-retry-delay",
    "--no-cross-namespace-refs",
    "--reconciliation-timeout",
    "--requeue-dependency",
    "--storage-addr",
    "--storage-adv-addr",
    "--storage-path",
    "--watch-all-namespaces",
    "--watch-label-selector",
    "--feature-gates",
];

/// The binary with an environment of its own: no inherited kubeconfig, namespace or
/// storage settings.
fn run_command(kubeconfig: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_artifact-generator"));
    command
        .current_dir(workspace())
        .arg("run")
        .env_remove("RUNTIME_NAMESPACE")
        .env_remove("STORAGE_PATH")
        .env_remove("STORAGE_ADDRESS")
        .env_remove("STORAGE_ADV_ADDR")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .env("KUBECONFIG", kubeconfig);
    command
}

/// Runs `command` to its end; fails the test if it is still running after `limit` (a
/// hang guard, generous for a loaded machine: the process itself gives up on the API
/// server after 10 seconds at most).
fn run_to_end(mut command: Command, limit: Duration) -> (ExitStatus, String) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).unwrap();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("still running after {limit:?}: {}", reader.join().unwrap());
        }
        thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap())
}

/// A kubeconfig whose API server is a port on 127.0.0.1 that nothing listens on.
fn kubeconfig_without_cluster(dir: &Path) -> (std::path::PathBuf, u16) {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    }; // closed again here
    let path = dir.join("kubeconfig");
    fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: test, cluster: {{server: \"https://127.0.0.1:{port}\"}}}}]\n\
             users: [{{name: test, user: {{token: not-a-real-token}}}}]\n\
             contexts: [{{name: test, context: {{cluster: test, user: test, namespace: flux-system}}}}]\n\
             current-context: test\n"
        ),
    )
    .unwrap();
    (path, port)
}

/// Arguments that keep the process on loopback and in `dir`.
fn local_args(dir: &Path) -> Vec<String> {
    let storage = dir.join("data");
    fs::create_dir_all(&storage).unwrap();
    vec![
        format!("--storage-path={}", storage.display()),
        "--storage-addr=127.0.0.1:0".into(),
        "--metrics-addr=127.0.0.1:0".into(),
        "--health-addr=127.0.0.1:0".into(),
    ]
}

fn log_lines(stderr: &str) -> Vec<serde_json::Value> {
    stderr
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"))
        })
        .collect()
}

#[test]
fn help_lists_every_flag_of_source_watcher() {
    let output = Command::new(env!("CARGO_BIN_EXE_artifact-generator"))
        .args(["run", "--help"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for flag in SOURCE_WATCHER_FLAGS {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
    assert!(help.contains("RUNTIME_NAMESPACE"), "{help}");
}

#[test]
fn without_a_reachable_cluster_it_logs_its_configuration_and_exits_with_one_error() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, port) = kubeconfig_without_cluster(dir.path());
    let mut command = run_command(&kubeconfig);
    command.args(local_args(dir.path()));
    let (status, stderr) = run_to_end(command, Duration::from_secs(60));

    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let lines = log_lines(&stderr);
    let starting = lines
        .iter()
        .find(|line| {
            line["msg"]
                .as_str()
                .unwrap()
                .starts_with("starting artifact-generator")
        })
        .unwrap_or_else(|| panic!("no configuration logged: {stderr}"));
    assert_eq!(starting["api_server"], format!("https://127.0.0.1:{port}/"));
    assert_eq!(starting["runtime_namespace"], "flux-system");
    assert_eq!(starting["concurrent"], 10);
    let errors: Vec<_> = lines.iter().filter(|line| line["level"] == "error").collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    let error = errors[0]["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "cannot reach the Kubernetes API server at https://127.0.0.1:{port}/: "
        )),
        "{error}"
    );
    assert!(error.contains("Connection refused"), "{error}");
}

#[test]
fn with_leader_election_an_unreachable_cluster_still_exits_instead_of_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig_without_cluster(dir.path());
    let mut command = run_command(&kubeconfig);
    command
        .args(local_args(dir.path()))
        .arg("--enable-leader-election");
    let (status, stderr) = run_to_end(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the Kubernetes API server"),
        "{stderr}"
    );
}

#[test]
fn without_a_kubeconfig_it_says_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = run_command(&dir.path().join("missing-kubeconfig"));
    command.args(local_args(dir.path())).arg("--log-encoding=console");
    let (status, stderr) = run_to_end(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let last = stderr.lines().last().unwrap();
    assert!(last.contains("ERROR"), "{stderr}");
    assert!(last.contains("missing-kubeconfig"), "{stderr}");
    assert!(last.contains("in-cluster"), "{stderr}");
}

#[test]
fn a_missing_storage_directory_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig_without_cluster(dir.path());
    let mut command = run_command(&kubeconfig);
    let mut args = local_args(dir.path());
    args[0] = format!("--storage-path={}", dir.path().join("nowhere").display());
    command.args(args);
    let (status, stderr) = run_to_end(command, Duration::from_secs(60));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nowhere"), "{stderr}");
}

#[test]
fn a_loopback_artifact_address_is_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig_without_cluster(dir.path());
    let mut command = run_command(&kubeconfig);
    command.args(local_args(dir.path()));
    let (_, stderr) = run_to_end(command, Duration::from_secs(60));
    let warning = log_lines(&stderr)
        .into_iter()
        .find(|line| line["level"] == "warn")
        .unwrap_or_else(|| panic!("no warning: {stderr}"));
    assert_eq!(warning["url"], "http://127.0.0.1:0/");
    assert!(warning["msg"].as_str().unwrap().contains("--storage-adv-addr"));
}

#[test]
fn the_advertised_artifact_address_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig_without_cluster(dir.path());
    let mut command = run_command(&kubeconfig);
    command
        .args(local_args(dir.path()))
        .arg("--storage-adv-addr=artifact-generator.flux-system.svc.cluster.local.");
    let (_, stderr) = run_to_end(command, Duration::from_secs(60));
    let lines = log_lines(&stderr);
    assert!(lines.iter().all(|line| line["level"] != "warn"), "{stderr}");
    assert!(
        lines
            .iter()
            .any(|line| line["url"] == "http://artifact-generator.flux-system.svc.cluster.local./"),
        "{stderr}"
    );
}

/// Each bad value: exit status 2 (a usage error, before anything starts), and a message
/// naming the flag or the value and why.
#[test]
fn bad_flag_values_are_usage_errors_that_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let (kubeconfig, _) = kubeconfig_without_cluster(dir.path());
    let cases: [(&[&str], &str); 10] = [
        (&["--log-encoding=logfmt"], "--log-encoding"),
        (&["--log-level=verbose"], "--log-level"),
        (&["--watch-all-namespaces=yes"], "--watch-all-namespaces"),
        (&["--requeue-dependency=5"], "--requeue-dependency"),
        (&["--concurrent=0"], "--concurrent"),
        (
            &["--interval-jitter-percentage=100"],
            "--interval-jitter-percentage",
        ),
        (
            &["--feature-gates=Turbo=true"],
            "feature gate \"Turbo\" is not supported",
        ),
        (&["--watch-label-selector=team in (a"], "expected ',' or ')'"),
        (
            &["--min-retry-delay=1m", "--max-retry-delay=1s"],
            "--min-retry-delay (60s) is longer than --max-retry-delay (1s)",
        ),
        (&["--artifact-retention-records=0"], "artifact-retention-records"),
    ];
    for (args, expected) in cases {
        let mut command = run_command(&kubeconfig);
        command.args(args);
        let (status, stderr) = run_to_end(command, Duration::from_secs(60));
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
}
