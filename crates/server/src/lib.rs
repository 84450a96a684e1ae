//! The artifact server: serves a Flux artifact storage root over HTTP, so that Flux's
//! consumers (kustomize-controller, helm-controller) can download artifacts.
//!
//! ```no_run
//! use flux_artifact_config::Options;
//!
//! #[tokio::main]
//! async fn main() -> Result<(), flux_artifact_server::Error> {
//!     let options = Options { storage_path: "/data".into(), ..Options::default() };
//!     let server = flux_artifact_server::Server::bind(&options).await?;
//!     println!("serving on {}", server.local_addr());
//!     server.serve(async { let _ = tokio::signal::ctrl_c().await; }).await
//! }
//! ```
//!
//! The Rust counterpart of Go's `github.com/fluxcd/pkg/artifact/server`, which wraps
//! `http.FileServer`. Like it, this server answers `GET /` with 200 (Kubernetes
//! readiness probes hit `/`) and serves files with `Range`, `If-Modified-Since` and
//! symlinks (the `latest.tar.gz` links of [`Storage::symlink`]); unlike it, it is safe
//! by construction:
//!
//! - it **never lists a directory** (404), and `/` lists nothing;
//! - it **never serves outside the root**: `..` and `.` segments, percent-encoded ones
//!   (`%2e%2e`), encoded separators (`%2f`, `%5c`), backslashes, control characters
//!   and NUL, empty segments (`//`), paths that do not decode to UTF-8 (overlong
//!   encodings like `%c0%ae`) are 400; every file is opened through a handle on the
//!   root that cannot resolve a path, or a symlink, beyond it;
//! - it reads the request target as a URI: the **query is ignored**, as Go's file
//!   server ignores it (`/…/app.tar.gz?x=1` serves the file), `%3F` is part of the
//!   path, an absolute-form target (`http://host/path`) is served by its path, and a
//!   fragment (`#`) is 400;
//! - it **does not serve `.lock` files or the temporary files of in-progress writes**
//!   (404);
//! - it **never sets `Content-Encoding`**, whatever `Accept-Encoding` says: Flux's HTTP
//!   client would transparently decompress the `.tar.gz` and the digest would no longer
//!   match;
//! - it **refuses ambiguous framing**, the stuff of request smuggling: a request body in
//!   any form (`Transfer-Encoding`, a `Content-Length` other than one plain `0`), bare
//!   LF line ends, obs-fold, a missing or repeated `Host` in HTTP/1.1 are 400 and close
//!   the connection;
//! - it **has timeouts**: a new connection must send its first byte within 5 s, a
//!   request's headers must arrive within 10 s of their first byte (one deadline,
//!   however they are spread: slowloris), and a connection that transfers nothing for
//!   60 s, between requests or while a response is written to a client that stopped
//!   reading, is closed;
//! - it **caps connections** (512 by default): beyond the cap, new connections wait in
//!   the kernel's listen queue, and idle connections give their slot to them (see
//!   [`Server::with_max_connections`]).
//!
//! Responses carry `Content-Length`, `Content-Type` (`application/gzip` for `.tar.gz`
//! and `.tgz`, else `application/octet-stream`), `Last-Modified` and a strong `ETag`;
//! `If-None-Match` and `If-Modified-Since` give 304, a single `Range` gives 206 (with
//! `If-Range`) and an unsatisfiable one 416, methods other than `GET` and `HEAD` give
//! 405 with `Allow`. Each request is logged at `debug` level with `tracing` (method,
//! path, status, bytes, duration).
//!
//! # Performance
//!
//! The server speaks HTTP/1.1 itself (request heads are parsed by `httparse`, the parser
//! of hyper) because it must hand files to the kernel: on Linux, bodies go from the page
//! cache to the socket with `sendfile(2)`, never through user space, so memory per
//! connection is a few KiB whatever the artifact's size, and large artifacts are sent as
//! fast as Go's `http.FileServer` sends them. Keep-alive and pipelining are supported;
//! request bodies are not (a `GET` with a body is refused and the connection closed).
//! See `docs/performance.md` for measurements.
//!
//! [`Server::serve`] shuts down gracefully when its shutdown future completes: it stops
//! accepting, lets in-flight downloads finish for up to 5 s (as in Go), then closes
//! what remains.
//!
//! # Options
//!
//! Every limit is a builder method on [`Server`], with its default in a constant:
//!
//! | method | default | what |
//! |---|---|---|
//! | [`with_first_byte_timeout`](Server::with_first_byte_timeout) | [`DEFAULT_FIRST_BYTE_TIMEOUT`] (5 s) | from accepting a connection to its first byte |
//! | [`with_header_read_timeout`](Server::with_header_read_timeout) | [`DEFAULT_HEADER_READ_TIMEOUT`] (10 s) | from a head's first byte to its end |
//! | [`with_idle_timeout`](Server::with_idle_timeout) | [`DEFAULT_IDLE_TIMEOUT`] (60 s) | without progress, between requests or while writing |
//! | [`with_max_connections`](Server::with_max_connections) | [`DEFAULT_MAX_CONNECTIONS`] (512) | connections served at once |
//! | [`with_shutdown_timeout`](Server::with_shutdown_timeout) | [`DEFAULT_SHUTDOWN_TIMEOUT`] (5 s) | for in-flight responses after shutdown starts |
//!
//! # Metrics
//!
//! With the `metrics` feature, `ServerMetrics` counts requests by method and status,
//! body bytes sent, connections and requests in flight, the connection limit being
//! reached, and the latency of each response, as `prometheus-client` series prefixed
//! `flux_artifact_server_` (its documentation lists them); `Server::with_metrics`
//! attaches them. Without the feature the hooks compile to nothing.
//!
//! [`Storage::symlink`]: flux_artifact_storage::Storage::symlink

mod body;
mod conditional;
mod error;
mod handler;
mod head;
mod http1;
#[cfg(feature = "metrics")]
mod metrics;
mod request_path;
mod server;
mod telemetry;

#[cfg(feature = "metrics")]
pub use crate::metrics::{METRICS_PREFIX, ServerMetrics};
pub use crate::{
    error::Error,
    server::{
        DEFAULT_FIRST_BYTE_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_IDLE_TIMEOUT,
        DEFAULT_MAX_CONNECTIONS, DEFAULT_SHUTDOWN_TIMEOUT, Server, start,
    },
};
