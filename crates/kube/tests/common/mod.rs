//! A scripted API server on kube's mock service (`tower_test::mock`): each test lists
//! the exact requests it expects and the responses to give, and the script fails the
//! test on any difference, on a missing request, and on a request beyond the script.
//! It also fails a request that the sample RBAC (`docs/kubernetes/rbac.yaml`) does not
//! grant: see [`rbac`].

#![allow(dead_code, unreachable_pub)]

pub mod rbac;

use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

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
    pub fn get(uri: &str) -> Self {
        Exchange {
            method: Method::GET,
            uri: uri.to_owned(),
            body: None,
            content_type: None,
            normalize: None,
            status: StatusCode::OK,
            response: json!({}),
        }
    }

    /// A server-side apply: `PATCH` with `application/apply-patch+yaml`.
    pub fn apply(uri: &str, body: Value) -> Self {
        Exchange {
            method: Method::PATCH,
            uri: uri.to_owned(),
            body: Some(body),
            content_type: Some("application/apply-patch+yaml"),
            normalize: None,
            status: StatusCode::OK,
            response: json!({}),
        }
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
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let server = tokio::spawn(async move {
        for (index, exchange) in script.into_iter().enumerate() {
            let (request, respond) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "request #{index} ({} {}) never came",
                        exchange.method, exchange.uri
                    )
                })
                .unwrap_or_else(|| panic!("the client went away before request #{index} ({})", exchange.uri));
            let (parts, body) = request.into_parts();
            assert_eq!(parts.method, exchange.method, "method of request #{index}");
            assert_eq!(
                parts.uri.path_and_query().unwrap().as_str(),
                exchange.uri,
                "uri of request #{index}"
            );
            rbac::assert_granted(
                &parts.method,
                parts.uri.path_and_query().unwrap().as_str(),
                parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap()),
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
        if let Ok(Some((request, _))) =
            tokio::time::timeout(Duration::from_secs(5), handle.next_request()).await
        {
            panic!(
                "unexpected request beyond the script: {} {}",
                request.method(),
                request.uri()
            );
        }
    });
    (Client::new(service, "default"), server)
}

/// Drops everything holding the client (the client, publishers) and waits for the
/// script to finish, failing on any mismatch. Call it before looking at the helpers'
/// results, so that a wrong request is reported as such rather than as the error the
/// client got when the script stopped answering.
pub async fn finish<T>(clients: T, server: JoinHandle<()>) {
    drop(clients);
    if let Err(e) = server.await {
        std::panic::resume_unwind(e.into_panic());
    }
}

/// The owner of the published objects in the tests: a stand-in for a controller's own
/// custom resource.
#[derive(
    kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema,
)]
#[kube(
    group = "source.extensions.fluxcd.io",
    version = "v1beta1",
    kind = "ArtifactGenerator",
    namespaced
)]
pub struct ArtifactGeneratorSpec {
    pub note: String,
}

pub const OWNER_UID: &str = "4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f";

/// An owner as read from the API server: name, namespace and UID set.
pub fn owner() -> ArtifactGenerator {
    let mut owner = ArtifactGenerator::new("podinfo", ArtifactGeneratorSpec::default());
    owner.metadata.namespace = Some("apps".into());
    owner.metadata.uid = Some(OWNER_UID.into());
    owner
}
