//! The combined recorder: one call, a Kubernetes Event and (unless it is a trace) a
//! Flux event.

use std::collections::BTreeMap;

use k8s_openapi::{api::core::v1::ObjectReference, apimachinery::pkg::apis::meta::v1::Time, jiff::Timestamp};
use kube::{
    Client, Resource,
    runtime::events::{Event as KubeEvent, EventType as KubeEventType, Recorder, Reporter},
};

use super::flux::{Delivery, FLUX_EVENT_GROUP, FluxEvent, FluxEventSender, InvalidEventsAddress, Severity};

/// The `action` of Kubernetes Events whose [`Event`] sets none.
pub const DEFAULT_ACTION: &str = "Reconcile";

/// The Events API refuses longer reasons and actions (`events.k8s.io/v1` validation).
const MAX_KUBE_REASON_BYTES: usize = 128;
/// The Events API refuses a longer `note` (the message).
const MAX_KUBE_NOTE_BYTES: usize = 1024;
/// The longest message Flux's event API documents.
const MAX_FLUX_MESSAGE_CHARS: usize = 39_000;

/// The kind of an [`Event`], with Flux's `Trace` beside Kubernetes' two.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    /// Something changed, for the better or as expected: a Kubernetes `Normal` event
    /// and a Flux event of severity `info`.
    Normal,
    /// Something failed: a Kubernetes `Warning` event and a Flux event of severity
    /// `error`.
    Warning,
    /// Progress worth keeping but not worth an alert: a Kubernetes `Normal` event only.
    Trace,
}

impl EventType {
    /// The Flux severity of this type (what notification-controller would be told).
    #[must_use]
    pub fn severity(self) -> Severity {
        match self {
            EventType::Normal => Severity::Info,
            EventType::Warning => Severity::Error,
            EventType::Trace => Severity::Trace,
        }
    }
}

/// One event about an object: type, reason and message, and for Flux, metadata such as
/// the revision it concerns.
///
/// ```
/// use flux_artifact_runtime::events::{Event, EventType};
///
/// let event = Event::warning("BuildFailed", "artifact 'podinfo': no files matched 'deploy/**'")
///     .with_revision("main@sha1:3f2a7c1d")
///     .with_metadata("event.toolkit.fluxcd.io/team", "platform");
/// assert_eq!(event.event_type(), EventType::Warning);
/// assert_eq!(event.metadata()["revision"], "main@sha1:3f2a7c1d");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    event_type: EventType,
    reason: String,
    message: String,
    action: Option<String>,
    metadata: BTreeMap<String, String>,
}

impl Event {
    /// An event of any type. `reason` is a `PascalCase` word (Flux's reasons:
    /// `Succeeded`, `BuildFailed`, `ArtifactUpToDate`, …), `message` a sentence.
    pub fn new(event_type: EventType, reason: impl Into<String>, message: impl Into<String>) -> Self {
        Event {
            event_type,
            reason: reason.into(),
            message: message.into(),
            action: None,
            metadata: BTreeMap::new(),
        }
    }

    /// A [`EventType::Normal`] event.
    pub fn normal(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Event::new(EventType::Normal, reason, message)
    }

    /// A [`EventType::Warning`] event.
    pub fn warning(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Event::new(EventType::Warning, reason, message)
    }

    /// A [`EventType::Trace`] event: Kubernetes only.
    pub fn trace(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Event::new(EventType::Trace, reason, message)
    }

    /// Sets the Kubernetes Event's `action` (what the controller did; [`DEFAULT_ACTION`]
    /// otherwise). Flux events have no action.
    #[must_use]
    pub fn with_action(mut self, action: impl Into<String>) -> Self {
        self.action = Some(action.into());
        self
    }

    /// Adds a metadata entry for the Flux event. A key without `/` is qualified with the
    /// object's API group when recorded (`revision` becomes
    /// `source.extensions.fluxcd.io/revision` for an ArtifactGenerator), which is what
    /// notification-controller keeps; a key with `/` is sent as it is (and kept by
    /// notification-controller only if prefixed by that group or
    /// `event.toolkit.fluxcd.io/`). The last value for a key wins.
    #[must_use]
    pub fn with_metadata(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.metadata.insert(key.into(), value.into());
        self
    }

    /// The revision the event is about (`<group>/revision`): notification-controller
    /// shows it, Git commit status providers need it, and it is part of the key that
    /// tells a new event from a duplicate.
    #[must_use]
    pub fn with_revision(self, revision: impl Into<String>) -> Self {
        self.with_metadata("revision", revision)
    }

    /// A token that tells this event apart from an otherwise identical one
    /// (`<group>/token`), e.g. the object's generation: notification-controller
    /// discards repeats of the same object, message, revision and token for a while.
    #[must_use]
    pub fn with_token(self, token: impl Into<String>) -> Self {
        self.with_metadata("token", token)
    }

    /// The type.
    #[must_use]
    pub fn event_type(&self) -> EventType {
        self.event_type
    }

    /// The reason.
    #[must_use]
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// The message.
    #[must_use]
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The metadata as given (keys not yet qualified with the object's group).
    #[must_use]
    pub fn metadata(&self) -> &BTreeMap<String, String> {
        &self.metadata
    }
}

/// Records [`Event`]s for a controller's objects, Flux's way: a Kubernetes Event
/// through kube-runtime's [`Recorder`] and, for Normal and Warning events when an
/// events address is set, a [`FluxEvent`] posted to notification-controller.
///
/// Create one at start-up and share it (it is cheap to clone): kube's `Recorder` keeps
/// a cache that turns repeats of an event into one Kubernetes Event with a growing
/// count. Note that kube-runtime keys that cache by object, type, reason and action,
/// not message: a repeat with a new message within six minutes counts up the first
/// Event and keeps its message. Give events whose message matters distinct reasons or
/// actions. The Flux event always carries the current message.
///
/// Recording is best-effort, as in Flux: a failure on either side is logged (`tracing`,
/// at warn level) and does not fail the reconcile. Both sides are sent concurrently;
/// `record` returns when both are done, which with notification-controller down takes
/// up to the sender's [`RetryPolicy`](super::RetryPolicy) bound. To not wait, clone
/// the recorder into a spawned task.
///
/// Kubernetes Events are `events.k8s.io/v1` objects in the object's namespace
/// (`default` for cluster-scoped objects): the controller needs `create` and `patch` on
/// `events` in the `events.k8s.io` group. Reasons and actions are cut to 128 bytes and
/// messages to 1024 bytes there, which is what that API accepts; the Flux event keeps
/// the message up to Flux's 39,000 characters.
#[derive(Clone)]
pub struct EventRecorder {
    kube: Recorder,
    controller: String,
    instance: String,
    flux: Option<FluxEventSender>,
}

impl std::fmt::Debug for EventRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventRecorder")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .field("flux", &self.flux.as_ref().map(FluxEventSender::url))
            .finish_non_exhaustive()
    }
}

impl EventRecorder {
    /// A recorder reporting as `controller` (e.g. `artifact-generator`; Kubernetes'
    /// `reportingController` and Flux's `reportingController`), from an instance named
    /// after the host (the pod's name), that sends Kubernetes Events only until
    /// [`with_events_addr`](Self::with_events_addr) gives it notification-controller's
    /// address.
    pub fn new(client: Client, controller: impl Into<String>) -> Self {
        let instance = gethostname::gethostname().to_string_lossy().into_owned();
        EventRecorder::with_reporter(client, controller.into(), instance)
    }

    /// Like [`new`](Self::new) with an explicit instance name (e.g. the pod name from the
    /// downward API) instead of the host name.
    pub fn with_instance(client: Client, controller: impl Into<String>, instance: impl Into<String>) -> Self {
        EventRecorder::with_reporter(client, controller.into(), instance.into())
    }

    fn with_reporter(client: Client, controller: String, instance: String) -> Self {
        let reporter = Reporter {
            controller: controller.clone(),
            instance: Some(instance.clone()).filter(|i| !i.is_empty()),
        };
        EventRecorder {
            kube: Recorder::new(client, reporter),
            controller,
            instance,
            flux: None,
        }
    }

    /// Sends Normal and Warning events to `events_addr` too: a Flux controller's
    /// `--events-addr`, e.g. `http://notification-controller.flux-system.svc.cluster.local./`.
    /// An empty address means no notification-controller, as in Flux: Kubernetes Events
    /// only.
    ///
    /// # Errors
    ///
    /// [`InvalidEventsAddress`] for an address that [`FluxEventSender::new`] refuses.
    pub fn with_events_addr(self, events_addr: &str) -> Result<Self, InvalidEventsAddress> {
        if events_addr.is_empty() {
            return Ok(EventRecorder { flux: None, ..self });
        }
        Ok(self.with_flux_sender(FluxEventSender::new(events_addr)?))
    }

    /// Sends Normal and Warning events through `sender` (e.g. one with its own
    /// [`RetryPolicy`](super::RetryPolicy)).
    #[must_use]
    pub fn with_flux_sender(self, sender: FluxEventSender) -> Self {
        EventRecorder {
            flux: Some(sender),
            ..self
        }
    }

    /// The notification-controller sender, if an events address is set.
    #[must_use]
    pub fn flux_sender(&self) -> Option<&FluxEventSender> {
        self.flux.as_ref()
    }

    /// Records `event` about `object`: a Kubernetes Event (a Trace one as Normal) and,
    /// for Normal and Warning events with an events address set, a Flux event. The
    /// object needs a name; the Flux event also a namespace (Flux's event API is for
    /// namespaced objects). Failures are logged, not returned (see the type's docs).
    pub async fn record<K>(&self, object: &K, event: Event)
    where
        K: Resource,
        K::DynamicType: Default,
    {
        let dynamic_type = K::DynamicType::default();
        let mut reference = object.object_ref(&dynamic_type);
        reference
            .resource_version
            .clone_from(&object.meta().resource_version);
        tracing::debug!(
            kind = reference.kind.as_deref().unwrap_or_default(),
            namespace = reference.namespace.as_deref().unwrap_or_default(),
            name = reference.name.as_deref().unwrap_or_default(),
            event_type = ?event.event_type,
            reason = %event.reason,
            message = %event.message,
            "recording event"
        );
        let flux_event = match (&self.flux, event.event_type) {
            (Some(sender), EventType::Normal | EventType::Warning) => self
                .flux_event(&reference, &K::group(&dynamic_type), object, &event)
                .map(|flux_event| (sender, flux_event)),
            (_, _) => None,
        };
        let kube = self.record_in_kubernetes(&reference, &event);
        let flux = async {
            if let Some((sender, flux_event)) = flux_event {
                log_delivery(sender, &flux_event, sender.send(&flux_event).await);
            }
        };
        tokio::join!(kube, flux);
    }

    async fn record_in_kubernetes(&self, reference: &ObjectReference, event: &Event) {
        let kube_event = KubeEvent {
            type_: match event.event_type {
                EventType::Warning => KubeEventType::Warning,
                EventType::Normal | EventType::Trace => KubeEventType::Normal,
            },
            reason: truncate_bytes(&event.reason, MAX_KUBE_REASON_BYTES).to_owned(),
            note: Some(truncate_bytes(&event.message, MAX_KUBE_NOTE_BYTES).to_owned()),
            action: truncate_bytes(
                event.action.as_deref().unwrap_or(DEFAULT_ACTION),
                MAX_KUBE_REASON_BYTES,
            )
            .to_owned(),
            secondary: None,
        };
        if let Err(error) = self.kube.publish(&kube_event, reference).await {
            tracing::warn!(
                error = &error as &dyn std::error::Error,
                kind = reference.kind.as_deref().unwrap_or_default(),
                namespace = reference.namespace.as_deref().unwrap_or_default(),
                name = reference.name.as_deref().unwrap_or_default(),
                reason = %event.reason,
                "failed to record Kubernetes event"
            );
        }
    }

    /// The Flux event for `event`, or `None` (logged) when the object lacks what
    /// notification-controller needs to match alerts.
    fn flux_event<K: Resource>(
        &self,
        reference: &ObjectReference,
        group: &str,
        object: &K,
        event: &Event,
    ) -> Option<FluxEvent> {
        let missing = [
            ("kind", &reference.kind),
            ("name", &reference.name),
            ("namespace", &reference.namespace),
        ]
        .into_iter()
        .find(|(_, value)| value.as_deref().is_none_or(str::is_empty));
        if let Some((field, _)) = missing {
            tracing::warn!(
                kind = reference.kind.as_deref().unwrap_or_default(),
                name = reference.name.as_deref().unwrap_or_default(),
                reason = %event.reason,
                "not sending the event to notification-controller: the object has no {field}"
            );
            return None;
        }
        Some(FluxEvent {
            involved_object: reference.clone(),
            severity: event.event_type.severity(),
            timestamp: Time(Timestamp::now()),
            message: truncate_chars(&event.message, MAX_FLUX_MESSAGE_CHARS).to_owned(),
            reason: event.reason.clone(),
            metadata: flux_metadata(group, &event.metadata, object.meta().annotations.as_ref()),
            reporting_controller: self.controller.clone(),
            reporting_instance: self.instance.clone(),
        })
    }
}

fn log_delivery(sender: &FluxEventSender, event: &FluxEvent, result: Result<Delivery, super::SendError>) {
    let object = &event.involved_object;
    let kind = object.kind.as_deref().unwrap_or_default();
    let namespace = object.namespace.as_deref().unwrap_or_default();
    let name = object.name.as_deref().unwrap_or_default();
    match result {
        Ok(Delivery::Accepted) => {}
        Ok(Delivery::Duplicate) => tracing::debug!(
            kind,
            namespace,
            name,
            reason = %event.reason,
            url = sender.url(),
            "notification-controller discarded the event as a duplicate"
        ),
        Err(error) => tracing::warn!(
            error = &error as &dyn std::error::Error,
            kind,
            namespace,
            name,
            reason = %event.reason,
            "failed to send event to notification-controller"
        ),
    }
}

/// The metadata of a Flux event: the event's entries with unqualified keys put under
/// the object's API group, then the object's `event.toolkit.fluxcd.io/` annotations.
fn flux_metadata(
    group: &str,
    metadata: &BTreeMap<String, String>,
    annotations: Option<&BTreeMap<String, String>>,
) -> BTreeMap<String, String> {
    let qualified = metadata.iter().map(|(key, value)| {
        let key = if key.contains('/') {
            key.clone()
        } else {
            format!("{group}/{key}")
        };
        (key, value.clone())
    });
    let annotated = annotations
        .into_iter()
        .flatten()
        .filter(|(key, _)| {
            key.strip_prefix(FLUX_EVENT_GROUP)
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .map(|(key, value)| (key.clone(), value.clone()));
    qualified.chain(annotated).collect()
}

/// `text` cut to at most `max` bytes, at a character boundary.
fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// `text` cut to at most `max` characters.
fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unqualified_metadata_keys_go_under_the_objects_group() {
        let metadata = BTreeMap::from([
            ("revision".to_owned(), "latest@sha256:ab".to_owned()),
            ("token".to_owned(), "7".to_owned()),
            ("example.com/kept".to_owned(), "as is".to_owned()),
        ]);
        assert_eq!(
            flux_metadata("source.extensions.fluxcd.io", &metadata, None),
            BTreeMap::from([
                (
                    "source.extensions.fluxcd.io/revision".to_owned(),
                    "latest@sha256:ab".to_owned()
                ),
                ("source.extensions.fluxcd.io/token".to_owned(), "7".to_owned()),
                ("example.com/kept".to_owned(), "as is".to_owned()),
            ])
        );
    }

    #[test]
    fn only_flux_event_annotations_join_the_metadata_and_they_win() {
        let metadata = BTreeMap::from([("event.toolkit.fluxcd.io/team".to_owned(), "from event".to_owned())]);
        let annotations = BTreeMap::from([
            ("event.toolkit.fluxcd.io/team".to_owned(), "platform".to_owned()),
            ("event.toolkit.fluxcd.io.evil/x".to_owned(), "no".to_owned()),
            (
                "kubectl.kubernetes.io/last-applied-configuration".to_owned(),
                "{}".to_owned(),
            ),
        ]);
        assert_eq!(
            flux_metadata("g", &metadata, Some(&annotations)),
            BTreeMap::from([("event.toolkit.fluxcd.io/team".to_owned(), "platform".to_owned())])
        );
    }

    #[test]
    fn byte_truncation_keeps_whole_characters() {
        assert_eq!(truncate_bytes("héllo", 2), "h");
        assert_eq!(truncate_bytes("héllo", 3), "hé");
        assert_eq!(truncate_bytes("héllo", 64), "héllo");
    }

    #[test]
    fn char_truncation_counts_characters() {
        assert_eq!(truncate_chars("héllo", 2), "hé");
        assert_eq!(truncate_chars("héllo", 5), "héllo");
    }

    #[test]
    fn trace_events_have_trace_severity_and_warnings_error() {
        assert_eq!(EventType::Trace.severity(), Severity::Trace);
        assert_eq!(EventType::Normal.severity(), Severity::Info);
        assert_eq!(EventType::Warning.severity(), Severity::Error);
    }
}
