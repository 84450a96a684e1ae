//! A scripted Kubernetes API server on kube's mock service (`tower_test::mock`), shared
//! by the mock tests of `flux-artifact-kube` and `flux-artifact-runtime` (each includes
//! this directory with `#[path]`; it is test code only, in no published crate).
//!
//! Each test lists the exact requests it expects and the responses to give; the script
//! fails the test on any difference, on a missing request, and on a request beyond the
//! script. It also fails every request that the sample RBAC (`docs/kubernetes/rbac.yaml`)
//! does not grant ([`rbac`]): the requests the helpers really send are what the RBAC must
//! grant, so a test that scripts a new request covers it without listing anything.

#![allow(dead_code, unreachable_pub)]

pub mod rbac;

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// How long the script waits for each request. Tests on tokio's paused clock pass a
/// long (virtual) wait instead, since their clients sleep for retry periods.
pub const WAIT: Duration = Duration::from_secs(5);

/// What the script expects of a request's body.
pub enum Expected {
    /// No body.
    Nothing,
    /// This JSON, after the exchange's `normalize`.
    Json(Value),
    /// A JSON body that this closure accepts (it asserts what it cares about).
    Checked(Box<dyn FnOnce(&Value) + Send>),
}

/// What the script answers.
pub enum Answer {
    /// This JSON.
    Json(Value),
    /// The request's own body, as the API server answers a create or a patch that the
    /// test does not model.
    Echo,
}

/// One request the test expects and the response it gets.
pub struct Exchange {
    pub method: Method,
    /// Path and query, exactly as sent, except that a path segment `*` stands for any
    /// one segment (a name the helper generates).
    pub uri: String,
    pub body: Expected,
    /// The content type expected, if the request has a body.
    pub content_type: Option<&'static str>,
    /// A rewrite of the received body before comparing, for values the test cannot
    /// know (the current time).
    pub normalize: Option<fn(&mut Value)>,
    pub status: StatusCode,
    pub answer: Answer,
    /// The RBAC that must grant this request: the sample's unless the test opts in to an
    /// addendum with [`Exchange::granted_by`].
    pub rbac: &'static rbac::Rbac,
}

impl Exchange {
    fn new(method: Method, uri: &str, body: Option<Value>, content_type: Option<&'static str>) -> Self {
        Exchange {
            method,
            uri: uri.to_owned(),
            body: body.map_or(Expected::Nothing, Expected::Json),
            content_type,
            normalize: None,
            status: StatusCode::OK,
            answer: Answer::Json(json!({})),
            rbac: rbac::sample(),
        }
    }

    pub fn get(uri: &str) -> Self {
        Exchange::new(Method::GET, uri, None, None)
    }

    /// A create: `POST` with a JSON body.
    pub fn post(uri: &str, body: Value) -> Self {
        Exchange::new(Method::POST, uri, Some(body), Some("application/json"))
    }

    /// A replace: `PUT` with a JSON body.
    pub fn put(uri: &str, body: Value) -> Self {
        Exchange::new(Method::PUT, uri, Some(body), Some("application/json"))
    }

    /// A server-side apply: `PATCH` with `application/apply-patch+yaml`.
    pub fn apply(uri: &str, body: Value) -> Self {
        Exchange::new(
            Method::PATCH,
            uri,
            Some(body),
            Some("application/apply-patch+yaml"),
        )
    }

    /// A JSON merge patch.
    pub fn merge_patch(uri: &str, body: Value) -> Self {
        Exchange::new(
            Method::PATCH,
            uri,
            Some(body),
            Some("application/merge-patch+json"),
        )
    }

    /// A JSON patch (RFC 6902), as kube-runtime's finalizer helper sends.
    pub fn json_patch(uri: &str, body: Value) -> Self {
        Exchange::new(
            Method::PATCH,
            uri,
            Some(body),
            Some("application/json-patch+json"),
        )
    }

    /// A delete with `DeleteOptions` as its body.
    pub fn delete(uri: &str, body: Value) -> Self {
        Exchange::new(Method::DELETE, uri, Some(body), Some("application/json"))
    }

    /// A create whose JSON body `check` accepts (it asserts what it cares about),
    /// answered with that body and `201 Created`, as the API server answers a create.
    pub fn post_checked(uri: &str, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        Exchange::post(uri, Value::Null)
            .checked(check)
            .respond_status(StatusCode::CREATED)
    }

    /// A JSON merge patch whose body `check` accepts, answered with that body.
    pub fn merge_patch_checked(uri: &str, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        Exchange::merge_patch(uri, Value::Null).checked(check)
    }

    fn checked(mut self, check: impl FnOnce(&Value) + Send + 'static) -> Self {
        self.body = Expected::Checked(Box::new(check));
        self.answer = Answer::Echo;
        self
    }

    fn respond_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Checks this request against `rbac` instead of the sample: for a request that only
    /// a helper option needs, granted by an opt-in addendum to the sample RBAC.
    pub fn granted_by(mut self, rbac: &'static rbac::Rbac) -> Self {
        self.rbac = rbac;
        self
    }

    pub fn normalize(mut self, normalize: fn(&mut Value)) -> Self {
        self.normalize = Some(normalize);
        self
    }

    pub fn respond(mut self, status: StatusCode, response: Value) -> Self {
        self.status = status;
        self.answer = Answer::Json(response);
        self
    }

    pub fn ok(self, response: Value) -> Self {
        self.respond(StatusCode::OK, response)
    }

    /// A `metav1.Status` failure as the API server sends it.
    pub fn fail(self, code: u16, reason: &str, message: &str) -> Self {
        self.respond(
            StatusCode::from_u16(code).unwrap(),
            json!({
                "kind": "Status",
                "apiVersion": "v1",
                "metadata": {},
                "status": "Failure",
                "message": message,
                "reason": reason,
                "code": code,
            }),
        )
    }
}

/// A client whose requests are checked against `script` and against the sample RBAC,
/// and the task to await (after dropping the client) to learn whether the script was
/// followed.
pub fn scripted_client(script: Vec<Exchange>) -> (Client, JoinHandle<()>) {
    scripted_client_waiting(script, WAIT)
}

/// [`scripted_client`], waiting up to `wait` for each request.
pub fn scripted_client_waiting(script: Vec<Exchange>, wait: Duration) -> (Client, JoinHandle<()>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        for (index, exchange) in script.into_iter().enumerate() {
            let (request, respond) = tokio::time::timeout(wait, handle.next_request())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "request #{index} ({} {}) never came",
                        exchange.method, exchange.uri
                    )
                })
                .unwrap_or_else(|| panic!("the client went away before request #{index} ({})", exchange.uri));
            let (parts, body) = request.into_parts();
            let uri = parts.uri.path_and_query().unwrap().as_str();
            let expected_uri = if uri_matches(&exchange.uri, uri) {
                uri
            } else {
                exchange.uri.as_str()
            };
            assert_eq!(
                (&parts.method, uri),
                (&exchange.method, expected_uri),
                "method and uri of request #{index}"
            );
            let content_type = parts
                .headers
                .get(http::header::CONTENT_TYPE)
                .map(|v| v.to_str().unwrap());
            exchange.rbac.assert_granted(&parts.method, uri, content_type);
            let bytes = body.collect_bytes().await.unwrap();
            let parsed = || -> Value {
                assert_eq!(
                    content_type, exchange.content_type,
                    "content type of request #{index}"
                );
                serde_json::from_slice(&bytes)
                    .unwrap_or_else(|e| panic!("body of request #{index} is not JSON ({e})"))
            };
            match exchange.body {
                Expected::Json(expected) => {
                    let mut received = parsed();
                    if let Some(normalize) = exchange.normalize {
                        normalize(&mut received);
                    }
                    assert_eq!(received, expected, "body of request #{index}");
                }
                Expected::Checked(check) => check(&parsed()),
                Expected::Nothing => assert!(bytes.is_empty(), "request #{index} has an unexpected body"),
            }
            let answer = match exchange.answer {
                Answer::Json(value) => serde_json::to_vec(&value).unwrap(),
                Answer::Echo => bytes.to_vec(),
            };
            let response = Response::builder()
                .status(exchange.status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(answer))
                .unwrap();
            respond.send_response(response);
        }
        if let Ok(Some((request, _))) = tokio::time::timeout(wait, handle.next_request()).await {
            panic!(
                "unexpected request beyond the script: {} {}",
                request.method(),
                request.uri()
            );
        }
    });
    (Client::new(service, "default"), server)
}

/// Whether `uri` is `expected`, where a path segment `*` of `expected` matches any one.
fn uri_matches(expected: &str, uri: &str) -> bool {
    let (expected_path, expected_query) = expected.split_once('?').unwrap_or((expected, ""));
    let (path, query) = uri.split_once('?').unwrap_or((uri, ""));
    let (expected_segments, segments): (Vec<&str>, Vec<&str>) =
        (expected_path.split('/').collect(), path.split('/').collect());
    expected.contains('?') == uri.contains('?')
        && expected_query == query
        && expected_segments.len() == segments.len()
        && expected_segments
            .iter()
            .zip(&segments)
            .all(|(e, s)| e == s || *e == "*")
}

/// Drops everything holding the client (the client, publishers, helpers) and waits for
/// the script to finish, failing on any mismatch. Call it before looking at the helpers'
/// results, so that a wrong request is reported as such rather than as the error the
/// client got when the script stopped answering.
pub async fn finish<T>(clients: T, server: JoinHandle<()>) {
    drop(clients);
    if let Err(e) = server.await {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// Replaces every string that parses as a timestamp within a minute of now by `NOW`,
/// anywhere in `body`.
pub fn now_as_placeholder(body: &mut Value) {
    match body {
        Value::String(text) => {
            if let Ok(time) = text.parse::<k8s_openapi::jiff::Timestamp>()
                && (k8s_openapi::jiff::Timestamp::now() - time).get_seconds().abs() < 60
            {
                *text = "NOW".to_owned();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(now_as_placeholder),
        Value::Object(fields) => fields.values_mut().for_each(now_as_placeholder),
        _ => {}
    }
}
