//! `Publisher::apply`: the exact server-side apply requests, the skipped status write
//! for an unchanged artifact, transition times, and the typed errors of failed calls.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{ArtifactGenerator, Exchange, OWNER_UID, finish, owner, scripted_client};
use flux_artifact_kube::{Error, ExtraMetadata, Published, Publisher, apply_external_artifact};
use flux_artifact_storage::Artifact;
use serde_json::{Value, json};

const OBJECT_URI: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo?&force=true&fieldManager=podinfo-controller";
const STATUS_URI: &str = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo/status?&force=true&fieldManager=podinfo-controller";
const DIGEST: &str = "sha256:d3e26ba501117680e6cb724de21aef139df4a5aa63ac3dcafc3f1b190a6498ce";
const OTHER_DIGEST: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn artifact_json(digest: &str, last_update: &str) -> Value {
    json!({
        "digest": digest,
        "lastUpdateTime": last_update,
        "path": "externalartifact/apps/podinfo/podinfo.tar.gz",
        "revision": format!("latest@{digest}"),
        "size": 1234,
        "url": "http://podinfo-controller.flux-system.svc.cluster.local./externalartifact/apps/podinfo/podinfo.tar.gz",
    })
}

fn artifact(digest: &str, last_update: &str) -> Artifact {
    serde_json::from_value(artifact_json(digest, last_update)).unwrap()
}

fn owner_reference() -> Value {
    json!({
        "apiVersion": "source.extensions.fluxcd.io/v1beta1",
        "kind": "ArtifactGenerator",
        "name": "podinfo",
        "uid": OWNER_UID,
        "controller": true,
    })
}

/// The object apply every publication starts with.
fn object_apply() -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {
            "name": "podinfo",
            "namespace": "apps",
            "labels": {
                "app.kubernetes.io/managed-by": "podinfo-controller",
                "source.extensions.fluxcd.io/generator": OWNER_UID,
            },
            "ownerReferences": [owner_reference()],
        },
        "spec": {
            "sourceRef": {
                "apiVersion": "source.extensions.fluxcd.io/v1beta1",
                "kind": "ArtifactGenerator",
                "name": "podinfo",
                "namespace": "apps",
            },
        },
    })
}

/// The object as the API server returns it, with `status` if given.
fn stored_object(generation: i64, status: Option<Value>) -> Value {
    let mut object = object_apply();
    object["metadata"]["uid"] = json!("0c2d6f7a-1111-4222-8333-944455556666");
    object["metadata"]["generation"] = json!(generation);
    object["metadata"]["resourceVersion"] = json!("48213");
    object["metadata"]["creationTimestamp"] = json!("2026-11-24T09:00:00Z");
    if let Some(status) = status {
        object["status"] = status;
    }
    object
}

fn ready(message: &str, generation: i64, status: &str, reason: &str, since: &str) -> Value {
    json!({
        "type": "Ready",
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": generation,
        "lastTransitionTime": since,
    })
}

/// The status apply, conditional on the resource version `stored_object` has.
fn status_apply(artifact: Value, conditions: Value) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": { "name": "podinfo", "namespace": "apps", "resourceVersion": "48213" },
        "status": { "artifact": artifact, "conditions": conditions },
    })
}

/// Replaces transition times within a minute of now by `NOW`, leaving older ones.
fn now_as_placeholder(body: &mut Value) {
    let now = k8s_openapi::jiff::Timestamp::now();
    for condition in body["status"]["conditions"].as_array_mut().unwrap() {
        let time: k8s_openapi::jiff::Timestamp =
            condition["lastTransitionTime"].as_str().unwrap().parse().unwrap();
        if (now - time).get_seconds().abs() < 60 {
            condition["lastTransitionTime"] = json!("NOW");
        }
    }
}

fn revision_message(digest: &str) -> String {
    format!("stored artifact for revision 'latest@{digest}'")
}

/// Applies `artifact` for `owner` with the tests' publisher against `script`, and checks
/// the script was followed before handing back the result.
async fn apply(
    script: Vec<Exchange>,
    owner: &ArtifactGenerator,
    artifact: &Artifact,
) -> Result<Published, Error> {
    let (client, server) = scripted_client(script);
    let publisher = Publisher::new(client.clone(), "podinfo-controller");
    let result = publisher.apply(owner, "podinfo", artifact).await;
    finish((client, publisher), server).await;
    result
}

/// The status of an ExternalArtifact that publishes `digest`, Ready since `since`.
fn published(digest: &str, last_update: &str, generation: i64, since: &str) -> Value {
    json!({
        "artifact": artifact_json(digest, last_update),
        "conditions": [ready(&revision_message(digest), generation, "True", "Succeeded", since)],
    })
}

/// `lastUpdateTime` of the artifact the tests publish.
const T0: &str = "2026-11-24T10:00:00Z";

/// The `Ready` condition of a publication of `digest`.
fn succeeded(digest: &str, generation: i64, since: &str) -> Value {
    ready(&revision_message(digest), generation, "True", "Succeeded", since)
}

/// Another condition, `True` since before the tests' publications.
fn condition(type_: &str, reason: &str) -> Value {
    json!({ "type": type_, "status": "True", "reason": reason, "message": "no such path", "lastTransitionTime": "2026-11-24T09:30:00Z" })
}

/// A publication that writes the status: the object apply answered with `stored`, then
/// the status apply expected with `artifact` and `conditions` (a transition time within a
/// minute of now written as `NOW`) and answered by `answer`.
fn object_then_status(
    stored: Value,
    artifact: Value,
    conditions: Value,
    answer: impl FnOnce(Exchange) -> Exchange,
) -> Vec<Exchange> {
    vec![
        Exchange::apply(OBJECT_URI, object_apply()).ok(stored),
        answer(Exchange::apply(STATUS_URI, status_apply(artifact, conditions)).normalize(now_as_placeholder)),
    ]
}

#[tokio::test]
async fn a_new_artifact_applies_the_object_then_its_status() {
    let script = object_then_status(
        stored_object(1, None),
        artifact_json(DIGEST, T0),
        json!([succeeded(DIGEST, 1, "NOW")]),
        |e| {
            e.ok(stored_object(
                1,
                Some(published(DIGEST, T0, 1, "2026-11-24T10:00:01Z")),
            ))
        },
    );
    let result = apply(script, &owner(), &artifact(DIGEST, T0)).await;

    let published = result.unwrap();
    assert!(published.status_updated);
    assert_eq!(published.object.status.unwrap().artifact.unwrap().digest, DIGEST);
}

#[tokio::test]
async fn reapplying_the_same_artifact_sends_no_status() {
    let status = published(DIGEST, T0, 1, "2026-11-24T10:00:01Z");
    let result = apply(
        vec![Exchange::apply(OBJECT_URI, object_apply()).ok(stored_object(1, Some(status)))],
        &owner(),
        &artifact(DIGEST, T0),
    )
    .await;

    assert!(!result.unwrap().status_updated);
}

#[tokio::test]
async fn a_rebuild_with_the_same_content_keeps_the_published_status_and_time() {
    let status = published(DIGEST, T0, 1, "2026-11-24T10:00:01Z");
    let script = vec![Exchange::apply(OBJECT_URI, object_apply()).ok(stored_object(1, Some(status)))];
    // Archived again an hour later: same file, new lastUpdateTime.
    let result = apply(script, &owner(), &artifact(DIGEST, "2026-11-24T11:00:00Z")).await;

    let published = result.unwrap();
    assert!(!published.status_updated);
    let kept = published.object.status.unwrap().artifact.unwrap();
    assert_eq!(serde_json::to_value(kept).unwrap()["lastUpdateTime"], T0);
}

#[tokio::test]
async fn a_new_revision_updates_the_status_but_keeps_the_ready_transition_time() {
    let before = published(OTHER_DIGEST, "2026-11-24T09:00:00Z", 1, "2026-11-24T09:00:01Z");
    // Ready was True and stays True: the transition time is the old one.
    let script = object_then_status(
        stored_object(1, Some(before)),
        artifact_json(DIGEST, T0),
        json!([succeeded(DIGEST, 1, "2026-11-24T09:00:01Z")]),
        |e| e.ok(stored_object(1, None)),
    );
    let result = apply(script, &owner(), &artifact(DIGEST, T0)).await;

    assert!(result.unwrap().status_updated);
}

#[tokio::test]
async fn recovering_from_a_failure_moves_the_transition_time_and_ends_the_stall() {
    let before = json!({
        "artifact": artifact_json(DIGEST, T0),
        "conditions": [
            ready("build failed: no such path", 3, "False", "BuildFailed", "2026-11-24T09:30:00Z"),
            condition("Stalled", "BuildFailed"),
        ],
    });
    let script = object_then_status(
        stored_object(4, Some(before)),
        artifact_json(DIGEST, T0),
        json!([succeeded(DIGEST, 4, "NOW")]),
        |e| e.ok(stored_object(4, None)),
    );
    let result = apply(script, &owner(), &artifact(DIGEST, T0)).await;

    assert!(result.unwrap().status_updated);
}

#[tokio::test]
async fn extra_metadata_and_a_custom_generated_by_label_are_applied_and_reserved_labels_win() {
    let mut expected = object_apply();
    expected["metadata"]["labels"] = json!({
        "app.kubernetes.io/managed-by": "podinfo-controller",
        "example.com/generator": OWNER_UID,
        "team": "platform",
    });
    expected["metadata"]["annotations"] = json!({ "example.com/note": "built by CI" });
    let status = published(DIGEST, T0, 1, "2026-11-24T10:00:01Z");
    let (client, server) = scripted_client(vec![
        Exchange::apply(OBJECT_URI, expected).ok(stored_object(1, Some(status))),
    ]);
    let publisher =
        Publisher::new(client.clone(), "podinfo-controller").with_generated_by_label("example.com/generator");
    let extra = ExtraMetadata {
        labels: [
            ("team", "platform"),
            ("app.kubernetes.io/managed-by", "someone-else"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
        annotations: [("example.com/note".to_owned(), "built by CI".to_owned())].into(),
    };
    let result = publisher
        .apply_with_metadata(&owner(), "podinfo", &artifact(DIGEST, T0), &extra)
        .await;
    finish((client, publisher), server).await;

    assert!(!result.unwrap().status_updated);
}

#[tokio::test]
async fn the_one_call_form_applies_like_a_default_publisher() {
    let status = published(DIGEST, T0, 1, "2026-11-24T10:00:01Z");
    let (client, server) = scripted_client(vec![
        Exchange::apply(OBJECT_URI, object_apply()).ok(stored_object(1, Some(status))),
    ]);
    let result = apply_external_artifact(
        &client,
        "podinfo-controller",
        &owner(),
        "podinfo",
        &artifact(DIGEST, T0),
    )
    .await;
    finish(client, server).await;

    assert!(!result.unwrap().status_updated);
}

#[tokio::test]
async fn a_conflict_without_force_is_a_conflict_error() {
    let uri = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo?&fieldManager=podinfo-controller";
    let message = "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using source.toolkit.fluxcd.io/v1: .spec.sourceRef.name";
    let (client, server) = scripted_client(vec![
        Exchange::apply(uri, object_apply()).fail(409, "Conflict", message),
    ]);
    let publisher = Publisher::new(client.clone(), "podinfo-controller").with_force(false);
    let result = publisher.apply(&owner(), "podinfo", &artifact(DIGEST, T0)).await;
    finish((client, publisher), server).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::Conflict { action: "apply", namespace, name, message: m, .. } if namespace == "apps" && name == "podinfo" && m == message),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("conflict while trying to apply ExternalArtifact apps/podinfo: Apply failed")
    );
}

#[tokio::test]
async fn a_status_refused_by_the_schema_is_an_invalid_error() {
    let message = "ExternalArtifact.source.toolkit.fluxcd.io \"podinfo\" is invalid: status.artifact.digest: Invalid value: \"sha256:ZZ\": status.artifact.digest in body should match '^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$'";
    let mut bad = artifact_json("sha256:ZZ", T0);
    bad["revision"] = json!("v1");
    let script = object_then_status(
        stored_object(1, None),
        bad.clone(),
        json!([ready(
            "stored artifact for revision 'v1'",
            1,
            "True",
            "Succeeded",
            "NOW"
        )]),
        |e| e.fail(422, "Invalid", message),
    );
    let result = apply(script, &owner(), &serde_json::from_value(bad).unwrap()).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::Invalid { action: "apply status of", message: m, .. } if m == message),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_object_deleted_before_its_status_is_written_is_not_found() {
    let script = object_then_status(
        stored_object(1, None),
        artifact_json(DIGEST, T0),
        json!([succeeded(DIGEST, 1, "NOW")]),
        |e| {
            e.fail(
                404,
                "NotFound",
                "externalartifacts.source.toolkit.fluxcd.io \"podinfo\" not found",
            )
        },
    );
    let result = apply(script, &owner(), &artifact(DIGEST, T0)).await;

    let error = result.unwrap_err();
    assert!(error.is_not_found(), "{error:?}");
    assert_eq!(
        error.to_string(),
        "cannot apply status of ExternalArtifact apps/podinfo: not found: externalartifacts.source.toolkit.fluxcd.io \"podinfo\" not found"
    );
}

#[tokio::test]
async fn missing_rbac_is_a_forbidden_error() {
    let message = "externalartifacts.source.toolkit.fluxcd.io \"podinfo\" is forbidden: User \"system:serviceaccount:apps:podinfo\" cannot patch resource \"externalartifacts\" in API group \"source.toolkit.fluxcd.io\" in the namespace \"apps\"";
    let result = apply(
        vec![Exchange::apply(OBJECT_URI, object_apply()).fail(403, "Forbidden", message)],
        &owner(),
        &artifact(DIGEST, T0),
    )
    .await;

    assert!(matches!(result.unwrap_err(), Error::Forbidden { message: m, .. } if m == message));
}

#[tokio::test]
async fn a_server_error_is_an_api_error_with_the_status() {
    let result = apply(
        vec![Exchange::apply(OBJECT_URI, object_apply()).fail(
            500,
            "InternalError",
            "etcdserver: request timed out",
        )],
        &owner(),
        &artifact(DIGEST, T0),
    )
    .await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::Api { action: "apply", source, .. } if matches!(**source, kube::Error::Api(ref s) if s.code == 500))
    );
    // The server's message is in the cause, not repeated in the error's own message.
    assert_eq!(error.to_string(), "failed to apply ExternalArtifact apps/podinfo");
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.contains("etcdserver: request timed out"), "{cause}");
}

#[tokio::test]
async fn the_label_selector_selects_what_the_publisher_labels() {
    let (client, server) = scripted_client(vec![]);
    let publisher = Publisher::new(client.clone(), "podinfo-controller");
    assert_eq!(
        publisher.label_selector(),
        "app.kubernetes.io/managed-by=podinfo-controller"
    );
    finish((client, publisher), server).await;
}

#[tokio::test]
async fn an_unchanged_artifact_still_clears_a_leftover_reconciling_condition() {
    let mut before = published(DIGEST, T0, 1, "2026-11-24T10:00:01Z");
    before["conditions"]
        .as_array_mut()
        .unwrap()
        .push(condition("Reconciling", "Progressing"));
    let script = object_then_status(
        stored_object(1, Some(before)),
        artifact_json(DIGEST, T0),
        json!([succeeded(DIGEST, 1, "2026-11-24T10:00:01Z")]),
        |e| e.ok(stored_object(1, None)),
    );
    let result = apply(script, &owner(), &artifact(DIGEST, T0)).await;

    assert!(result.unwrap().status_updated);
}

#[tokio::test]
async fn a_status_changed_since_the_object_was_applied_is_a_conflict() {
    let message = "Operation cannot be fulfilled on externalartifacts.source.toolkit.fluxcd.io \"podinfo\": the object has been modified; please apply your changes to the latest version and try again";
    let script = object_then_status(
        stored_object(1, None),
        artifact_json(DIGEST, T0),
        json!([succeeded(DIGEST, 1, "NOW")]),
        |e| e.fail(409, "Conflict", message),
    );
    let result = apply(script, &owner(), &artifact(DIGEST, T0)).await;

    let error = result.unwrap_err();
    assert!(
        matches!(
            &error,
            Error::Conflict {
                action: "apply status of",
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_missing_crd_or_namespace_is_not_found_with_the_servers_message() {
    let result = apply(
        vec![Exchange::apply(OBJECT_URI, object_apply()).fail(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )],
        &owner(),
        &artifact(DIGEST, T0),
    )
    .await;

    assert_eq!(
        result.unwrap_err().to_string(),
        "cannot apply ExternalArtifact apps/podinfo: not found: the server could not find the requested resource"
    );
}

/// Publishes with a publisher built by `configure`, expecting no request.
async fn refused(configure: impl FnOnce(kube::Client) -> Publisher, extra: ExtraMetadata) -> Error {
    let (client, server) = scripted_client(vec![]);
    let publisher = configure(client.clone());
    let result = publisher
        .apply_with_metadata(&owner(), "podinfo", &artifact(DIGEST, T0), &extra)
        .await;
    finish((client, publisher), server).await;
    result.unwrap_err()
}

#[tokio::test]
async fn a_field_manager_that_cannot_be_a_label_value_is_refused_before_any_request() {
    let error = refused(
        |c| Publisher::new(c, "example.com/controller"),
        ExtraMetadata::default(),
    )
    .await;
    assert!(
        matches!(&error, Error::InvalidLabel { value, .. } if value == "example.com/controller"),
        "{error:?}"
    );
    let error = refused(|c| Publisher::new(c, "x".repeat(64)), ExtraMetadata::default()).await;
    assert!(error.to_string().contains("longer than 63 characters"), "{error}");
    let error = refused(|c| Publisher::new(c, ""), ExtraMetadata::default()).await;
    assert!(matches!(error, Error::InvalidLabel { .. }));
}

#[tokio::test]
async fn a_generated_by_key_that_cannot_be_a_label_key_is_refused_before_any_request() {
    for key in [
        "Example.com/generator",
        "example.com/",
        "/generator",
        "example.com/-generator",
        "a/b/c",
    ] {
        let error = refused(
            |c| Publisher::new(c, "podinfo-controller").with_generated_by_label(key),
            ExtraMetadata::default(),
        )
        .await;
        assert!(
            matches!(&error, Error::InvalidLabel { value, .. } if value == key),
            "{key}: {error:?}"
        );
    }
}

#[tokio::test]
async fn an_extra_label_key_that_cannot_be_a_label_key_is_refused_before_any_request() {
    let extra = ExtraMetadata {
        labels: [("bad key".to_owned(), "v".to_owned())].into(),
        ..ExtraMetadata::default()
    };
    let error = refused(|c| Publisher::new(c, "podinfo-controller"), extra).await;
    assert!(matches!(
        error,
        Error::InvalidLabel {
            what: "extra label",
            ..
        }
    ));
}

#[tokio::test]
async fn an_owner_without_a_name_namespace_or_uid_is_refused_before_any_request() {
    type Clear = fn(&mut common::ArtifactGenerator);
    let cases: [(&str, Clear); 3] = [
        ("name", |o| o.metadata.name = None),
        ("namespace", |o| o.metadata.namespace = None),
        ("uid", |o| o.metadata.uid = None),
    ];
    for (field, clear) in cases {
        let mut owner = owner();
        clear(&mut owner);
        let result = apply(vec![], &owner, &artifact(DIGEST, T0)).await;
        assert!(
            matches!(result.unwrap_err(), Error::IncompleteOwner { field: f } if f == field),
            "{field}"
        );
    }
}

/// A cluster-scoped kind, as a producer might wrongly pick for an owner.
#[derive(
    kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema,
)]
#[kube(group = "example.com", version = "v1", kind = "ClusterPodinfo")]
struct ClusterPodinfoSpec {
    note: String,
}

#[tokio::test]
async fn a_cluster_scoped_owner_is_refused_with_an_explicit_error_before_any_request() {
    // As read from the API server: a name and a UID, and no namespace to give.
    let mut owner = ClusterPodinfo::new("podinfo", ClusterPodinfoSpec::default());
    owner.metadata.uid = Some(OWNER_UID.into());
    let (client, server) = scripted_client(vec![]);
    let publisher = Publisher::new(client.clone(), "podinfo-controller");
    let result = publisher.apply(&owner, "podinfo", &artifact(DIGEST, T0)).await;
    finish((client, publisher), server).await;

    let error = result.unwrap_err();
    assert!(
        matches!(&error, Error::ClusterScopedOwner { kind, name } if kind == "ClusterPodinfo" && name == "podinfo"),
        "{error:?}"
    );
    assert_eq!(
        error.to_string(),
        "cannot publish for ClusterPodinfo podinfo: ClusterPodinfo is cluster-scoped, and an \
         ExternalArtifact is created in its owner's namespace; use a namespaced owner"
    );
}
