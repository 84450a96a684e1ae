//! The health and metrics endpoint over real HTTP on 127.0.0.1: probe answers as
//! readiness changes, the metrics exposition, and shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg(feature = "probes")]

use std::{net::SocketAddr, time::Duration};

use flux_artifact_runtime::endpoint::{Endpoint, EndpointError, Readiness};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection, read to the end.
async fn request(addr: SocketAddr, method: &str, path: &str, extra_headers: &str) -> Answer {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra_headers}Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).await.unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_ascii_lowercase(), value.trim().to_owned())
        })
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    request(addr, "GET", path, "").await
}

struct Serving {
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn serve(endpoint: Endpoint) -> Serving {
    let addr = endpoint.local_addr();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(endpoint.serve(async {
        let _ = stopped.await;
    }));
    Serving { addr, stop, task }
}

async fn bind() -> Endpoint {
    Endpoint::bind("127.0.0.1:0").await.unwrap()
}

#[tokio::test]
async fn healthz_answers_ok() {
    let serving = serve(bind().await).await;
    let answer = get(serving.addr, "/healthz").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "ok\n");
    assert_eq!(answer.header("content-type"), Some("text/plain; charset=utf-8"));
}

#[tokio::test]
async fn readyz_follows_the_checks() {
    let readiness = Readiness::new();
    let integrity = readiness.check("integrity");
    let leader = readiness.check("leader");
    let serving = serve(bind().await.with_readiness(readiness)).await;

    let not_ready = get(serving.addr, "/readyz").await;
    assert_eq!(not_ready.status, 503);
    assert_eq!(
        not_ready.body,
        "[-]integrity not ready\n[-]leader not ready\nreadyz check failed\n"
    );

    integrity.set_ready(true);
    let half = get(serving.addr, "/readyz").await;
    assert_eq!(half.status, 503);
    assert_eq!(
        half.body,
        "[+]integrity ok\n[-]leader not ready\nreadyz check failed\n"
    );

    leader.set_ready(true);
    let ready = get(serving.addr, "/readyz").await;
    assert_eq!(ready.status, 200);
    assert_eq!(ready.body, "ok\n");

    leader.set_ready(false);
    assert_eq!(
        get(serving.addr, "/readyz").await.status,
        503,
        "losing the lease makes the replica unready"
    );
}

#[tokio::test]
async fn readyz_without_checks_is_ready() {
    let serving = serve(bind().await).await;
    assert_eq!(get(serving.addr, "/readyz").await.status, 200);
}

#[tokio::test]
async fn head_requests_are_answered_without_a_body() {
    let serving = serve(bind().await).await;
    let answer = request(serving.addr, "HEAD", "/healthz", "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "");
}

#[tokio::test]
async fn unknown_paths_are_not_found() {
    let serving = serve(bind().await).await;
    assert_eq!(get(serving.addr, "/").await.status, 404);
    assert_eq!(get(serving.addr, "/healthz/extra").await.status, 404);
}

#[tokio::test]
async fn metrics_are_not_found_without_a_registry() {
    let serving = serve(bind().await).await;
    assert_eq!(get(serving.addr, "/metrics").await.status, 404);
}

#[tokio::test]
async fn other_methods_are_not_allowed() {
    let serving = serve(bind().await).await;
    let answer = request(serving.addr, "POST", "/readyz", "Content-Length: 0\r\n").await;
    assert_eq!(answer.status, 405);
    assert_eq!(answer.header("allow"), Some("GET, HEAD"));
}

#[tokio::test]
async fn serve_returns_after_shutdown_and_stops_listening() {
    let serving = serve(bind().await).await;
    assert_eq!(get(serving.addr, "/healthz").await.status, 200);

    serving.stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), serving.task)
        .await
        .expect("serve returns once shut down")
        .unwrap();

    assert!(
        TcpStream::connect(serving.addr).await.is_err(),
        "the port is released"
    );
}

#[tokio::test]
async fn a_taken_address_is_an_error_naming_it() {
    let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = taken.local_addr().unwrap().to_string();

    let error = Endpoint::bind(&address).await.unwrap_err();

    assert!(matches!(&error, EndpointError::Bind { address: a, .. } if *a == address));
    assert_eq!(error.to_string(), format!("failed to listen on {address:?}"));
    assert!(std::error::Error::source(&error).is_some());
}

#[cfg(feature = "metrics")]
mod metrics {
    use super::*;
    use std::sync::Arc;

    use flux_artifact_runtime::metrics::{ReconcileMetrics, ReconcileResult};
    use k8s_openapi::api::core::v1::ConfigMap;
    use prometheus_client::{metrics::counter::Counter, registry::Registry};

    fn registry() -> Arc<Registry> {
        let mut registry = Registry::default();
        let metrics = ReconcileMetrics::new(&mut registry);
        let mut object = ConfigMap::default();
        object.metadata.namespace = Some("apps".into());
        object.metadata.name = Some("podinfo".into());
        metrics.observe(&object, ReconcileResult::RequeueAfter, Duration::from_millis(250));
        // What the server and storage crates register beside it.
        let served: Counter = Counter::default();
        served.inc_by(3);
        registry.register("flux_artifact_server_requests", "Requests served", served);
        Arc::new(registry)
    }

    #[tokio::test]
    async fn metrics_are_served_in_prometheus_text_format() {
        let serving = serve(bind().await.with_metrics(registry())).await;

        let answer = get(serving.addr, "/metrics").await;

        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("content-type"),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        for line in [
            "# TYPE controller_runtime_reconcile_total counter",
            r#"controller_runtime_reconcile_total{controller="configmap",result="requeue_after"} 1"#,
            "# TYPE gotk_reconcile_duration_seconds histogram",
            r#"gotk_reconcile_duration_seconds_count{kind="ConfigMap",name="podinfo",namespace="apps"} 1"#,
            "flux_artifact_server_requests_total 3",
        ] {
            assert!(
                answer.body.lines().any(|l| l == line),
                "missing {line:?} in\n{}",
                answer.body
            );
        }
        assert!(!answer.body.contains("# EOF"));
    }

    #[tokio::test]
    async fn metrics_are_served_as_openmetrics_when_asked() {
        let serving = serve(bind().await.with_metrics(registry())).await;

        let accept = "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n";
        let answer = request(serving.addr, "GET", "/metrics", accept).await;

        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.header("content-type"),
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
        );
        assert!(answer.body.ends_with("# EOF\n"), "{}", answer.body);
        assert!(answer.body.contains(
            r#"controller_runtime_reconcile_total{controller="configmap",result="requeue_after"} 1"#
        ));
    }

    #[tokio::test]
    async fn one_endpoint_can_serve_probes_and_metrics() {
        let readiness = Readiness::new();
        let serving = serve(
            bind()
                .await
                .with_readiness(readiness.clone())
                .with_metrics(registry()),
        )
        .await;
        readiness.check("leader");
        assert_eq!(get(serving.addr, "/readyz").await.status, 503);
        assert_eq!(get(serving.addr, "/metrics").await.status, 200);
        assert_eq!(get(serving.addr, "/healthz").await.status, 200);
    }

    #[tokio::test]
    async fn serve_metrics_is_one_call() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = taken.local_addr().unwrap().to_string();
        let error = flux_artifact_runtime::endpoint::serve_metrics(&address, registry(), async {})
            .await
            .unwrap_err();
        assert!(matches!(error, EndpointError::Bind { .. }));
    }
}
