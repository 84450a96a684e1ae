//! The example's reconciler against a fake API server on kube's mock service, with a real
//! storage directory: what it sends, and what it leaves on disk. Every request must be
//! one that `docs/kubernetes/rbac.yaml` grants.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../../../test-support/kube_api/rbac.rs"]
#[allow(dead_code, unreachable_pub)]
mod rbac;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use flux_artifact::storage::Artifact;
use http::{Method, Request, Response, header::CONTENT_TYPE};
use kube::client::Body;
use serde_json::{Value, json};

use super::*;

const SOURCE: &str = "/apis/example.com/v1/namespaces/apps/podinfosources/podinfo";
const SOURCE_STATUS: &str = "/apis/example.com/v1/namespaces/apps/podinfosources/podinfo/status";
const EXTERNAL_ARTIFACTS: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts";
const EXTERNAL_ARTIFACT: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo";
const EXTERNAL_ARTIFACT_STATUS: &str =
    "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo/status";
const EVENTS: &str = "/apis/events.k8s.io/v1/namespaces/apps/events";

/// What the fake API server holds and saw.
#[derive(Default)]
struct State {
    source: Value,
    external_artifact: Option<Value>,
    events: Vec<Value>,
    /// Method and path of each request, in order.
    requests: Vec<(Method, String)>,
    /// Requests the sample RBAC does not grant.
    denied: Vec<String>,
    resource_version: u64,
}

impl State {
    /// Answers as the API server would, keeping the objects written.
    fn answer(&mut self, method: &Method, path: &str, body: Value) -> Value {
        self.resource_version += 1;
        let version = json!(self.resource_version.to_string());
        match (method.as_str(), path) {
            ("PATCH", SOURCE_STATUS) => {
                merge(&mut self.source, &body);
                self.source["metadata"]["resourceVersion"] = version;
                self.source.clone()
            }
            // kube-runtime's finalizer: a JSON patch removing ours.
            ("PATCH", SOURCE) => {
                self.source["metadata"]
                    .as_object_mut()
                    .unwrap()
                    .remove("finalizers");
                self.source.clone()
            }
            ("PATCH", EXTERNAL_ARTIFACT | EXTERNAL_ARTIFACT_STATUS) => {
                let object = self
                    .external_artifact
                    .get_or_insert_with(|| json!({ "metadata": { "uid": "ea-uid", "generation": 1 } }));
                merge(object, &body);
                object["metadata"]["resourceVersion"] = version;
                object.clone()
            }
            ("GET", EXTERNAL_ARTIFACTS) => json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1",
                "kind": "ExternalArtifactList",
                "metadata": {},
                "items": self.external_artifact.iter().collect::<Vec<_>>(),
            }),
            ("POST", EVENTS) => {
                self.events.push(body.clone());
                body
            }
            _ => panic!("unexpected request {method} {path}"),
        }
    }
}

/// A JSON merge patch (RFC 7386), as the API server applies one; close enough to
/// server-side apply for objects with a single field manager.
fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                if value.is_null() {
                    target.remove(key);
                } else {
                    merge(target.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// A client for a fake API server holding `source`.
fn fake_api(source: &PodinfoSource) -> (Client, Arc<Mutex<State>>) {
    let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let state = Arc::new(Mutex::new(State {
        source: serde_json::to_value(source).unwrap(),
        ..State::default()
    }));
    let shared = Arc::clone(&state);
    tokio::spawn(async move {
        while let Some((request, respond)) = handle.next_request().await {
            let (parts, body) = request.into_parts();
            let uri = parts.uri.path_and_query().unwrap().as_str().to_owned();
            let content_type = parts.headers.get(CONTENT_TYPE).map(|v| v.to_str().unwrap());
            let body = body.collect_bytes().await.unwrap();
            let body = if body.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&body).unwrap()
            };
            let answer = {
                let mut state = shared.lock().unwrap();
                for permission in rbac::permissions_for(&parts.method, &uri, content_type) {
                    if !rbac::sample().grants(&permission) {
                        state
                            .denied
                            .push(format!("{} {uri}: {permission:?}", parts.method));
                    }
                }
                state
                    .requests
                    .push((parts.method.clone(), parts.uri.path().to_owned()));
                state.answer(&parts.method, parts.uri.path(), body)
            };
            let answer = Body::from(serde_json::to_vec(&answer).unwrap());
            respond.send_response(Response::builder().status(200).body(answer).unwrap());
        }
    });
    (Client::new(service, "default"), state)
}

/// The object as read from the API server, with the finalizer already added.
fn podinfo(files: &[(&str, &str)]) -> PodinfoSource {
    let files = files
        .iter()
        .map(|(path, content)| ((*path).to_owned(), (*content).to_owned()));
    let mut source = PodinfoSource::new(
        "podinfo",
        PodinfoSourceSpec {
            files: files.collect(),
        },
    );
    source.metadata.namespace = Some("apps".into());
    source.metadata.uid = Some("podinfo-uid".into());
    source.metadata.generation = Some(1);
    source.metadata.resource_version = Some("1".into());
    source.metadata.finalizers = Some(vec![FINALIZER.into()]);
    source
}

/// The reconciler's context on `client`, with the storage under `root`.
fn context(client: &Client, root: &Path) -> Arc<Context> {
    let options = Options {
        storage_path: root.into(),
        ..Options::default()
    };
    let recorder = EventRecorder::new(client.clone(), CONTROLLER);
    let metrics = ReconcileMetrics::new(&mut Registry::default());
    let storage = Storage::new(&options).unwrap();
    Arc::new(Context::new(client, storage, recorder, metrics))
}

/// The fake API server's copy of the object, as the Controller's cache would hand it over.
fn current(state: &Mutex<State>) -> PodinfoSource {
    serde_json::from_value(state.lock().unwrap().source.clone()).unwrap()
}

/// The requests since the last call, failing on any the sample RBAC does not grant.
fn take_requests(state: &Mutex<State>) -> Vec<(Method, &'static str)> {
    let mut state = state.lock().unwrap();
    assert!(
        state.denied.is_empty(),
        "not granted by rbac.yaml: {:?}",
        state.denied
    );
    let known = [
        SOURCE,
        SOURCE_STATUS,
        EXTERNAL_ARTIFACTS,
        EXTERNAL_ARTIFACT,
        EXTERNAL_ARTIFACT_STATUS,
        EVENTS,
    ];
    std::mem::take(&mut state.requests)
        .into_iter()
        .map(|(method, path)| (method, *known.iter().find(|k| **k == path).unwrap()))
        .collect()
}

fn published_artifact(state: &Mutex<State>) -> Artifact {
    let object = state.lock().unwrap().external_artifact.clone().unwrap();
    serde_json::from_value(object["status"]["artifact"].clone()).unwrap()
}

fn condition(source: &PodinfoSource, type_: &str) -> Option<(String, String)> {
    let condition = source.conditions().iter().find(|c| c.type_ == type_)?;
    Some((condition.status.clone(), condition.reason.clone()))
}

/// The archives stored for the object.
fn archives(root: &Path) -> Vec<PathBuf> {
    let dir = root.join("externalartifact/apps/podinfo");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".tar.gz"))
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn a_new_object_is_archived_published_and_marked_ready() {
    let root = tempfile::tempdir().unwrap();
    let (client, state) = fake_api(&podinfo(&[("app.yaml", "kind: ConfigMap\n")]));
    let ctx = context(&client, root.path());

    let action = reconcile(Arc::new(current(&state)), Arc::clone(&ctx))
        .await
        .unwrap();

    assert_ne!(action, Action::await_change());
    assert_eq!(
        take_requests(&state),
        [
            (Method::PATCH, SOURCE_STATUS), // Reconciling
            (Method::PATCH, EXTERNAL_ARTIFACT),
            (Method::PATCH, EXTERNAL_ARTIFACT_STATUS),
            (Method::POST, EVENTS),         // NewArtifact
            (Method::PATCH, SOURCE_STATUS), // Ready
        ]
    );
    let artifact = published_artifact(&state);
    let hex = artifact.digest.trim_start_matches("sha256:");
    assert_eq!(
        artifact.path,
        format!("externalartifact/apps/podinfo/{hex}.tar.gz")
    );
    assert_eq!(artifact.revision, format!("latest@{}", artifact.digest));
    ctx.storage.verify_artifact(&artifact).await.unwrap();
    let event = state.lock().unwrap().events[0].clone();
    assert_eq!(
        (event["reason"].as_str(), event["regarding"]["kind"].as_str()),
        (Some("NewArtifact"), Some("ExternalArtifact"))
    );
    let source = current(&state);
    assert_eq!(
        condition(&source, "Ready"),
        Some(("True".into(), "Succeeded".into()))
    );
    assert_eq!(condition(&source, "Reconciling"), None);
    assert_eq!(source.observed_generation(), Some(1));
}

#[tokio::test]
async fn an_unchanged_object_writes_nothing() {
    let root = tempfile::tempdir().unwrap();
    let (client, state) = fake_api(&podinfo(&[("app.yaml", "kind: ConfigMap\n")]));
    let ctx = context(&client, root.path());
    reconcile(Arc::new(current(&state)), Arc::clone(&ctx))
        .await
        .unwrap();
    take_requests(&state);
    let stored = archives(root.path());
    let modified = std::fs::metadata(&stored[0]).unwrap().modified().unwrap();
    let published = state.lock().unwrap().external_artifact.clone();

    reconcile(Arc::new(current(&state)), ctx).await.unwrap();

    // The apply of the ExternalArtifact itself, which the API server finds unchanged; no
    // status write, no event.
    assert_eq!(take_requests(&state), [(Method::PATCH, EXTERNAL_ARTIFACT)]);
    assert_eq!(archives(root.path()), stored);
    assert_eq!(
        std::fs::metadata(&stored[0]).unwrap().modified().unwrap(),
        modified
    );
    let status = |object: Option<Value>| object.unwrap()["status"].clone();
    assert_eq!(
        status(state.lock().unwrap().external_artifact.clone()),
        status(published)
    );
}

#[tokio::test]
async fn a_changed_object_is_published_anew_and_old_archives_are_collected() {
    let root = tempfile::tempdir().unwrap();
    let (client, state) = fake_api(&podinfo(&[("app.yaml", "replicas: 1\n")]));
    let ctx = context(&client, root.path());
    let mut revisions = Vec::new();
    for generation in 1..=3 {
        let mut source = current(&state);
        source
            .spec
            .files
            .insert("app.yaml".into(), format!("replicas: {generation}\n"));
        source.metadata.generation = Some(generation);
        state.lock().unwrap().source = serde_json::to_value(&source).unwrap();

        reconcile(Arc::new(source), Arc::clone(&ctx)).await.unwrap();
        revisions.push(published_artifact(&state).revision);
    }

    revisions.dedup();
    assert_eq!(revisions.len(), 3);
    // `--artifact-retention-records` defaults to 2: the newest and the one before.
    let kept = archives(root.path());
    assert_eq!(kept.len(), 2);
    assert!(kept.contains(&root.path().join(published_artifact(&state).path)));
}

#[tokio::test]
async fn deleting_the_object_removes_its_storage() {
    let root = tempfile::tempdir().unwrap();
    let (client, state) = fake_api(&podinfo(&[("app.yaml", "kind: ConfigMap\n")]));
    let ctx = context(&client, root.path());
    reconcile(Arc::new(current(&state)), Arc::clone(&ctx))
        .await
        .unwrap();
    take_requests(&state);
    assert!(root.path().join("externalartifact/apps/podinfo").is_dir());

    let mut deleted = current(&state);
    deleted.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-01-01T00:00:00Z".parse().unwrap(),
    ));
    let action = reconcile(Arc::new(deleted), ctx).await.unwrap();

    assert_eq!(action, Action::await_change());
    // The object's ExternalArtifacts, then the finalizer's removal.
    assert_eq!(
        take_requests(&state),
        [(Method::GET, EXTERNAL_ARTIFACTS), (Method::PATCH, SOURCE)]
    );
    assert!(!root.path().join("externalartifact/apps/podinfo").exists());
}

#[tokio::test]
async fn a_file_that_cannot_be_archived_stalls_the_object() {
    let root = tempfile::tempdir().unwrap();
    let (client, state) = fake_api(&podinfo(&[("../app.yaml", "kind: ConfigMap\n")]));
    let ctx = context(&client, root.path());

    let action = reconcile(Arc::new(current(&state)), ctx).await.unwrap();

    // No retry until the spec changes, and nothing published.
    assert_eq!(action, Action::await_change());
    assert_eq!(
        take_requests(&state),
        [
            (Method::PATCH, SOURCE_STATUS), // Reconciling
            (Method::PATCH, SOURCE_STATUS), // Stalled
            (Method::POST, EVENTS),         // BuildFailed
        ]
    );
    let source = current(&state);
    assert_eq!(
        condition(&source, "Stalled"),
        Some(("True".into(), "BuildFailed".into()))
    );
    assert_eq!(
        condition(&source, "Ready"),
        Some(("False".into(), "BuildFailed".into()))
    );
    let event = state.lock().unwrap().events[0].clone();
    assert_eq!(event["type"], "Warning");
    assert!(event["note"].as_str().unwrap().contains("../app.yaml"), "{event}");
    assert!(state.lock().unwrap().external_artifact.is_none());
    assert!(!root.path().join("externalartifact/apps/podinfo").exists());
}

#[tokio::test]
async fn a_foreground_deletion_removes_the_storage_of_an_external_artifact_already_gone() {
    let root = tempfile::tempdir().unwrap();
    let (client, state) = fake_api(&podinfo(&[("app.yaml", "kind: ConfigMap\n")]));
    let ctx = context(&client, root.path());
    reconcile(Arc::new(current(&state)), Arc::clone(&ctx))
        .await
        .unwrap();
    // Foreground deletion: Kubernetes deletes the dependents before the finalizer runs.
    state.lock().unwrap().external_artifact = None;

    let mut deleted = current(&state);
    deleted.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        "2026-01-01T00:00:00Z".parse().unwrap(),
    ));
    reconcile(Arc::new(deleted), ctx).await.unwrap();

    assert!(!root.path().join("externalartifact/apps/podinfo").exists());
}
