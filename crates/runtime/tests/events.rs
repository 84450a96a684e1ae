//! The Flux event sender against a real HTTP receiver on 127.0.0.1, and the combined
//! recorder against that receiver and kube's mock API: what is posted where, retries,
//! and that a receiver that is down or silent costs a bounded time.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::{collections::BTreeMap, time::Duration};

use flux_artifact_runtime::events::{
    Delivery, Event, EventRecorder, FluxEvent, FluxEventSender, RetryPolicy, SendError, Severity,
};
use k8s_openapi::{
    api::core::v1::{Namespace, ObjectReference},
    apimachinery::pkg::apis::meta::v1::Time,
    jiff::Timestamp,
};
use serde_json::Value;
use support::{Exchange, Receiver, Reply, closed_address, finish, scripted_client};

/// A stand-in for a producer's own custom resource.
#[allow(missing_docs)]
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

const UID: &str = "4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f";
const EVENTS_URI: &str = "/apis/events.k8s.io/v1/namespaces/apps/events?";

fn generator() -> ArtifactGenerator {
    let mut generator = ArtifactGenerator::new("podinfo", ArtifactGeneratorSpec::default());
    generator.metadata.namespace = Some("apps".into());
    generator.metadata.uid = Some(UID.into());
    generator.metadata.resource_version = Some("48213".into());
    generator.metadata.annotations = Some(BTreeMap::from([
        ("event.toolkit.fluxcd.io/team".to_owned(), "platform".to_owned()),
        (
            "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
            "{}".to_owned(),
        ),
    ]));
    generator
}

fn flux_event(message: &str) -> FluxEvent {
    FluxEvent {
        involved_object: ObjectReference {
            api_version: Some("source.extensions.fluxcd.io/v1beta1".into()),
            kind: Some("ArtifactGenerator".into()),
            name: Some("podinfo".into()),
            namespace: Some("apps".into()),
            ..ObjectReference::default()
        },
        severity: Severity::Info,
        timestamp: Time("2026-11-24T09:00:00Z".parse::<Timestamp>().unwrap()),
        message: message.into(),
        reason: "Succeeded".into(),
        metadata: BTreeMap::new(),
        reporting_controller: "artifact-generator".into(),
        reporting_instance: String::new(),
    }
}

/// Retries without the waits, so that the tests take milliseconds.
fn quick(max_retries: u32) -> RetryPolicy {
    RetryPolicy {
        max_retries,
        wait_min: Duration::from_millis(1),
        wait_max: Duration::from_millis(5),
        attempt_timeout: Duration::from_secs(5),
    }
}

fn sender(url: &str, max_retries: u32) -> FluxEventSender {
    FluxEventSender::new(url)
        .unwrap()
        .with_retry_policy(quick(max_retries))
}

#[tokio::test]
async fn an_event_is_posted_as_json_to_the_address() {
    let receiver = Receiver::start(vec![]).await;
    let url = format!("http://{}/hooks/events", receiver.addr);
    let event = flux_event("stored artifact for revision 'latest@sha256:3f2a'");

    assert_eq!(sender(&url, 0).send(&event).await.unwrap(), Delivery::Accepted);

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].method, "POST");
    assert_eq!(received[0].path, "/hooks/events");
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    assert_eq!(
        serde_json::from_slice::<FluxEvent>(&received[0].body).unwrap(),
        event
    );
}

#[tokio::test]
async fn server_errors_are_retried_until_the_event_is_accepted() {
    let receiver = Receiver::start(vec![Reply::Status(500), Reply::Status(503)]).await;

    let delivery = sender(&receiver.url(), 4)
        .send(&flux_event("retry me"))
        .await
        .unwrap();

    assert_eq!(delivery, Delivery::Accepted);
    let received = receiver.received();
    assert_eq!(received.len(), 3);
    assert!(received.iter().all(|r| r.json()["message"] == "retry me"));
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_the_retries() {
    let receiver = Receiver::start(vec![Reply::Status(500); 10]).await;

    let error = sender(&receiver.url(), 2)
        .send(&flux_event("x"))
        .await
        .unwrap_err();

    match &error {
        SendError::Status {
            status,
            attempts,
            url,
        } => {
            assert_eq!(status.as_u16(), 500);
            assert_eq!(*attempts, 3);
            assert_eq!(url, &receiver.url());
        }
        other => panic!("expected Status, got {other:?}"),
    }
    assert_eq!(receiver.received().len(), 3);
    assert_eq!(
        error.to_string(),
        format!(
            "{} answered 500 Internal Server Error to all 3 attempts",
            receiver.url()
        )
    );
}

#[tokio::test]
async fn a_duplicate_answer_is_not_retried_and_not_an_error() {
    let receiver = Receiver::start(vec![Reply::Status(429)]).await;

    let delivery = sender(&receiver.url(), 4)
        .send(&flux_event("seen before"))
        .await
        .unwrap();

    assert_eq!(delivery, Delivery::Duplicate);
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let receiver = Receiver::start(vec![Reply::Status(400)]).await;

    let error = sender(&receiver.url(), 4)
        .send(&flux_event("bad"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, SendError::Rejected { status, .. } if status.as_u16() == 400),
        "{error:?}"
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn not_implemented_is_not_retried() {
    let receiver = Receiver::start(vec![Reply::Status(501)]).await;

    let error = sender(&receiver.url(), 4)
        .send(&flux_event("x"))
        .await
        .unwrap_err();

    assert!(
        matches!(error, SendError::Rejected { status, .. } if status.as_u16() == 501),
        "{error:?}"
    );
    assert_eq!(receiver.received().len(), 1);
}

#[tokio::test]
async fn retry_after_of_a_503_is_honoured_within_the_cap() {
    // A Retry-After of an hour, capped by `wait_max` (5ms here): the retry comes at once.
    let receiver = Receiver::start(vec![Reply::StatusWith(503, "Retry-After: 3600")]).await;

    let delivery = sender(&receiver.url(), 1).send(&flux_event("x")).await.unwrap();

    assert_eq!(delivery, Delivery::Accepted);
    assert_eq!(receiver.received().len(), 2);
}

#[tokio::test]
async fn a_receiver_that_is_down_fails_after_the_bounded_retries() {
    let url = format!("http://{}/", closed_address().await);

    let error = tokio::time::timeout(Duration::from_secs(30), sender(&url, 2).send(&flux_event("x")))
        .await
        .expect("bounded retries end")
        .unwrap_err();

    match &error {
        SendError::Unreachable {
            attempts,
            url: failed,
            ..
        } => {
            assert_eq!(*attempts, 3);
            assert_eq!(failed, &url);
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
    assert!(
        std::error::Error::source(&error).is_some(),
        "the cause is kept as the source"
    );
    assert_eq!(
        error.to_string(),
        format!("{url} could not be reached in 3 attempts")
    );
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_per_attempt() {
    let receiver = Receiver::start(vec![Reply::Silent, Reply::Silent]).await;
    let policy = RetryPolicy {
        attempt_timeout: Duration::from_millis(200),
        ..quick(1)
    };
    let sender = FluxEventSender::new(&receiver.url())
        .unwrap()
        .with_retry_policy(policy);

    let error = tokio::time::timeout(Duration::from_secs(30), sender.send(&flux_event("x")))
        .await
        .expect("per-attempt timeouts end the delivery")
        .unwrap_err();

    assert!(
        matches!(error, SendError::Timeout { attempts: 2, timeout, .. } if timeout == Duration::from_millis(200)),
        "{error:?}"
    );
    assert_eq!(receiver.received().len(), 2);
}

fn expect_kube_event(
    event_type: &'static str,
    reason: &'static str,
    note: String,
) -> impl FnOnce(&Value) + Send + 'static {
    move |body| {
        assert_eq!(body["type"], event_type);
        assert_eq!(body["reason"], reason);
        assert_eq!(body["note"], Value::String(note));
        assert_eq!(body["action"], "Reconcile");
        assert_eq!(body["reportingController"], "artifact-generator");
        assert_eq!(body["reportingInstance"], "artifact-generator-7d9f");
        assert_eq!(body["regarding"]["kind"], "ArtifactGenerator");
        assert_eq!(body["regarding"]["name"], "podinfo");
        assert_eq!(body["regarding"]["uid"], UID);
        assert_eq!(body["regarding"]["resourceVersion"], "48213");
        assert!(body["metadata"]["name"].as_str().unwrap().starts_with("podinfo."));
    }
}

fn recorder(client: kube::Client) -> EventRecorder {
    EventRecorder::with_instance(client, "artifact-generator", "artifact-generator-7d9f")
}

#[tokio::test]
async fn a_warning_goes_to_kubernetes_and_to_notification_controller() {
    let receiver = Receiver::start(vec![]).await;
    let (client, server) = scripted_client(vec![Exchange::post_checked(
        EVENTS_URI,
        expect_kube_event("Warning", "BuildFailed", "no files matched 'deploy/**'".into()),
    )]);
    let recorder = recorder(client).with_events_addr(&receiver.url()).unwrap();

    recorder
        .record(
            &generator(),
            Event::warning("BuildFailed", "no files matched 'deploy/**'")
                .with_revision("latest@sha256:3f2a")
                .with_token("7"),
        )
        .await;
    finish(recorder, server).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    let event: FluxEvent = serde_json::from_slice(&received[0].body).unwrap();
    assert_eq!(event.severity, Severity::Error);
    assert_eq!(event.reason, "BuildFailed");
    assert_eq!(event.message, "no files matched 'deploy/**'");
    assert_eq!(event.reporting_controller, "artifact-generator");
    assert_eq!(event.reporting_instance, "artifact-generator-7d9f");
    assert_eq!(
        event.involved_object.api_version.as_deref(),
        Some("source.extensions.fluxcd.io/v1beta1")
    );
    assert_eq!(event.involved_object.kind.as_deref(), Some("ArtifactGenerator"));
    assert_eq!(event.involved_object.namespace.as_deref(), Some("apps"));
    assert_eq!(event.involved_object.name.as_deref(), Some("podinfo"));
    assert_eq!(event.involved_object.uid.as_deref(), Some(UID));
    assert_eq!(
        event.metadata,
        BTreeMap::from([
            ("event.toolkit.fluxcd.io/team".to_owned(), "platform".to_owned()),
            (
                "source.extensions.fluxcd.io/revision".to_owned(),
                "latest@sha256:3f2a".to_owned()
            ),
            ("source.extensions.fluxcd.io/token".to_owned(), "7".to_owned()),
        ])
    );
}

#[tokio::test]
async fn a_repeated_event_is_patched_into_a_series() {
    let first_name = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let name = std::sync::Arc::clone(&first_name);
    let check_first = expect_kube_event("Warning", "BuildFailed", "boom".into());
    let (client, server) = scripted_client(vec![
        Exchange::post_checked(EVENTS_URI, move |body| {
            check_first(body);
            *name.lock().unwrap() = body["metadata"]["name"].as_str().unwrap().to_owned();
        }),
        // The event's name is generated (`podinfo.<nanoseconds>`): the patch must name
        // the event created first.
        Exchange::merge_patch_checked("/apis/events.k8s.io/v1/namespaces/apps/events/*?", move |body| {
            assert_eq!(
                body["metadata"]["name"].as_str(),
                Some(first_name.lock().unwrap().as_str())
            );
            assert_eq!(body["series"]["count"], 2);
            assert_eq!(body["reason"], "BuildFailed");
        }),
    ]);
    let recorder = recorder(client);

    for _ in 0..2 {
        recorder
            .record(&generator(), Event::warning("BuildFailed", "boom"))
            .await;
    }
    finish(recorder, server).await;
}

#[tokio::test]
async fn a_normal_event_is_info_for_notification_controller() {
    let receiver = Receiver::start(vec![]).await;
    let (client, server) = scripted_client(vec![Exchange::post_checked(
        EVENTS_URI,
        expect_kube_event("Normal", "NewArtifact", "stored artifact".into()),
    )]);
    let recorder = recorder(client).with_events_addr(&receiver.url()).unwrap();

    recorder
        .record(&generator(), Event::normal("NewArtifact", "stored artifact"))
        .await;
    finish(recorder, server).await;

    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].json()["severity"], "info");
}

#[tokio::test]
async fn a_trace_event_goes_to_kubernetes_only_as_normal() {
    let receiver = Receiver::start(vec![]).await;
    let (client, server) = scripted_client(vec![Exchange::post_checked(
        EVENTS_URI,
        expect_kube_event("Normal", "ArtifactUpToDate", "no drift detected".into()),
    )]);
    let recorder = recorder(client).with_events_addr(&receiver.url()).unwrap();

    recorder
        .record(
            &generator(),
            Event::trace("ArtifactUpToDate", "no drift detected"),
        )
        .await;
    finish(recorder, server).await;

    assert!(
        receiver.received().is_empty(),
        "trace events never reach notification-controller"
    );
}

#[tokio::test]
async fn without_an_events_address_only_kubernetes_gets_the_event() {
    let (client, server) = scripted_client(vec![Exchange::post_checked(
        EVENTS_URI,
        expect_kube_event("Warning", "BuildFailed", "boom".into()),
    )]);
    let recorder = recorder(client).with_events_addr("").unwrap();
    assert!(recorder.flux_sender().is_none());

    recorder
        .record(&generator(), Event::warning("BuildFailed", "boom"))
        .await;
    finish(recorder, server).await;
}

#[tokio::test]
async fn an_invalid_events_address_is_refused_up_front() {
    let (client, server) = scripted_client(vec![]);
    let error = recorder(client.clone())
        .with_events_addr("notification-controller:80")
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid events address \"notification-controller:80\": expected an absolute http:// URL"
    );
    finish(client, server).await;
}

#[tokio::test]
async fn long_messages_are_cut_for_kubernetes_but_not_for_flux() {
    let receiver = Receiver::start(vec![]).await;
    let message = "é".repeat(600); // 1200 bytes
    let (client, server) = scripted_client(vec![Exchange::post_checked(
        EVENTS_URI,
        expect_kube_event("Warning", "BuildFailed", "é".repeat(512)),
    )]);
    let recorder = recorder(client).with_events_addr(&receiver.url()).unwrap();

    recorder
        .record(&generator(), Event::warning("BuildFailed", message.clone()))
        .await;
    finish(recorder, server).await;

    assert_eq!(receiver.received()[0].json()["message"], Value::String(message));
}

#[tokio::test]
async fn cluster_scoped_objects_get_kubernetes_events_only() {
    let receiver = Receiver::start(vec![]).await;
    let (client, server) = scripted_client(vec![Exchange::post_checked(
        "/apis/events.k8s.io/v1/namespaces/default/events?",
        |body| assert_eq!(body["regarding"]["kind"], "Namespace"),
    )]);
    let recorder = recorder(client).with_events_addr(&receiver.url()).unwrap();
    let mut namespace = Namespace::default();
    namespace.metadata.name = Some("apps".into());

    recorder.record(&namespace, Event::warning("Failed", "x")).await;
    finish(recorder, server).await;

    assert!(
        receiver.received().is_empty(),
        "Flux's event API needs a namespaced object"
    );
}

#[tokio::test]
async fn a_failing_receiver_does_not_stop_the_kubernetes_event() {
    let url = format!("http://{}/", closed_address().await);
    let (client, server) = scripted_client(vec![Exchange::post_checked(
        EVENTS_URI,
        expect_kube_event("Warning", "BuildFailed", "boom".into()),
    )]);
    let recorder = recorder(client).with_flux_sender(sender(&url, 1));

    tokio::time::timeout(
        Duration::from_secs(30),
        recorder.record(&generator(), Event::warning("BuildFailed", "boom")),
    )
    .await
    .expect("recording ends despite the receiver being down");
    finish(recorder, server).await;
}
