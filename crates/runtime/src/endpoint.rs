//! The controller's health and metrics endpoint: `/healthz`, `/readyz` and, with the
//! `metrics` feature, Prometheus' `/metrics`, on an address of the controller's choosing.
//!
//! ```
//! use flux_artifact_runtime::endpoint::{Endpoint, Readiness};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let readiness = Readiness::new();
//! // Not ready until the start-up integrity check has passed.
//! let integrity = readiness.check("integrity");
//!
//! // Flux's `--health-addr` is ":9440"; port 0 lets the OS pick one here.
//! let endpoint = Endpoint::bind("127.0.0.1:0").await?.with_readiness(readiness.clone());
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let serving = tokio::spawn(endpoint.serve(async { let _ = stopped.await; }));
//!
//! assert!(!readiness.is_ready());
//! integrity.set_ready(true);
//! assert!(readiness.is_ready());
//!
//! let _ = stop.send(());
//! serving.await?;
//! # Ok(())
//! # }
//! ```
//!
//! Flux's controllers serve probes on `--health-addr` (`:9440`) and metrics on
//! `--metrics-addr` (`:8080`): bind two endpoints, one
//! [`with_readiness`](Endpoint::with_readiness) and one `with_metrics`, or one with both.
//! The endpoint answers:
//!
//! - `GET /healthz`: `200 ok` while the process serves (the liveness probe);
//! - `GET /readyz`: `200 ok` when every [`ReadinessCheck`] is ready, else `503` with a
//!   line per check (`[+]integrity ok`, `[-]leader not ready`), as controller-runtime
//!   prints them;
//! - `GET /metrics` (feature `metrics`): the registry in Prometheus' text format, or in
//!   OpenMetrics' when the scraper asks for it (`Accept: application/openmetrics-text`);
//! - `404` for any other path, `405` for methods other than `GET` and `HEAD`.
//!
//! Requests must send their head within 10 seconds; on shutdown, requests in flight
//! get 5 seconds to finish.

use std::{
    collections::BTreeMap,
    convert::Infallible,
    future::Future,
    io,
    net::SocketAddr,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use bytes::Bytes;
use http::{
    HeaderValue, Method, Request, Response, StatusCode,
    header::{ALLOW, CACHE_CONTROL, CONTENT_TYPE},
};
use http_body_util::Full;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use tokio::net::TcpListener;

/// How long a client may take to send a request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// The pause after a failed `accept` (e.g. out of file descriptors), so that the loop
/// does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

const TEXT_PLAIN: &str = "text/plain; charset=utf-8";

/// The readiness of a controller: the conjunction of named checks, each flipped by its
/// owner through a [`ReadinessCheck`]. With no checks, it is ready.
///
/// Typical checks: `integrity` (the start-up verification of stored artifacts passed),
/// `leader` (this replica leads, so that a Service sends artifact downloads only to
/// it). Cloning shares the checks.
#[derive(Clone, Debug, Default)]
pub struct Readiness {
    checks: Arc<Mutex<BTreeMap<String, bool>>>,
}

/// One named readiness check, not ready until [`set_ready`](Self::set_ready) says so.
/// Cloning shares the check; dropping it leaves the check as it was last set.
#[derive(Clone, Debug)]
pub struct ReadinessCheck {
    name: Arc<str>,
    checks: Arc<Mutex<BTreeMap<String, bool>>>,
}

impl Readiness {
    /// Readiness with no checks (ready).
    #[must_use]
    pub fn new() -> Self {
        Readiness::default()
    }

    /// Registers the check `name`, not ready, and returns its handle; for a name already
    /// registered, returns a handle to that check and keeps its state.
    pub fn check(&self, name: impl Into<String>) -> ReadinessCheck {
        let name: String = name.into();
        lock(&self.checks).entry(name.clone()).or_insert(false);
        ReadinessCheck {
            name: name.into(),
            checks: Arc::clone(&self.checks),
        }
    }

    /// Whether every check is ready.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        lock(&self.checks).values().all(|ready| *ready)
    }

    /// Each check's name and state, in name order.
    #[must_use]
    pub fn checks(&self) -> Vec<(String, bool)> {
        lock(&self.checks)
            .iter()
            .map(|(name, ready)| (name.clone(), *ready))
            .collect()
    }
}

impl ReadinessCheck {
    /// Marks the check ready or not.
    pub fn set_ready(&self, ready: bool) {
        if let Some(state) = lock(&self.checks).get_mut(&*self.name) {
            *state = ready;
        }
    }

    /// Whether the check is ready.
    #[must_use]
    pub fn is_ready(&self) -> bool {
        lock(&self.checks).get(&*self.name).copied().unwrap_or(false)
    }

    /// The check's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Flags only: a panic elsewhere cannot leave them half-written.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Why the endpoint could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The address could not be listened on (in use, not local, not an address).
    #[error("failed to listen on {address:?}")]
    Bind {
        /// The address as given.
        address: String,
        /// The operating system's error.
        source: io::Error,
    },
}

/// A bound health (and metrics) endpoint, ready to [`serve`](Self::serve).
#[derive(Debug)]
pub struct Endpoint {
    listener: TcpListener,
    local_addr: SocketAddr,
    routes: Routes,
}

#[derive(Debug, Default)]
struct Routes {
    readiness: Readiness,
    #[cfg(feature = "metrics")]
    metrics: Option<Arc<prometheus_client::registry::Registry>>,
}

impl Endpoint {
    /// Listens on `address`: `host:port`, `[v6]:port`, or Go's `:port` for every IPv4
    /// interface (how Flux writes `--health-addr` and `--metrics-addr`). Binding first
    /// and serving later lets a test bind port 0 and read [`local_addr`](Self::local_addr).
    ///
    /// # Errors
    ///
    /// [`EndpointError::Bind`] naming the address.
    pub async fn bind(address: &str) -> Result<Self, EndpointError> {
        let bind_error = |source| EndpointError::Bind {
            address: address.to_owned(),
            source,
        };
        let listener = TcpListener::bind(listen_address(address))
            .await
            .map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(Endpoint {
            listener,
            local_addr,
            routes: Routes::default(),
        })
    }

    /// The address bound.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Answers `/readyz` from `readiness` (without it, `/readyz` is always ready).
    #[must_use]
    pub fn with_readiness(mut self, readiness: Readiness) -> Self {
        self.routes.readiness = readiness;
        self
    }

    /// Serves `registry` on `/metrics`: the registry the controller composed from the
    /// SDK's metrics (reconcile, artifact server, archive) and its own.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn with_metrics(mut self, registry: Arc<prometheus_client::registry::Registry>) -> Self {
        self.routes.metrics = Some(registry);
        self
    }

    /// Serves until `shutdown` resolves, then lets requests in flight finish (at most 5
    /// seconds) and returns. Failed `accept`s (e.g. out of file descriptors) are logged
    /// and retried; broken connections are dropped.
    pub async fn serve(self, shutdown: impl Future<Output = ()>) {
        let Endpoint {
            listener,
            local_addr,
            routes,
        } = self;
        let routes = Arc::new(routes);
        let graceful = GracefulShutdown::new();
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(HEADER_READ_TIMEOUT);
        tokio::pin!(shutdown);
        tracing::debug!(address = %local_addr, "health endpoint serving");
        loop {
            let stream = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        tracing::warn!(error = &error as &dyn std::error::Error, address = %local_addr, "health endpoint failed to accept a connection");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                        continue;
                    }
                },
            };
            let routes = Arc::clone(&routes);
            let service = service_fn(move |request| {
                let response = respond(&routes, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::debug!(
                        error = &error as &dyn std::error::Error,
                        "health endpoint connection ended"
                    );
                }
            });
        }
        drop(listener);
        if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
            .await
            .is_err()
        {
            tracing::debug!(address = %local_addr, "health endpoint stopped with requests still in flight");
        }
    }
}

/// Go's `:port` is every interface; anything else is resolved by the OS as it is.
fn listen_address(address: &str) -> String {
    match address.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => address.to_owned(),
    }
}

/// Binds `address` and serves probes from `readiness` until `shutdown` resolves: the
/// one call for Flux's `--health-addr`.
///
/// # Errors
///
/// [`EndpointError::Bind`] if the address cannot be listened on.
pub async fn serve_probes(
    address: &str,
    readiness: Readiness,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EndpointError> {
    Endpoint::bind(address)
        .await?
        .with_readiness(readiness)
        .serve(shutdown)
        .await;
    Ok(())
}

/// Binds `address` and serves `registry` on `/metrics` (and the probes, always ready)
/// until `shutdown` resolves: the one call for Flux's `--metrics-addr`.
///
/// # Errors
///
/// [`EndpointError::Bind`] if the address cannot be listened on.
#[cfg(feature = "metrics")]
pub async fn serve_metrics(
    address: &str,
    registry: Arc<prometheus_client::registry::Registry>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), EndpointError> {
    Endpoint::bind(address)
        .await?
        .with_metrics(registry)
        .serve(shutdown)
        .await;
    Ok(())
}

fn respond(routes: &Routes, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let path = request.uri().path();
    let known = matches!(path, "/healthz" | "/readyz") || (path == "/metrics" && routes.serves_metrics());
    if !known {
        return text(StatusCode::NOT_FOUND, "404 page not found\n".into());
    }
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".into());
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n".into()),
        "/readyz" => readyz(&routes.readiness),
        _ => routes.metrics(request),
    }
}

fn readyz(readiness: &Readiness) -> Response<Full<Bytes>> {
    let checks = readiness.checks();
    if checks.iter().all(|(_, ready)| *ready) {
        return text(StatusCode::OK, "ok\n".into());
    }
    let mut body = String::new();
    for (name, ready) in checks {
        let line = if ready {
            format!("[+]{name} ok\n")
        } else {
            format!("[-]{name} not ready\n")
        };
        body.push_str(&line);
    }
    body.push_str("readyz check failed\n");
    text(StatusCode::SERVICE_UNAVAILABLE, body)
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    with_type(status, TEXT_PLAIN, body)
}

fn with_type(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

impl Routes {
    #[cfg(feature = "metrics")]
    fn serves_metrics(&self) -> bool {
        self.metrics.is_some()
    }

    #[cfg(not(feature = "metrics"))]
    fn serves_metrics(&self) -> bool {
        false
    }

    #[cfg(feature = "metrics")]
    fn metrics(&self, request: &Request<Incoming>) -> Response<Full<Bytes>> {
        use prometheus_client::encoding::{prometheus_text, text as openmetrics};

        const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        let Some(registry) = &self.metrics else {
            return text(StatusCode::NOT_FOUND, "404 page not found\n".into());
        };
        let wants_openmetrics = request
            .headers()
            .get_all(http::header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.contains("application/openmetrics-text"));
        let mut body = String::new();
        let (encoded, content_type) = if wants_openmetrics {
            (openmetrics::encode(&mut body, registry), OPENMETRICS)
        } else {
            (
                prometheus_text::encode(&mut body, registry),
                prometheus_text::CONTENT_TYPE,
            )
        };
        match encoded {
            Ok(()) => with_type(StatusCode::OK, content_type, body),
            Err(_) => {
                tracing::warn!("failed to encode the metrics registry");
                text(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "failed to encode metrics\n".into(),
                )
            }
        }
    }

    #[cfg(not(feature = "metrics"))]
    fn metrics(&self, _request: &Request<Incoming>) -> Response<Full<Bytes>> {
        text(StatusCode::NOT_FOUND, "404 page not found\n".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_alone_means_every_interface_as_in_go() {
        assert_eq!(listen_address(":9440"), "0.0.0.0:9440");
        assert_eq!(listen_address("127.0.0.1:8080"), "127.0.0.1:8080");
        assert_eq!(listen_address("[::1]:8080"), "[::1]:8080");
    }

    #[test]
    fn readiness_without_checks_is_ready() {
        assert!(Readiness::new().is_ready());
    }

    #[test]
    fn a_new_check_starts_not_ready() {
        let readiness = Readiness::new();
        let check = readiness.check("integrity");
        assert!(!check.is_ready());
        assert!(!readiness.is_ready());
    }

    #[test]
    fn readiness_needs_every_check() {
        let readiness = Readiness::new();
        let integrity = readiness.check("integrity");
        let leader = readiness.check("leader");
        integrity.set_ready(true);
        assert!(!readiness.is_ready());
        leader.set_ready(true);
        assert!(readiness.is_ready());
        leader.set_ready(false);
        assert!(!readiness.is_ready());
    }

    #[test]
    fn registering_a_name_twice_shares_the_check() {
        let readiness = Readiness::new();
        readiness.check("leader").set_ready(true);
        let again = readiness.check("leader");
        assert!(again.is_ready());
        assert_eq!(readiness.checks(), [("leader".to_owned(), true)]);
    }

    #[test]
    fn readyz_is_unavailable_while_a_check_is_not_ready() {
        let readiness = Readiness::new();
        readiness.check("leader");
        readiness.check("integrity").set_ready(true);
        assert_eq!(readyz(&readiness).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
