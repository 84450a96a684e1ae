//! Prometheus metrics of the server (feature `metrics`).

use std::{fmt::Write as _, time::Duration};

use http::{Method, StatusCode};
use prometheus_client::{
    encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder},
    metrics::{
        counter::Counter,
        family::Family,
        gauge::Gauge,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

/// The prefix of every metric name of the server.
pub const METRICS_PREFIX: &str = "flux_artifact_server";

/// The artifact server's metrics, for a `prometheus_client` [`Registry`].
///
/// Create them, [`register`](Self::register) them where the process's metrics endpoint
/// serves from, and give them to [`Server::with_metrics`](crate::Server::with_metrics).
/// Clones share the same series, so one set can be registered and handed over:
///
/// ```
/// use flux_artifact_config::Options;
/// use flux_artifact_server::{Server, ServerMetrics};
/// use prometheus_client::{encoding::text::encode, registry::Registry};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let storage = tempfile::tempdir()?;
/// let mut registry = Registry::default(); // the one the metrics endpoint serves
/// let metrics = ServerMetrics::new();
/// metrics.register(&mut registry);
///
/// let options = Options {
///     storage_path: storage.path().into(),
///     storage_address: "127.0.0.1:0".into(),
///     ..Options::default()
/// };
/// let server = Server::bind(&options).await?.with_metrics(metrics);
/// let address = server.local_addr();
/// tokio::spawn(server.serve(std::future::pending()));
///
/// let mut client = tokio::net::TcpStream::connect(address).await?;
/// client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
/// client.read_to_end(&mut Vec::new()).await?;
///
/// let mut text = String::new();
/// encode(&mut text, &registry)?;
/// assert!(text.contains(r#"flux_artifact_server_requests_total{method="GET",status="200"} 1"#));
/// # Ok(())
/// # }
/// ```
///
/// The series, all prefixed [`METRICS_PREFIX`]:
///
/// | name | type | labels | what |
/// |---|---|---|---|
/// | `flux_artifact_server_requests_total` | counter | `method`, `status` | responses sent (or begun), by method (`GET`, `HEAD`, or `OTHER` for any other method and for heads that could not be parsed) and status code |
/// | `flux_artifact_server_sent_bytes_total` | counter | | response body bytes handed to the kernel (files, ranges, error texts) |
/// | `flux_artifact_server_request_duration_seconds` | histogram | | from a request's head to the last byte of its response; for large artifacts that is the download time |
/// | `flux_artifact_server_requests_in_flight` | gauge | | requests being answered |
/// | `flux_artifact_server_connections` | gauge | | connections being served |
/// | `flux_artifact_server_connection_limit_reached_total` | counter | | times a client had to wait for a slot under the connection limit |
///
/// Label values come from closed sets (three methods, the status codes the server
/// sends), so hostile requests cannot grow the number of series. Each request costs a
/// few atomic increments and one histogram update.
#[derive(Debug, Clone)]
pub struct ServerMetrics {
    requests: Family<RequestLabels, Counter>,
    sent_bytes: Counter,
    request_duration: Histogram,
    requests_in_flight: Gauge,
    connections: Gauge,
    connection_limit_reached: Counter,
}

impl Default for ServerMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMetrics {
    /// New metrics, all zero, registered nowhere yet.
    #[must_use]
    pub fn new() -> Self {
        ServerMetrics {
            requests: Family::default(),
            sent_bytes: Counter::default(),
            // 0.5 ms to about 65 s: small artifacts, then downloads of large ones.
            request_duration: Histogram::new(exponential_buckets(0.0005, 2.0, 18)),
            requests_in_flight: Gauge::default(),
            connections: Gauge::default(),
            connection_limit_reached: Counter::default(),
        }
    }

    /// Registers every series in `registry`, under a sub-registry prefixed
    /// [`METRICS_PREFIX`] (so a registry that has a prefix of its own prepends it).
    ///
    /// Registering the same metrics twice in one registry makes the registry encode
    /// duplicate series; register once.
    pub fn register(&self, registry: &mut Registry) {
        let registry = registry.sub_registry_with_prefix(METRICS_PREFIX);
        registry.register(
            "requests",
            "Responses sent by the artifact server, by method and status",
            self.requests.clone(),
        );
        registry.register_with_unit(
            "sent",
            "Response body bytes sent by the artifact server",
            Unit::Bytes,
            self.sent_bytes.clone(),
        );
        registry.register_with_unit(
            "request_duration",
            "Time from a request's head to the end of its response",
            Unit::Seconds,
            self.request_duration.clone(),
        );
        registry.register(
            "requests_in_flight",
            "Requests the artifact server is answering",
            self.requests_in_flight.clone(),
        );
        registry.register(
            "connections",
            "Connections the artifact server is serving",
            self.connections.clone(),
        );
        registry.register(
            "connection_limit_reached",
            "Times a new connection had to wait for a slot under the connection limit",
            self.connection_limit_reached.clone(),
        );
    }

    pub(crate) fn connection_opened(&self) {
        self.connections.inc();
    }

    pub(crate) fn connection_closed(&self) {
        self.connections.dec();
    }

    pub(crate) fn request_started(&self) {
        self.requests_in_flight.inc();
    }

    pub(crate) fn request_ended(&self) {
        self.requests_in_flight.dec();
    }

    pub(crate) fn response(&self, method: Option<&Method>, status: StatusCode, sent: u64, elapsed: Duration) {
        let labels = RequestLabels {
            method: MethodLabel::of(method),
            status: status.as_u16(),
        };
        self.requests.get_or_create(&labels).inc();
        self.sent_bytes.inc_by(sent);
        self.request_duration.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn limit_reached(&self) {
        self.connection_limit_reached.inc();
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: MethodLabel,
    status: u16,
}

/// The method label: a closed set, whatever methods clients invent.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq)]
enum MethodLabel {
    Get,
    Head,
    Other,
}

impl MethodLabel {
    fn of(method: Option<&Method>) -> Self {
        match method {
            Some(&Method::GET) => MethodLabel::Get,
            Some(&Method::HEAD) => MethodLabel::Head,
            _ => MethodLabel::Other,
        }
    }
}

impl EncodeLabelValue for MethodLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder<'_>) -> Result<(), std::fmt::Error> {
        encoder.write_str(match self {
            MethodLabel::Get => "GET",
            MethodLabel::Head => "HEAD",
            MethodLabel::Other => "OTHER",
        })
    }
}
