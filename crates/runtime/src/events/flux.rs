//! Flux's event protocol: the JSON body notification-controller reads, and a client
//! that posts it with Flux's retry rules.

use std::{collections::BTreeMap, time::Duration};

use bytes::Bytes;
use http::{
    HeaderValue, Method, Request, StatusCode, Uri,
    header::{CONTENT_TYPE, RETRY_AFTER},
};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::Time};
use serde::{Deserialize, Serialize};

/// The API group of Flux's event API (`event.toolkit.fluxcd.io`). Annotations of an
/// object with this prefix travel with its events, and notification-controller keeps
/// metadata keys with this prefix.
pub const FLUX_EVENT_GROUP: &str = "event.toolkit.fluxcd.io";

/// How serious an event is, as notification-controller's `Alert.spec.eventSeverity`
/// filters it. The wire names are `trace`, `info` and `error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Never posted by [`EventRecorder`](super::EventRecorder): Flux keeps trace events
    /// in Kubernetes.
    Trace,
    /// A change worth knowing about (a Normal event).
    Info,
    /// Something failed (a Warning event).
    Error,
}

/// The body of a Flux event, as notification-controller reads it
/// (`github.com/fluxcd/pkg/apis/event/v1beta1.Event`): the same JSON keys, with
/// `metadata` and `reportingInstance` left out when empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FluxEvent {
    /// The object the event is about. notification-controller matches `Alert`s by its
    /// `kind`, `name` and `namespace`, and reads the object's API group from `apiVersion`.
    pub involved_object: ObjectReference,
    /// `info` or `error` (a `trace` event is accepted on the wire but Flux never sends one).
    pub severity: Severity,
    /// When the event was recorded; second precision, UTC.
    pub timestamp: Time,
    /// What happened, for humans. Flux documents at most 39,000 characters.
    pub message: String,
    /// Why, as a `PascalCase` word for machines (e.g. `BuildFailed`).
    pub reason: String,
    /// Extra data, e.g. `<group>/revision`. notification-controller keeps only keys
    /// prefixed by the object's API group or `event.toolkit.fluxcd.io/`, and drops
    /// `<group>/checksum` and `<group>/digest`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// The controller that emitted the event, e.g. `artifact-generator`.
    pub reporting_controller: String,
    /// The instance that emitted it (Flux sends the host name, i.e. the pod name).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reporting_instance: String,
}

/// How [`FluxEventSender::send`] retries. The defaults are Flux's (its
/// `go-retryablehttp` client with a 5 s timeout): 4 retries, waits doubling from 1 s and
/// capped at 30 s, 5 s per attempt. A receiver that is down therefore costs at most
/// `(max_retries + 1) × attempt_timeout` plus the waits (40 s with the defaults; about
/// 15 s when connections are refused at once).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first one.
    pub max_retries: u32,
    /// The wait before the first retry; it doubles with each retry.
    pub wait_min: Duration,
    /// The longest wait between two attempts, also the cap of a `Retry-After` answer.
    pub wait_max: Duration,
    /// How long one attempt (connect, request, response) may take.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 4,
            wait_min: Duration::from_secs(1),
            wait_max: Duration::from_secs(30),
            attempt_timeout: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (0 for the first attempt):
    /// `wait_min × 2^attempt`, or the server's `Retry-After`, capped at `wait_max`.
    #[must_use]
    pub fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let wait = retry_after.unwrap_or_else(|| {
            let factor = 1u32.checked_shl(attempt).unwrap_or(u32::MAX);
            self.wait_min.saturating_mul(factor)
        });
        wait.min(self.wait_max)
    }
}

/// The result of a delivery that did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// notification-controller took the event (a 2xx answer; it answers 202).
    Accepted,
    /// notification-controller answered 429: it has seen the same event (object,
    /// message, revision, token) within its rate-limit window and discards it. Not an
    /// error, and not retried.
    Duplicate,
}

/// An `--events-addr` that cannot be posted to.
#[derive(Debug, thiserror::Error)]
#[error("invalid events address {address:?}: {reason}")]
pub struct InvalidEventsAddress {
    /// The address as given.
    pub address: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Why an event was not delivered. Each variant names the receiver's URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The receiver refused the event with a status that retrying cannot change (4xx
    /// other than 429, 501, or a 1xx/3xx answer).
    #[error("{url} refused the event with status {status}")]
    Rejected {
        /// The receiver's URL.
        url: String,
        /// Its answer.
        status: StatusCode,
    },
    /// The receiver answered 5xx to every attempt.
    #[error("{url} answered {status} to all {attempts} attempts")]
    Status {
        /// The receiver's URL.
        url: String,
        /// The last answer.
        status: StatusCode,
        /// Attempts made.
        attempts: u32,
    },
    /// No attempt got an answer: connection refused, reset, or a name that does not
    /// resolve. The last error is the [`source`](std::error::Error::source).
    #[error("{url} could not be reached in {attempts} attempts")]
    Unreachable {
        /// The receiver's URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The last attempt did not finish within [`RetryPolicy::attempt_timeout`].
    #[error("{url} did not answer within {timeout:?} ({attempts} attempts)")]
    Timeout {
        /// The receiver's URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The per-attempt timeout.
        timeout: Duration,
    },
    /// The event could not be encoded as JSON (a bug: every field is a plain string).
    #[error("failed to encode the event for {url}")]
    Encode {
        /// The receiver's URL.
        url: String,
        /// The encoder's error.
        source: serde_json::Error,
    },
}

/// Posts [`FluxEvent`]s to notification-controller's event endpoint (a Flux
/// controller's `--events-addr`), retrying as Flux does.
///
/// Plain `http://` only: notification-controller serves events on plain HTTP inside
/// the cluster (its `notification-controller` Service, port 80), and that is the only
/// address Flux's own controllers are given. Connections are pooled and reused.
/// Cloning is cheap and shares the pool.
///
/// ```
/// use flux_artifact_runtime::events::{FluxEventSender, RetryPolicy};
/// use std::time::Duration;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sender = FluxEventSender::new("http://notification-controller.flux-system.svc.cluster.local./")?
///     .with_retry_policy(RetryPolicy { max_retries: 2, ..RetryPolicy::default() });
/// assert_eq!(sender.url(), "http://notification-controller.flux-system.svc.cluster.local./");
///
/// assert!(FluxEventSender::new("https://notification-controller/").is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FluxEventSender {
    url: String,
    uri: Uri,
    client: Client<HttpConnector, Full<Bytes>>,
    retry: RetryPolicy,
}

/// What one attempt came to.
enum Attempt {
    Done(Delivery),
    Fatal(StatusCode),
    Retry(Failure),
}

enum Failure {
    Status {
        status: StatusCode,
        retry_after: Option<Duration>,
    },
    Request(Box<dyn std::error::Error + Send + Sync>),
    Timeout,
}

/// Response bodies are drained (so the connection can be reused) up to this size.
const MAX_RESPONSE_BODY: usize = 64 * 1024;

impl FluxEventSender {
    /// A sender for `address`, an absolute `http://` URL such as
    /// `http://notification-controller.flux-system.svc.cluster.local./`, with Flux's
    /// [`RetryPolicy`]. Nothing is connected until the first [`send`](Self::send).
    ///
    /// # Errors
    ///
    /// [`InvalidEventsAddress`] for an empty address (callers map an empty
    /// `--events-addr` to "no sender": see [`EventRecorder::with_events_addr`]), one that
    /// is not a URL (whitespace included), has no host, or a scheme other than `http`.
    ///
    /// [`EventRecorder::with_events_addr`]: super::EventRecorder::with_events_addr
    pub fn new(address: &str) -> Result<Self, InvalidEventsAddress> {
        let invalid = |reason| InvalidEventsAddress {
            address: address.to_owned(),
            reason,
        };
        if address.is_empty() {
            return Err(invalid("empty"));
        }
        let uri: Uri = address.parse().map_err(|_| invalid("not a URL"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(invalid(
                    "https is not supported: notification-controller receives events over plain http inside the cluster",
                ));
            }
            _ => return Err(invalid("expected an absolute http:// URL")),
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(invalid("no host"));
        }
        let retry = RetryPolicy::default();
        Ok(FluxEventSender {
            url: address.to_owned(),
            uri,
            client: build_client(&retry),
            retry,
        })
    }

    /// Replaces the retry policy (Flux's by default).
    #[must_use]
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.client = build_client(&retry);
        self.retry = retry;
        self
    }

    /// The receiver's URL, as given.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The retry policy in force.
    #[must_use]
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Posts `event` as JSON. Connection errors, timeouts and 5xx answers other than
    /// 501 are retried per the [`RetryPolicy`] (a 503's `Retry-After` in seconds is
    /// honoured, up to `wait_max`); a 429 ends the delivery as [`Delivery::Duplicate`].
    /// The event is sent whatever its severity: the rule that keeps `trace` events
    /// away from notification-controller is [`EventRecorder`](super::EventRecorder)'s.
    ///
    /// # Errors
    ///
    /// [`SendError::Rejected`] at once for a 4xx (other than 429) or 501;
    /// [`SendError::Status`], [`SendError::Unreachable`] or [`SendError::Timeout`] for
    /// the last attempt's failure once the retries are spent.
    pub async fn send(&self, event: &FluxEvent) -> Result<Delivery, SendError> {
        let body = serde_json::to_vec(event)
            .map(Bytes::from)
            .map_err(|source| SendError::Encode {
                url: self.url.clone(),
                source,
            })?;
        let mut attempt = 0u32;
        loop {
            let failure = match self.attempt(body.clone()).await {
                Attempt::Done(delivery) => return Ok(delivery),
                Attempt::Fatal(status) => {
                    return Err(SendError::Rejected {
                        url: self.url.clone(),
                        status,
                    });
                }
                Attempt::Retry(failure) => failure,
            };
            if attempt >= self.retry.max_retries {
                return Err(self.give_up(failure, attempt + 1));
            }
            let retry_after = match &failure {
                Failure::Status { retry_after, .. } => *retry_after,
                Failure::Request(_) | Failure::Timeout => None,
            };
            let wait = self.retry.wait(attempt, retry_after);
            tracing::debug!(url = %self.url, attempt = attempt + 1, ?wait, "retrying Flux event delivery");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn attempt(&self, body: Bytes) -> Attempt {
        let mut request = Request::new(Full::new(body));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = self.uri.clone();
        request
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let exchange = async {
            let response = self.client.request(request).await?;
            let status = response.status();
            let retry_after = retry_after(response.headers().get(RETRY_AFTER));
            // Drained so that the pooled connection can carry the next event; what the
            // body says does not matter.
            let _ = Limited::new(response.into_body(), MAX_RESPONSE_BODY)
                .collect()
                .await;
            Ok::<_, hyper_util::client::legacy::Error>((status, retry_after))
        };
        match tokio::time::timeout(self.retry.attempt_timeout, exchange).await {
            Err(_) => Attempt::Retry(Failure::Timeout),
            Ok(Err(error)) => Attempt::Retry(Failure::Request(Box::new(error))),
            Ok(Ok((status, _))) if status.is_success() => Attempt::Done(Delivery::Accepted),
            Ok(Ok((StatusCode::TOO_MANY_REQUESTS, _))) => Attempt::Done(Delivery::Duplicate),
            Ok(Ok((status, retry_after)))
                if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED =>
            {
                let retry_after = retry_after.filter(|_| status == StatusCode::SERVICE_UNAVAILABLE);
                Attempt::Retry(Failure::Status { status, retry_after })
            }
            Ok(Ok((status, _))) => Attempt::Fatal(status),
        }
    }

    fn give_up(&self, failure: Failure, attempts: u32) -> SendError {
        let url = self.url.clone();
        match failure {
            Failure::Status { status, .. } => SendError::Status {
                url,
                status,
                attempts,
            },
            Failure::Request(source) => SendError::Unreachable {
                url,
                attempts,
                source,
            },
            Failure::Timeout => SendError::Timeout {
                url,
                attempts,
                timeout: self.retry.attempt_timeout,
            },
        }
    }
}

fn build_client(retry: &RetryPolicy) -> Client<HttpConnector, Full<Bytes>> {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(retry.attempt_timeout));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new()).build(connector)
}

/// A `Retry-After` in seconds (the HTTP-date form is not used by notification-controller
/// and is ignored).
fn retry_after(value: Option<&HeaderValue>) -> Option<Duration> {
    let seconds: u64 = value?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;
    use serde_json::json;

    fn event() -> FluxEvent {
        FluxEvent {
            involved_object: ObjectReference {
                api_version: Some("source.extensions.fluxcd.io/v1beta1".into()),
                kind: Some("ArtifactGenerator".into()),
                name: Some("podinfo".into()),
                namespace: Some("apps".into()),
                uid: Some("4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f".into()),
                ..ObjectReference::default()
            },
            severity: Severity::Error,
            timestamp: Time("2026-11-24T09:00:00.123456Z".parse::<Timestamp>().unwrap()),
            message: "build failed".into(),
            reason: "BuildFailed".into(),
            metadata: BTreeMap::from([(
                "source.extensions.fluxcd.io/revision".into(),
                "latest@sha256:ab".into(),
            )]),
            reporting_controller: "artifact-generator".into(),
            reporting_instance: "artifact-generator-7d9f-x2x".into(),
        }
    }

    #[test]
    fn flux_event_has_the_json_keys_notification_controller_reads() {
        assert_eq!(
            serde_json::to_value(event()).unwrap(),
            json!({
                "involvedObject": {
                    "apiVersion": "source.extensions.fluxcd.io/v1beta1",
                    "kind": "ArtifactGenerator",
                    "name": "podinfo",
                    "namespace": "apps",
                    "uid": "4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f",
                },
                "severity": "error",
                "timestamp": "2026-11-24T09:00:00Z",
                "message": "build failed",
                "reason": "BuildFailed",
                "metadata": {"source.extensions.fluxcd.io/revision": "latest@sha256:ab"},
                "reportingController": "artifact-generator",
                "reportingInstance": "artifact-generator-7d9f-x2x",
            })
        );
    }

    #[test]
    fn flux_event_leaves_out_empty_metadata_and_instance() {
        let mut event = event();
        event.metadata.clear();
        event.reporting_instance.clear();
        let value = serde_json::to_value(&event).unwrap();
        assert!(value.get("metadata").is_none());
        assert!(value.get("reportingInstance").is_none());
    }

    #[test]
    fn flux_event_reads_what_flux_writes() {
        let written = r#"{"involvedObject":{"kind":"GitRepository","namespace":"flux-system","name":"podinfo","uid":"7b5d","apiVersion":"source.toolkit.fluxcd.io/v1","resourceVersion":"1234"},"severity":"info","timestamp":"2026-11-24T09:00:00Z","message":"stored artifact for commit 'Merge'","reason":"NewArtifact","metadata":{"source.toolkit.fluxcd.io/revision":"main@sha1:3f2a"},"reportingController":"source-controller","reportingInstance":"source-controller-6b8f"}"#;
        let event: FluxEvent = serde_json::from_str(written).unwrap();
        assert_eq!(event.severity, Severity::Info);
        assert_eq!(event.involved_object.resource_version.as_deref(), Some("1234"));
        assert_eq!(
            event.metadata["source.toolkit.fluxcd.io/revision"],
            "main@sha1:3f2a"
        );
    }

    #[test]
    fn retry_waits_double_from_the_minimum_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        let waits: Vec<u64> = (0..7)
            .map(|attempt| policy.wait(attempt, None).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(policy.wait(u32::MAX, None), policy.wait_max);
    }

    #[test]
    fn retry_after_replaces_the_wait_up_to_the_maximum() {
        let policy = RetryPolicy::default();
        assert_eq!(
            policy.wait(0, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
        assert_eq!(policy.wait(0, Some(Duration::from_secs(3600))), policy.wait_max);
    }

    #[test]
    fn retry_after_reads_seconds_only() {
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("12"))),
            Some(Duration::from_secs(12))
        );
        assert_eq!(
            retry_after(Some(&HeaderValue::from_static("Wed, 21 Oct 2026 07:28:00 GMT"))),
            None
        );
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn addresses_must_be_absolute_http_urls() {
        for (address, reason) in [
            ("", "empty"),
            (" http://notification-controller/", "not a URL"),
            ("notification-controller:80", "expected an absolute http:// URL"),
            ("/events", "expected an absolute http:// URL"),
            (
                "ftp://notification-controller/",
                "expected an absolute http:// URL",
            ),
        ] {
            let error = FluxEventSender::new(address).unwrap_err();
            assert_eq!(error.reason, reason, "{address:?}");
            assert_eq!(error.address, address);
        }
        let https = FluxEventSender::new("https://notification-controller/").unwrap_err();
        assert!(https.reason.starts_with("https is not supported"), "{https}");
    }

    #[test]
    fn addresses_flux_uses_are_accepted() {
        for address in [
            "http://notification-controller.flux-system.svc.cluster.local./",
            "http://notification-controller/",
            "http://127.0.0.1:9292",
        ] {
            assert_eq!(FluxEventSender::new(address).unwrap().url(), address);
        }
    }
}
