//! `StatusWriter`: the exact status patches for each Flux state, and the writes it
//! skips.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{Exchange, PodinfoSource, finish, now_as_placeholder, podinfo_source, scripted_client};
use flux_artifact_kube::Error;
use flux_artifact_runtime::status::{ReconcileState, ReconcileStatus, StatusWriter};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use serde_json::{Value, json};

impl ReconcileStatus for PodinfoSource {
    const OBSERVED_GENERATION: bool = true;
    const LAST_HANDLED_RECONCILE_AT: bool = true;

    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |s| &s.conditions)
    }

    fn observed_generation(&self) -> Option<i64> {
        self.status.as_ref()?.observed_generation
    }

    fn last_handled_reconcile_at(&self) -> Option<&str> {
        self.status.as_ref()?.last_handled_reconcile_at.as_deref()
    }
}

const STATUS_URI: &str =
    "/apis/example.com/v1/namespaces/apps/podinfosources/podinfo/status?&fieldManager=podinfo-controller";
const EARLIER: &str = "2026-11-24T09:00:00Z";

fn condition(type_: &str, status: &str, reason: &str, message: &str, since: &str) -> Value {
    json!({
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "observedGeneration": 3,
        "lastTransitionTime": since,
    })
}

/// The tests' object with these conditions (set since `EARLIER`).
fn with_conditions(conditions: Value) -> PodinfoSource {
    let mut object = podinfo_source();
    object.status = Some(serde_json::from_value(json!({ "conditions": conditions })).unwrap());
    object
}

/// The expected patch: the object's resource version and this status.
fn patch(status: Value) -> Value {
    json!({ "metadata": { "resourceVersion": "5000" }, "status": status })
}

/// Writes `state` to a copy of `object` against `script`; returns whether it was
/// written, and the copy.
async fn write(
    script: Vec<Exchange>,
    object: &PodinfoSource,
    state: ReconcileState,
) -> Result<(bool, PodinfoSource), Error> {
    let (client, server) = scripted_client(script);
    let writer = StatusWriter::new(client.clone(), "podinfo-controller");
    let mut object = object.clone();
    let result = writer.write(&mut object, &state).await;
    finish((client, writer), server).await;
    result.map(|written| (written, object))
}

fn answered(object: &PodinfoSource) -> Value {
    serde_json::to_value(object).unwrap()
}

#[tokio::test]
async fn progressing_marks_reconciling_and_ready_unknown() {
    let object = podinfo_source();
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [
                    condition("Reconciling", "True", "Progressing", "building artifact", "NOW"),
                    condition("Ready", "Unknown", "Progressing", "building artifact", "NOW"),
                ],
            })),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&object)),
    ];

    let (written, _) = write(script, &object, ReconcileState::progressing("building artifact"))
        .await
        .unwrap();

    assert!(written);
}

#[tokio::test]
async fn success_sets_ready_removes_reconciling_and_stalled_and_records_the_generation() {
    let object = with_conditions(json!([
        condition("Reconciling", "True", "Progressing", "building artifact", EARLIER),
        condition("Ready", "Unknown", "Progressing", "building artifact", EARLIER),
    ]));
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [condition("Ready", "True", "Succeeded", "stored artifact for revision 'v1'", "NOW")],
                "observedGeneration": 3,
            })),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&object)),
    ];

    write(
        script,
        &object,
        ReconcileState::succeeded("stored artifact for revision 'v1'"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_failure_to_retry_is_ready_false_and_reconciling_with_retry_keeping_its_time() {
    let object = with_conditions(json!([
        condition("Reconciling", "True", "Progressing", "building artifact", EARLIER),
        condition("Ready", "Unknown", "Progressing", "building artifact", EARLIER),
    ]));
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [
                    // Still True: same transition time, new reason, Flux keeps the message.
                    condition("Reconciling", "True", "ProgressingWithRetry", "building artifact", EARLIER),
                    condition("Ready", "False", "BuildFailed", "podinfo build failed: no such tag", "NOW"),
                ],
            })),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&object)),
    ];

    write(
        script,
        &object,
        ReconcileState::failed("BuildFailed", "podinfo build failed: no such tag"),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_failure_without_reconciling_adds_it_with_the_failure() {
    let object = podinfo_source();
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [
                    condition("Ready", "False", "SourceFetchFailed", "source 'GitRepository/apps/podinfo' is not ready", "NOW"),
                    condition("Reconciling", "True", "ProgressingWithRetry", "source 'GitRepository/apps/podinfo' is not ready", "NOW"),
                ],
            })),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&object)),
    ];

    write(
        script,
        &object,
        ReconcileState::failed(
            "SourceFetchFailed",
            "source 'GitRepository/apps/podinfo' is not ready",
        ),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn stalled_is_ready_false_and_stalled_without_reconciling_and_records_the_generation() {
    let object = with_conditions(json!([
        condition("Reconciling", "True", "Progressing", "building artifact", EARLIER),
        condition("Ready", "Unknown", "Progressing", "building artifact", EARLIER),
    ]));
    let message = "duplicate artifact name 'podinfo'";
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [
                    condition("Ready", "False", "ValidationFailed", message, "NOW"),
                    condition("Stalled", "True", "ValidationFailed", message, "NOW"),
                ],
                "observedGeneration": 3,
            })),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&object)),
    ];

    write(
        script,
        &object,
        ReconcileState::stalled("ValidationFailed", message),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn a_state_the_object_already_has_sends_nothing() {
    let mut object = with_conditions(json!([condition(
        "Ready",
        "True",
        "Succeeded",
        "stored artifact for revision 'v1'",
        EARLIER
    )]));
    object.status.as_mut().unwrap().observed_generation = Some(3);

    let written = write(
        vec![],
        &object,
        ReconcileState::succeeded("stored artifact for revision 'v1'"),
    )
    .await;

    assert!(!written.unwrap().0);
}

#[tokio::test]
async fn conditions_of_other_types_are_kept() {
    let object = with_conditions(json!([
        condition("ArtifactInStorage", "True", "Succeeded", "stored", EARLIER),
        condition("Ready", "Unknown", "Progressing", "building artifact", EARLIER),
    ]));
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [
                    condition("ArtifactInStorage", "True", "Succeeded", "stored", EARLIER),
                    condition("Ready", "True", "Succeeded", "done", "NOW"),
                ],
                "observedGeneration": 3,
            })),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&object)),
    ];

    write(script, &object, ReconcileState::succeeded("done"))
        .await
        .unwrap();
}

#[tokio::test]
async fn a_requested_reconcile_is_recorded_as_handled() {
    let mut object = with_conditions(json!([condition("Ready", "True", "Succeeded", "done", EARLIER)]));
    object.status.as_mut().unwrap().observed_generation = Some(3);
    object.metadata.annotations = Some(
        [(
            "reconcile.fluxcd.io/requestedAt".to_owned(),
            "2026-11-24T10:30:00.123456789Z".to_owned(),
        )]
        .into(),
    );
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [condition("Ready", "True", "Succeeded", "done", EARLIER)],
                "lastHandledReconcileAt": "2026-11-24T10:30:00.123456789Z",
            })),
        )
        .ok(answered(&object)),
    ];

    write(script, &object.clone(), ReconcileState::succeeded("done"))
        .await
        .unwrap();

    // Once handled, the same request is not written again.
    object.status.as_mut().unwrap().last_handled_reconcile_at = Some("2026-11-24T10:30:00.123456789Z".into());
    assert!(
        !write(vec![], &object, ReconcileState::succeeded("done"))
            .await
            .unwrap()
            .0
    );
}

#[tokio::test]
async fn a_status_changed_since_it_was_read_is_a_conflict() {
    let object = podinfo_source();
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [
                    condition("Reconciling", "True", "Progressing", "building", "NOW"),
                    condition("Ready", "Unknown", "Progressing", "building", "NOW"),
                ],
            })),
        )
        .normalize(now_as_placeholder)
        .fail(
            409,
            "Conflict",
            "Operation cannot be fulfilled on podinfosources.example.com \"podinfo\": the object has been modified; please apply your changes to the latest version and try again",
        ),
    ];

    let error = write(script, &object, ReconcileState::progressing("building"))
        .await
        .unwrap_err();

    assert!(error.is_conflict(), "{error:?}");
    assert!(
        matches!(&error, Error::Conflict { action: "patch status of", kind, .. } if kind == "PodinfoSource"),
        "{error:?}"
    );
}

#[tokio::test]
async fn an_object_not_read_from_the_api_server_is_written_unconditionally() {
    let mut object = podinfo_source();
    object.metadata.resource_version = None;
    let script = vec![
        Exchange::merge_patch(
            STATUS_URI,
            json!({
                "status": {
                    "conditions": [
                        condition("Reconciling", "True", "Progressing", "building", "NOW"),
                        condition("Ready", "Unknown", "Progressing", "building", "NOW"),
                    ],
                },
            }),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&object)),
    ];

    write(script, &object, ReconcileState::progressing("building"))
        .await
        .unwrap();
}

#[tokio::test]
async fn an_object_without_a_namespace_is_refused_before_any_request() {
    let mut object = podinfo_source();
    object.metadata.namespace = None;

    let error = write(vec![], &object, ReconcileState::progressing("building"))
        .await
        .unwrap_err();

    assert!(matches!(error, Error::IncompleteOwner { field: "namespace" }));
}

#[tokio::test]
async fn the_object_becomes_the_servers_answer_so_the_next_write_is_conditional_on_it() {
    let object = podinfo_source();
    let mut answer = with_conditions(json!([
        condition("Reconciling", "True", "Progressing", "building", EARLIER),
        condition("Ready", "Unknown", "Progressing", "building", EARLIER),
    ]));
    answer.metadata.resource_version = Some("5001".into());
    let (client, server) = scripted_client(vec![
        Exchange::merge_patch(
            STATUS_URI,
            patch(json!({
                "conditions": [
                    condition("Reconciling", "True", "Progressing", "building", "NOW"),
                    condition("Ready", "Unknown", "Progressing", "building", "NOW"),
                ],
            })),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&answer)),
        Exchange::merge_patch(
            STATUS_URI,
            json!({
                "metadata": { "resourceVersion": "5001" },
                "status": {
                    "conditions": [condition("Ready", "True", "Succeeded", "done", "NOW")],
                    "observedGeneration": 3,
                },
            }),
        )
        .normalize(now_as_placeholder)
        .ok(answered(&answer)),
    ]);
    let writer = StatusWriter::new(client.clone(), "podinfo-controller");
    let mut object = object;

    let first = writer.progressing(&mut object, "building").await;
    let second = writer.succeeded(&mut object, "done").await;
    finish((client, writer), server).await;

    assert!(first.unwrap() && second.unwrap());
}
