//! A scripted API server on kube's mock service (`tower_test::mock`): each test lists
//! the exact requests it expects and the responses to give, and the script fails the
//! test on any difference, on a missing request, and on a request beyond the script.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// How long the script waits for each request. Tests on tokio's paused clock pass a
/// long (virtual) wait instead, since their clients sleep for retry periods.
pub const WAIT: Duration = Duration::from_secs(5);

/// One request the test expects and the response it gets.
pub struct Exchange {
    pub method: Method,
    /// Path and query, exactly as sent.
    pub uri: String,
    /// The JSON body expected, if the request has one.
    pub body: Option<Value>,
    /// The content type expected, if the request has a body.
    pub content_type: Option<&'static str>,
    /// A rewrite of the received body before comparing, for values the test cannot
    /// know (the current time).
    pub normalize: Option<fn(&mut Value)>,
    pub status: StatusCode,
    pub response: Value,
}

impl Exchange {
    fn new(method: Method, uri: &str, body: Option<Value>, content_type: Option<&'static str>) -> Self {
        Exchange {
            method,
            uri: uri.to_owned(),
            body,
            content_type,
            normalize: None,
            status: StatusCode::OK,
            response: json!({}),
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

    pub fn normalize(mut self, normalize: fn(&mut Value)) -> Self {
        self.normalize = Some(normalize);
        self
    }

    pub fn respond(mut self, status: StatusCode, response: Value) -> Self {
        self.status = status;
        self.response = response;
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

/// A client whose requests are checked against `script`, and the task to await (after
/// dropping the client) to learn whether the script was followed.
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
            assert_eq!(
                (&parts.method, parts.uri.path_and_query().unwrap().as_str()),
                (&exchange.method, exchange.uri.as_str()),
                "method and uri of request #{index}"
            );
            let bytes = body.collect_bytes().await.unwrap();
            match exchange.body {
                Some(expected) => {
                    let content_type = parts
                        .headers
                        .get(http::header::CONTENT_TYPE)
                        .map(|v| v.to_str().unwrap());
                    assert_eq!(
                        content_type, exchange.content_type,
                        "content type of request #{index}"
                    );
                    let mut received: Value = serde_json::from_slice(&bytes)
                        .unwrap_or_else(|e| panic!("body of request #{index} is not JSON ({e})"));
                    if let Some(normalize) = exchange.normalize {
                        normalize(&mut received);
                    }
                    assert_eq!(received, expected, "body of request #{index}");
                }
                None => assert!(bytes.is_empty(), "request #{index} has an unexpected body"),
            }
            let response = Response::builder()
                .status(exchange.status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Body::from(serde_json::to_vec(&exchange.response).unwrap()))
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

/// Drops everything holding the client and waits for the script to finish, failing on
/// any mismatch. Call it before looking at the helpers' results, so that a wrong
/// request is reported as such rather than as the error the client got when the script
/// stopped answering.
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

/// A producer's own custom resource, as the tests' owner of ExternalArtifacts.
#[derive(
    kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema,
)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "PodinfoSource",
    namespaced,
    status = "PodinfoSourceStatus"
)]
pub struct PodinfoSourceSpec {
    pub url: String,
}

/// Its status, in the Flux style.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodinfoSourceStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<String>,
}

pub const OWNER_UID: &str = "4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f";

/// The owner as the API server returns it.
pub fn podinfo_source() -> PodinfoSource {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1",
        "kind": "PodinfoSource",
        "metadata": {
            "name": "podinfo",
            "namespace": "apps",
            "uid": OWNER_UID,
            "generation": 3,
            "resourceVersion": "5000",
        },
        "spec": { "url": "oci://ghcr.io/stefanprodan/manifests/podinfo" },
    }))
    .unwrap()
}

/// A temporary storage root and the storage on it.
pub struct TempStorage {
    pub dir: tempfile::TempDir,
    pub storage: flux_artifact_storage::Storage,
}

impl TempStorage {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = flux_artifact_config::Options {
            storage_path: dir.path().into(),
            ..flux_artifact_config::Options::default()
        };
        let storage = flux_artifact_storage::Storage::new(&options)
            .unwrap()
            .with_fsync(false);
        TempStorage { dir, storage }
    }

    /// Stores an artifact file for `kind` `namespace/name`; returns the object's
    /// directory.
    pub fn store(&self, kind: &str, namespace: &str, name: &str) -> std::path::PathBuf {
        let mut artifact = self
            .storage
            .new_artifact_for(kind, &(namespace, name), "v1", "artifact.tar.gz")
            .unwrap();
        self.storage.copy(&mut artifact, &b"content"[..]).unwrap();
        self.path(&format!("{}/{namespace}/{name}", kind.to_lowercase()))
    }

    /// A path under the storage root.
    pub fn path(&self, relative: &str) -> std::path::PathBuf {
        self.storage.base_path().join(relative)
    }
}

/// An ExternalArtifact as listed, with the publisher's labels.
pub fn external_artifact(namespace: &str, name: &str, uid: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "labels": {
                "app.kubernetes.io/managed-by": "podinfo-controller",
                "source.extensions.fluxcd.io/generator": OWNER_UID,
            },
        },
        "spec": {},
    })
}

/// A list of ExternalArtifacts.
pub fn external_artifacts(items: Vec<Value>, continue_token: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifactList",
        "metadata": { "resourceVersion": "1000", "continue": continue_token },
        "items": items,
    })
}
