//! Structured logs on stderr, as `--log-level` and `--log-encoding` ask.
//!
//! kube-runtime runs each reconcile in a span carrying the object's reference
//! (`object.ref`, e.g. `ArtifactGenerator.v1beta1.source.extensions.fluxcd.io/apps.flux-system`)
//! and the reason it was queued; both encodings print the spans' fields on every line
//! logged inside them, so each line of a reconcile names its ArtifactGenerator.

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::{
    filter::{LevelFilter, Targets},
    layer::SubscriberExt,
    util::SubscriberInitExt,
};

use super::args::{LogEncoding, LogLevel};

/// Dependencies that log each connection or frame at debug level: kept at `info` unless
/// the level asked for is quieter, so that `--log-level=debug` shows the controller's
/// decisions rather than HTTP/2 frames.
const CHATTY: [&str; 5] = ["h2", "hyper", "hyper_util", "rustls", "tower"];

/// kube's client logs every failed request as an error; the code that sent it reports
/// the failure too, with what it was doing (`cannot reach the Kubernetes API server at
/// …`), so that line is kept for `--log-level=debug` and `trace`.
const KUBE_CLIENT_FAILURES: &str = "kube_client::client::builder";

/// Installs the process's subscriber. Call once, before anything logs.
pub(crate) fn init(level: LogLevel, encoding: LogEncoding) {
    let level = Level::from(level);
    // More verbose levels compare greater: min() is the quieter of the two.
    let chatty = level.min(Level::INFO);
    let filter = CHATTY
        .iter()
        .fold(Targets::new().with_default(level), |filter, target| {
            filter.with_target(*target, chatty)
        });
    let filter = if level >= Level::DEBUG {
        filter
    } else {
        filter.with_target(KUBE_CLIENT_FAILURES, LevelFilter::OFF)
    };
    let registry = tracing_subscriber::registry().with(filter);
    match encoding {
        LogEncoding::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(std::io::stderr),
            )
            .init(),
        LogEncoding::Console => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init(),
    }
}
