//! Server metrics (feature `metrics`): what requests and connections do to them.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{
    num::NonZeroUsize,
    time::{Duration, Instant},
};

use common::{get, pattern, read_until_closed, request, root_with, start_with};
use flux_artifact_server::ServerMetrics;
use prometheus_client::registry::Registry;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// Metrics registered in a fresh registry.
fn registered() -> (ServerMetrics, Registry) {
    let metrics = ServerMetrics::new();
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    (metrics, registry)
}

/// The value of one sample (`name` or `name{labels}`), 0 when absent.
fn sample(registry: &Registry, series: &str) -> f64 {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |value| value.parse().unwrap())
}

/// Waits for a sample to reach `value` (the server updates gauges as connections end).
async fn eventually(registry: &Registry, series: &str, value: f64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while sample(registry, series) != value {
        assert!(
            Instant::now() < deadline,
            "{series} is {}, expected {value}",
            sample(registry, series)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn requests_are_counted_by_method_and_status() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"0123456789")]);
    let (metrics, registry) = registered();
    let server = start_with(root.path(), |s| s.with_metrics(metrics)).await;
    get(server.addr, "/k/ns/n/a.tar.gz").await;
    get(server.addr, "/k/ns/n/a.tar.gz?x=1").await;
    request(server.addr, "HEAD", "/k/ns/n/a.tar.gz", &[]).await;
    get(server.addr, "/k/ns/n/missing.tar.gz").await;
    get(server.addr, "/../x").await;
    request(server.addr, "DELETE", "/k/ns/n/a.tar.gz", &[]).await;
    let mut garbage = TcpStream::connect(server.addr).await.unwrap();
    garbage.write_all(b"\x16\x03\x01 not http\r\n\r\n").await.unwrap();
    read_until_closed(&mut garbage, Duration::from_secs(5))
        .await
        .unwrap();

    let requests = "flux_artifact_server_requests_total";
    assert_eq!(
        sample(&registry, &format!("{requests}{{method=\"GET\",status=\"200\"}}")),
        2.0
    );
    assert_eq!(
        sample(
            &registry,
            &format!("{requests}{{method=\"HEAD\",status=\"200\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(&registry, &format!("{requests}{{method=\"GET\",status=\"404\"}}")),
        1.0
    );
    assert_eq!(
        sample(&registry, &format!("{requests}{{method=\"GET\",status=\"400\"}}")),
        1.0
    );
    assert_eq!(
        sample(
            &registry,
            &format!("{requests}{{method=\"OTHER\",status=\"405\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(
            &registry,
            &format!("{requests}{{method=\"OTHER\",status=\"400\"}}")
        ),
        1.0
    );
    assert_eq!(
        sample(&registry, "flux_artifact_server_request_duration_seconds_count"),
        7.0
    );
}

#[tokio::test]
async fn sent_bytes_count_the_body_bytes_sent() {
    let content = pattern(300_000);
    let root = root_with(&[("k/ns/n/a.tar.gz", &content)]);
    let (metrics, registry) = registered();
    let server = start_with(root.path(), |s| s.with_metrics(metrics)).await;
    assert_eq!(get(server.addr, "/k/ns/n/a.tar.gz").await.body.len(), 300_000);
    let range = request(server.addr, "GET", "/k/ns/n/a.tar.gz", &[("Range", "bytes=0-2")]).await;
    assert_eq!(range.body.len(), 3);
    request(server.addr, "HEAD", "/k/ns/n/a.tar.gz", &[]).await;
    assert_eq!(
        sample(&registry, "flux_artifact_server_sent_bytes_total"),
        300_003.0
    );
}

#[tokio::test]
async fn connections_and_requests_in_flight_are_gauges() {
    let root = root_with(&[("k/ns/n/big.tar.gz", &pattern(32 << 20))]);
    let (metrics, registry) = registered();
    let server = start_with(root.path(), |s| s.with_metrics(metrics)).await;
    let mut downloading = TcpStream::connect(server.addr).await.unwrap();
    downloading
        .write_all(b"GET /k/ns/n/big.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    assert!(downloading.read(&mut buf).await.unwrap() > 0);
    let idle = TcpStream::connect(server.addr).await.unwrap();
    eventually(&registry, "flux_artifact_server_connections", 2.0).await;
    eventually(&registry, "flux_artifact_server_requests_in_flight", 1.0).await;

    drop(downloading);
    eventually(&registry, "flux_artifact_server_requests_in_flight", 0.0).await;
    eventually(&registry, "flux_artifact_server_connections", 1.0).await;
    drop(idle);
    eventually(&registry, "flux_artifact_server_connections", 0.0).await;
}

#[tokio::test]
async fn waiting_for_a_connection_slot_is_counted() {
    let root = root_with(&[("k/ns/n/a.tar.gz", b"abc")]);
    let (metrics, registry) = registered();
    let server = start_with(root.path(), |s| {
        s.with_metrics(metrics).with_max_connections(NonZeroUsize::MIN)
    })
    .await;
    assert_eq!(
        sample(&registry, "flux_artifact_server_connection_limit_reached_total"),
        0.0
    );
    let _holder = TcpStream::connect(server.addr).await.unwrap();
    let _waiter = TcpStream::connect(server.addr).await.unwrap();
    eventually(
        &registry,
        "flux_artifact_server_connection_limit_reached_total",
        1.0,
    )
    .await;
}

#[tokio::test]
async fn invented_methods_share_one_series() {
    let root = root_with(&[]);
    let (metrics, registry) = registered();
    let server = start_with(root.path(), |s| s.with_metrics(metrics)).await;
    for i in 0..20 {
        assert_eq!(request(server.addr, &format!("X{i}"), "/", &[]).await.status, 405);
    }
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    let series = text
        .lines()
        .filter(|l| l.starts_with("flux_artifact_server_requests_total{"))
        .count();
    assert_eq!(series, 1, "{text}");
    assert_eq!(
        sample(
            &registry,
            "flux_artifact_server_requests_total{method=\"OTHER\",status=\"405\"}"
        ),
        20.0
    );
}

#[tokio::test]
async fn a_registry_prefix_is_prepended() {
    let metrics = ServerMetrics::new();
    let mut registry = Registry::with_prefix("controller");
    metrics.register(&mut registry);
    let root = root_with(&[]);
    let server = start_with(root.path(), |s| s.with_metrics(metrics)).await;
    get(server.addr, "/").await;
    assert_eq!(
        sample(
            &registry,
            "controller_flux_artifact_server_requests_total{method=\"GET\",status=\"200\"}"
        ),
        1.0
    );
}
