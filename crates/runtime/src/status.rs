//! `Ready`, `Reconciling` and `Stalled` on the producer's own custom resource, with
//! Flux's reasons and semantics, so that `flux get`, `kubectl wait` and kstatus-based
//! tools read it like any Flux object.
//!
//! Implement [`ReconcileStatus`] for the resource, then tell a [`StatusWriter`] where a
//! reconcile stands:
//!
//! | call | `Ready` | `Reconciling` | `Stalled` | `status.observedGeneration` |
//! |---|---|---|---|---|
//! | [`progressing`](StatusWriter::progressing) | `Unknown`, `Progressing` | `True`, `Progressing` | removed | kept |
//! | [`succeeded`](StatusWriter::succeeded) | `True`, `Succeeded` | removed | removed | generation |
//! | [`failed`](StatusWriter::failed) (will retry) | `False`, your reason | `True`, `ProgressingWithRetry` | removed | kept |
//! | [`stalled`](StatusWriter::stalled) (needs a spec change) | `False`, your reason | removed | `True`, your reason | generation |
//!
//! Each condition gets the object's `metadata.generation` as its `observedGeneration`,
//! and its `lastTransitionTime` moves only when its status changes (the
//! [`conditions`] module's rule). Conditions of other
//! types are kept. `status.lastHandledReconcileAt` gets the value of the
//! `reconcile.fluxcd.io/requestedAt` annotation, as `flux reconcile` expects, when the
//! type has that field. Nothing is sent when nothing changes.
//!
//! # How the status is written
//!
//! As a JSON merge patch of the status subresource, carrying the `resourceVersion` of
//! the object the new conditions were computed from, under the writer's field manager:
//!
//! - a merge patch touches only the fields it names (`conditions`, and
//!   `observedGeneration` and `lastHandledReconcileAt` when written), so the rest of the
//!   status, such as an inventory the reconciler applies itself, is left alone. A
//!   server-side apply of just these fields under the reconciler's field manager would
//!   instead remove every status field that manager applied before and did not repeat;
//! - conditions are one list, replaced whole: the `resourceVersion` makes the write fail
//!   with a 409 ([`Error::Conflict`]) if the object
//!   changed since it was read, rather than overwrite a change made in between. Requeue
//!   then: the next reconcile reads the object again. An object without a
//!   `resourceVersion` (not read from the API server) is written unconditionally.
//!
//! ```no_run
//! use flux_artifact_runtime::status::{ReconcileStatus, StatusWriter};
//! use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
//! use kube::CustomResource;
//! use schemars::JsonSchema;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(CustomResource, Deserialize, Serialize, Clone, Debug, JsonSchema)]
//! #[kube(group = "example.com", version = "v1", kind = "PodinfoSource", namespaced, status = "PodinfoSourceStatus")]
//! pub struct PodinfoSourceSpec {
//!     pub url: String,
//! }
//!
//! #[derive(Deserialize, Serialize, Clone, Debug, Default, JsonSchema)]
//! #[serde(rename_all = "camelCase")]
//! pub struct PodinfoSourceStatus {
//!     #[serde(default)]
//!     pub conditions: Vec<Condition>,
//!     pub observed_generation: Option<i64>,
//!     pub last_handled_reconcile_at: Option<String>,
//! }
//!
//! impl ReconcileStatus for PodinfoSource {
//!     const OBSERVED_GENERATION: bool = true;
//!     const LAST_HANDLED_RECONCILE_AT: bool = true;
//!
//!     fn conditions(&self) -> &[Condition] {
//!         self.status.as_ref().map_or(&[], |s| &s.conditions)
//!     }
//!     fn observed_generation(&self) -> Option<i64> {
//!         self.status.as_ref()?.observed_generation
//!     }
//!     fn last_handled_reconcile_at(&self) -> Option<&str> {
//!         self.status.as_ref()?.last_handled_reconcile_at.as_deref()
//!     }
//! }
//!
//! # async fn example(client: kube::Client, mut source: PodinfoSource) -> Result<(), flux_artifact_kube::Error> {
//! let status = StatusWriter::new(client, "podinfo-controller");
//! status.progressing(&mut source, "building artifact").await?;
//! // ... build and publish ...
//! // `source` is now what the first write returned: this write is conditional on it.
//! status.succeeded(&mut source, "stored artifact for revision 'latest@sha256:…'").await?;
//! # Ok(()) }
//! ```

use std::fmt;

use flux_artifact_kube::{
    Error,
    conditions::{self, ConditionStatus, READY, RECONCILING, STALLED, reason},
};
use k8s_openapi::{NamespaceResourceScope, apimachinery::pkg::apis::meta::v1::Condition};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde::de::DeserializeOwned;
use serde_json::json;

/// The annotation `flux reconcile` sets to ask for a reconcile now; its value goes to
/// `status.lastHandledReconcileAt` once handled.
pub const RECONCILE_REQUEST_ANNOTATION: &str = "reconcile.fluxcd.io/requestedAt";

/// Access to the status fields a [`StatusWriter`] manages on a custom resource.
///
/// Only [`conditions`](Self::conditions) is required. A type whose status has an
/// `observedGeneration` field sets [`OBSERVED_GENERATION`](Self::OBSERVED_GENERATION)
/// and implements [`observed_generation`](Self::observed_generation); likewise for
/// `lastHandledReconcileAt`. The writer never writes a field the type does not declare.
/// See the [module docs](self) for an example.
pub trait ReconcileStatus:
    Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + fmt::Debug
{
    /// Whether the status has `observedGeneration` (default `false`).
    const OBSERVED_GENERATION: bool = false;
    /// Whether the status has `lastHandledReconcileAt` (default `false`).
    const LAST_HANDLED_RECONCILE_AT: bool = false;

    /// The object's conditions; empty when it has no status yet.
    fn conditions(&self) -> &[Condition];

    /// `status.observedGeneration`, if the type has it and it is set.
    fn observed_generation(&self) -> Option<i64> {
        None
    }

    /// `status.lastHandledReconcileAt`, if the type has it and it is set.
    fn last_handled_reconcile_at(&self) -> Option<&str> {
        None
    }
}

/// Where a reconcile stands, in Flux's terms; see the [module docs](self) for the
/// conditions each state sets.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReconcileState {
    /// Work is under way.
    Progressing {
        /// What is being done.
        message: String,
    },
    /// The reconcile succeeded.
    Succeeded {
        /// What was achieved, e.g. `stored artifact for revision '…'`.
        message: String,
    },
    /// The reconcile failed and will be retried.
    Failed {
        /// Why, as a Flux reason (e.g. [`reason::BUILD_FAILED`]).
        reason: String,
        /// The error.
        message: String,
    },
    /// The reconcile failed in a way retrying cannot fix: it needs a spec change.
    Stalled {
        /// Why, as a Flux reason.
        reason: String,
        /// The error.
        message: String,
    },
}

impl ReconcileState {
    /// [`ReconcileState::Progressing`].
    pub fn progressing(message: impl Into<String>) -> Self {
        ReconcileState::Progressing {
            message: message.into(),
        }
    }

    /// [`ReconcileState::Succeeded`].
    pub fn succeeded(message: impl Into<String>) -> Self {
        ReconcileState::Succeeded {
            message: message.into(),
        }
    }

    /// [`ReconcileState::Failed`].
    pub fn failed(reason: impl Into<String>, message: impl Into<String>) -> Self {
        ReconcileState::Failed {
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// [`ReconcileState::Stalled`].
    pub fn stalled(reason: impl Into<String>, message: impl Into<String>) -> Self {
        ReconcileState::Stalled {
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// Whether this state ends a reconcile of the current generation, so that
    /// `status.observedGeneration` records it.
    #[must_use]
    pub fn observes_generation(&self) -> bool {
        matches!(
            self,
            ReconcileState::Succeeded { .. } | ReconcileState::Stalled { .. }
        )
    }

    /// Sets the conditions of this state in `list` (see the [module docs](self)),
    /// returning whether anything changed. `generation` is the object's
    /// `metadata.generation`.
    ///
    /// ```
    /// use flux_artifact_kube::conditions::{self, READY, RECONCILING};
    /// use flux_artifact_runtime::status::ReconcileState;
    ///
    /// let mut list = Vec::new();
    /// ReconcileState::progressing("building").apply_to(&mut list, Some(2));
    /// assert!(conditions::is_true(&list, RECONCILING));
    /// ReconcileState::succeeded("stored artifact for revision 'v1'").apply_to(&mut list, Some(2));
    /// assert!(conditions::is_true(&list, READY));
    /// assert!(conditions::get(&list, RECONCILING).is_none());
    /// ```
    pub fn apply_to(&self, list: &mut Vec<Condition>, generation: Option<i64>) -> bool {
        let set = |list: &mut Vec<Condition>, type_, status, reason: &str, message: &str| {
            conditions::set(list, type_, status, reason, message, generation)
        };
        match self {
            ReconcileState::Progressing { message } => {
                let a = set(
                    list,
                    RECONCILING,
                    ConditionStatus::True,
                    reason::PROGRESSING,
                    message,
                );
                let b = set(
                    list,
                    READY,
                    ConditionStatus::Unknown,
                    reason::PROGRESSING,
                    message,
                );
                let c = conditions::remove(list, STALLED);
                a | b | c
            }
            ReconcileState::Succeeded { message } => {
                let a = set(list, READY, ConditionStatus::True, reason::SUCCEEDED, message);
                let b = conditions::remove(list, RECONCILING);
                let c = conditions::remove(list, STALLED);
                a | b | c
            }
            ReconcileState::Failed { reason, message } => {
                // Flux keeps the message of the Reconciling condition it marks as being
                // retried; without one, the failure says what is being retried.
                let retrying =
                    conditions::get(list, RECONCILING).map_or_else(|| message.clone(), |c| c.message.clone());
                let a = set(list, READY, ConditionStatus::False, reason, message);
                let b = set(
                    list,
                    RECONCILING,
                    ConditionStatus::True,
                    reason::PROGRESSING_WITH_RETRY,
                    &retrying,
                );
                let c = conditions::remove(list, STALLED);
                a | b | c
            }
            ReconcileState::Stalled { reason, message } => {
                let a = set(list, READY, ConditionStatus::False, reason, message);
                let b = set(list, STALLED, ConditionStatus::True, reason, message);
                let c = conditions::remove(list, RECONCILING);
                a | b | c
            }
        }
    }
}

/// Writes [`ReconcileState`]s to the status of a producer's custom resources; see the
/// [module docs](self) for what is written and how.
#[derive(Clone)]
pub struct StatusWriter {
    client: Client,
    field_manager: String,
}

impl fmt::Debug for StatusWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusWriter")
            .field("field_manager", &self.field_manager)
            .finish_non_exhaustive()
    }
}

impl StatusWriter {
    /// A writer patching as `field_manager` (your controller's name).
    pub fn new(client: Client, field_manager: impl Into<String>) -> Self {
        StatusWriter {
            client,
            field_manager: field_manager.into(),
        }
    }

    /// The field manager.
    #[must_use]
    pub fn field_manager(&self) -> &str {
        &self.field_manager
    }

    /// Writes `state` to `object`'s status, computed from the object as given, and
    /// returns whether a request was sent (`false` when the status already said all
    /// this). After a write, `object` is the object as the API server returned it, so
    /// that the next write is conditional on this one: keep writing through the same
    /// `&mut` (clone the `Arc` a Controller hands over once, e.g. with
    /// [`Arc::unwrap_or_clone`](std::sync::Arc::unwrap_or_clone)).
    ///
    /// # Errors
    ///
    /// [`Error::IncompleteOwner`] if the object has no name or namespace (nothing is
    /// sent); [`Error::Conflict`] (409) if it changed since it was read: requeue;
    /// [`Error::NotFound`] if it is gone or its CRD has no status subresource;
    /// [`Error::Forbidden`] without `patch` on its `status`; [`Error::Invalid`] if the
    /// CRD's schema refuses the status; [`Error::Api`] otherwise. `object` is left as it
    /// was.
    pub async fn write<K: ReconcileStatus>(
        &self,
        object: &mut K,
        state: &ReconcileState,
    ) -> Result<bool, Error> {
        let name = object
            .meta()
            .name
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or(Error::IncompleteOwner { field: "name" })?;
        let namespace = object
            .namespace()
            .filter(|n| !n.is_empty())
            .ok_or(Error::IncompleteOwner { field: "namespace" })?;
        let Some(patch) = status_patch(object, state) else {
            tracing::debug!(kind = %K::kind(&()), %namespace, %name, "status unchanged");
            return Ok(false);
        };
        let api: Api<K> = Api::namespaced(self.client.clone(), &namespace);
        let params = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..PatchParams::default()
        };
        *object = api
            .patch_status(&name, &params, &Patch::Merge(patch))
            .await
            .map_err(|e| Error::from_api_call("patch status of", &K::kind(&()), &namespace, &name, e))?;
        Ok(true)
    }

    /// Writes [`ReconcileState::Progressing`].
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn progressing<K: ReconcileStatus>(
        &self,
        object: &mut K,
        message: impl Into<String>,
    ) -> Result<bool, Error> {
        self.write(object, &ReconcileState::progressing(message)).await
    }

    /// Writes [`ReconcileState::Succeeded`].
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn succeeded<K: ReconcileStatus>(
        &self,
        object: &mut K,
        message: impl Into<String>,
    ) -> Result<bool, Error> {
        self.write(object, &ReconcileState::succeeded(message)).await
    }

    /// Writes [`ReconcileState::Failed`]: a failure that will be retried.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn failed<K: ReconcileStatus>(
        &self,
        object: &mut K,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<bool, Error> {
        self.write(object, &ReconcileState::failed(reason, message)).await
    }

    /// Writes [`ReconcileState::Stalled`]: a failure that needs a spec change.
    ///
    /// # Errors
    ///
    /// As [`write`](Self::write).
    pub async fn stalled<K: ReconcileStatus>(
        &self,
        object: &mut K,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Result<bool, Error> {
        self.write(object, &ReconcileState::stalled(reason, message))
            .await
    }
}

/// The merge patch that brings `object`'s status to `state`, or `None` if it is there.
fn status_patch<K: ReconcileStatus>(object: &K, state: &ReconcileState) -> Option<serde_json::Value> {
    let generation = object.meta().generation;
    let mut list = object.conditions().to_vec();
    let mut changed = state.apply_to(&mut list, generation);
    let mut status = json!({ "conditions": list });
    if K::OBSERVED_GENERATION
        && state.observes_generation()
        && let Some(generation) = generation
        && object.observed_generation() != Some(generation)
    {
        status["observedGeneration"] = json!(generation);
        changed = true;
    }
    if K::LAST_HANDLED_RECONCILE_AT
        && let Some(requested) = object.annotations().get(RECONCILE_REQUEST_ANNOTATION)
        && object.last_handled_reconcile_at() != Some(requested.as_str())
    {
        status["lastHandledReconcileAt"] = json!(requested);
        changed = true;
    }
    if !changed {
        return None;
    }
    let mut patch = json!({ "status": status });
    if let Some(version) = &object.meta().resource_version {
        patch["metadata"] = json!({ "resourceVersion": version });
    }
    Some(patch)
}
