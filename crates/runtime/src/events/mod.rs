//! Events about the controller's own objects, as Flux controllers emit them: a
//! Kubernetes Event for `kubectl describe`, and the same event posted to Flux's
//! notification-controller so that Flux `Alert`s fire for producers too.
//!
//! ```no_run
//! use flux_artifact_runtime::events::{Event, EventRecorder};
//! # use k8s_openapi::api::core::v1::ConfigMap;
//!
//! # async fn reconcile(client: kube::Client, generator: &ConfigMap, events_addr: &str)
//! #     -> Result<(), Box<dyn std::error::Error>> {
//! // Once, at start-up: `events_addr` is the controller's `--events-addr` flag, e.g.
//! // "http://notification-controller.flux-system.svc.cluster.local./"; empty sends
//! // Kubernetes Events only.
//! let recorder = EventRecorder::new(client, "artifact-generator").with_events_addr(events_addr)?;
//!
//! // In the reconciler: one call, both destinations.
//! recorder
//!     .record(
//!         generator,
//!         Event::normal("ArtifactUpToDate", "stored artifact for revision 'latest@sha256:3f2a…'")
//!             .with_revision("latest@sha256:3f2a…"),
//!     )
//!     .await;
//! # Ok(())
//! # }
//! ```
//!
//! The rules are Flux's (`github.com/fluxcd/pkg/runtime/events`):
//!
//! - [`EventType::Normal`] and [`EventType::Warning`] go to Kubernetes and to
//!   notification-controller, with severity `info` and `error`;
//! - [`EventType::Trace`] ("nothing happened worth an alert", e.g. "no drift detected") goes
//!   to Kubernetes only, as a Normal event;
//! - with no `--events-addr` (an empty string), nothing is posted: Kubernetes Events only;
//! - metadata keys are namespaced by the object's API group (`<group>/revision`,
//!   `<group>/token`), since notification-controller drops every key not prefixed by that
//!   group or by `event.toolkit.fluxcd.io/`, and the object's own annotations with the
//!   `event.toolkit.fluxcd.io/` prefix are added (Flux RFC-0008);
//! - posting retries connection errors and 5xx answers (but not 501) with exponential
//!   waits, and stops at once on 429, notification-controller's answer to a duplicate.
//!
//! [`FluxEventSender`] is the notification-controller half on its own, for callers
//! that want the delivery result; [`FluxEvent`] is the JSON body.
//!
//! An `Alert` selects events by the object's kind, and its `eventSources[].kind` is an
//! enum of Flux's kinds (`ArtifactGenerator` and `ExternalArtifact` among them, a
//! producer's own kind not): a producer with its own kind records the events Alerts
//! should see about the `ExternalArtifact` it published. `docs/kubernetes.md` has the
//! details, and the network path notification-controller needs.

mod flux;
mod recorder;

pub use self::{
    flux::{
        Delivery, FLUX_EVENT_GROUP, FluxEvent, FluxEventSender, InvalidEventsAddress, RetryPolicy, SendError,
        Severity,
    },
    recorder::{DEFAULT_ACTION, Event, EventRecorder, EventType},
};
