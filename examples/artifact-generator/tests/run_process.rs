//! `artifact-generator run` as a process, against a fake API server on 127.0.0.1: it
//! leads, becomes ready, serves artifacts, and on SIGTERM stops and releases its lease.
//!
//! The fake serves discovery, empty lists for every kind, watches that stay open with no
//! events, and one Lease kept in memory: enough for the process's start-up; the
//! reconcile flows themselves are tests/controller.rs's.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fs,
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        mpsc::{self, Receiver},
    },
    thread,
    time::Duration,
};

use serde_json::{Value, json};

/// What the fake API server saw of the Lease: each write's holder.
#[derive(Default)]
struct LeaseLog {
    lease: Option<Value>,
    holders: Vec<Option<String>>,
}

/// A fake API server on 127.0.0.1; returns its URL.
fn fake_api_server(leases: Arc<Mutex<LeaseLog>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let leases = Arc::clone(&leases);
            thread::spawn(move || serve_connection(stream, &leases));
        }
    });
    url
}

/// Answers the requests of one keep-alive connection.
fn serve_connection(stream: TcpStream, leases: &Mutex<LeaseLog>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            reader.read_line(&mut header).unwrap();
            if header == "\r\n" {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        let mut parts = request_line.split_whitespace();
        let (method, target) = (parts.next().unwrap(), parts.next().unwrap());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));

        if method == "GET" && query.split('&').any(|p| p == "watch=true" || p == "watch=1") {
            // A watch with nothing to tell: headers, then silence until the client goes.
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            );
            let _ = reader.read_line(&mut String::new()); // returns when the client closes
            return;
        }
        let (status, answer) = answer(method, path, &body, leases);
        let answer = answer.to_string();
        let response = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if stream.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn answer(method: &str, path: &str, body: &[u8], leases: &Mutex<LeaseLog>) -> (u16, Value) {
    let not_found =
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404});
    let resources = |gv: &str, kinds: &[&str]| {
        let resources: Vec<Value> = kinds
            .iter()
            .map(|kind| json!({"name": format!("{}s", kind.to_lowercase()), "singularName": "", "namespaced": true, "kind": kind, "verbs": ["get", "list", "watch"]}))
            .collect();
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
    };
    if path.contains("/leases") {
        let mut log = leases.lock().unwrap();
        return match method {
            "GET" => log.lease.clone().map_or((404, not_found), |lease| (200, lease)),
            "POST" | "PUT" => {
                let mut lease: Value = serde_json::from_slice(body).unwrap();
                let version = log.holders.len() + 1;
                lease["metadata"]["resourceVersion"] = version.to_string().into();
                let holder = lease["spec"]["holderIdentity"].as_str().map(str::to_owned);
                log.holders.push(holder);
                log.lease = Some(lease.clone());
                (if method == "POST" { 201 } else { 200 }, lease)
            }
            _ => (405, not_found),
        };
    }
    match (method, path) {
        ("GET", "/version") => (
            200,
            json!({"major": "1", "minor": "33", "gitVersion": "v1.33.1", "gitCommit": "", "gitTreeState": "", "buildDate": "", "goVersion": "", "compiler": "", "platform": "linux/amd64"}),
        ),
        ("GET", "/apis/source.extensions.fluxcd.io/v1beta1") => (
            200,
            resources("source.extensions.fluxcd.io/v1beta1", &["ArtifactGenerator"]),
        ),
        ("GET", "/apis/source.toolkit.fluxcd.io/v1") => (
            200,
            resources(
                "source.toolkit.fluxcd.io/v1",
                &[
                    "ExternalArtifact",
                    "GitRepository",
                    "OCIRepository",
                    "Bucket",
                    "HelmChart",
                ],
            ),
        ),
        // Every list is empty.
        ("GET", _) => (
            200,
            json!({"apiVersion": "v1", "kind": "List", "metadata": {"resourceVersion": "1"}, "items": []}),
        ),
        (_, _) => (404, not_found),
    }
}

/// The process's stderr, line by line.
fn lines_of(child: &mut Child) -> Receiver<String> {
    let stderr = child.stderr.take().unwrap();
    let (send, receive) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            if send.send(line.unwrap()).is_err() {
                return;
            }
        }
    });
    receive
}

/// Waits for the log line whose `msg` starts with `message`; fails after a minute (a
/// hang guard for a loaded machine).
fn wait_for(lines: &Receiver<String>, seen: &mut Vec<String>, message: &str) -> Value {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no {message:?} line in:\n{}", seen.join("\n")));
        seen.push(line.clone());
        let value: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
        if value["msg"].as_str().is_some_and(|m| m.starts_with(message)) {
            return value;
        }
    }
}

/// `GET path` over HTTP/1.1; the status code and body.
fn get(address: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = response.split_once("\r\n\r\n").unwrap().1.to_owned();
    (status, body)
}

fn kubeconfig(dir: &Path, server: &str) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\n\
             clusters: [{{name: t, cluster: {{server: \"{server}\"}}}}]\n\
             users: [{{name: t, user: {{token: t}}}}]\n\
             contexts: [{{name: t, context: {{cluster: t, user: t}}}}]\ncurrent-context: t\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn the_process_leads_serves_and_releases_its_lease_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let storage = dir.path().join("data");
    fs::create_dir(&storage).unwrap();
    fs::create_dir_all(storage.join("externalartifact/apps/app")).unwrap();
    fs::write(storage.join("externalartifact/apps/app/1.tar.gz"), b"stored").unwrap();
    let leases = Arc::new(Mutex::new(LeaseLog::default()));
    let server = fake_api_server(Arc::clone(&leases));

    let mut child = Command::new(env!("CARGO_BIN_EXE_artifact-generator"))
        .args([
            "run",
            "--enable-leader-election",
            "--leader-election-lease-duration=3s",
            "--leader-election-renew-deadline=2s",
            "--leader-election-retry-period=1s",
            "--storage-addr=127.0.0.1:0",
            "--storage-adv-addr=artifact-generator.flux-system.svc.cluster.local.",
            "--metrics-addr=127.0.0.1:0",
            "--health-addr=127.0.0.1:0",
        ])
        .arg(format!("--storage-path={}", storage.display()))
        .env("KUBECONFIG", kubeconfig(dir.path(), &server))
        .env("RUNTIME_NAMESPACE", "flux-system")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    let mut seen = Vec::new();

    let endpoints = wait_for(&lines, &mut seen, "probes and metrics listening");
    let health = endpoints["health"].as_str().unwrap().to_owned();
    let metrics = endpoints["metrics"].as_str().unwrap().to_owned();
    let leading = wait_for(&lines, &mut seen, "leading: serving artifacts and reconciling");
    let artifacts = leading["address"].as_str().unwrap().to_owned();

    // Ready once leading; the artifact server serves the storage.
    assert_eq!(get(&health, "/readyz").0, 200);
    assert_eq!(get(&health, "/healthz").0, 200);
    assert_eq!(
        get(&artifacts, "/externalartifact/apps/app/1.tar.gz"),
        (200, "stored".to_owned())
    );
    let (status, text) = get(&metrics, "/metrics");
    assert_eq!(status, 200);
    assert!(text.contains("flux_artifact_server_requests_total"), "{text}");
    // Reconcile metrics appear with the first reconcile (none here).
    assert!(text.contains("flux_artifact_archive_duration_seconds"), "{text}");
    // Held under the host name: the pod's name in a cluster.
    let holder = leases.lock().unwrap().holders.first().cloned().flatten();
    assert!(holder.is_some_and(|name| !name.is_empty()));

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(terminated.success());
    wait_for(&lines, &mut seen, "released the lease");
    let status = child.wait().unwrap();
    seen.extend(lines.try_iter());
    assert_eq!(status.code(), Some(0), "{}", seen.join("\n"));
    assert!(
        seen.iter().all(|line| !line.contains("\"level\":\"error\"")),
        "{}",
        seen.join("\n")
    );
    // Released: the last write clears the holder, so another replica takes over at once.
    assert_eq!(leases.lock().unwrap().holders.last(), Some(&None));
    // The ports are closed.
    assert!(TcpStream::connect(&artifacts).is_err());
    assert!(TcpStream::connect(&health).is_err());
}
