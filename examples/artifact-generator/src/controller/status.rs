//! The generator's status: conditions in Flux's terms, the inventory, the observed
//! sources digest and `lastHandledReconcileAt`, written with one merge patch that is
//! skipped when nothing changed.

use flux_artifact::{
    kube::{
        Error as KubeError,
        conditions::{self, ConditionStatus, READY, RECONCILING, STALLED},
    },
    runtime::status::{RECONCILE_REQUEST_ANNOTATION, ReconcileState, ReconcileStatus},
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::{Value, json};

use crate::{
    ArtifactGenerator, CONTROLLER_NAME,
    api::{ArtifactGeneratorStatus, reason},
};

use super::Context;

/// The message of `Ready=Unknown` and `Reconciling=True` while a generator is rebuilt.
pub(super) const MSG_IN_PROGRESS: &str = "Reconciliation in progress";
/// The message of `Ready=True` on a generator first seen paused.
const MSG_INIT_SUSPENDED: &str = "Initialized with reconciliation suspended";

impl ReconcileStatus for ArtifactGenerator {
    const LAST_HANDLED_RECONCILE_AT: bool = true;

    fn conditions(&self) -> &[Condition] {
        self.status.as_ref().map_or(&[], |status| &status.conditions)
    }

    fn last_handled_reconcile_at(&self) -> Option<&str> {
        self.status.as_ref()?.last_handled_reconcile_at.as_deref()
    }
}

/// Sets the conditions of `state` in `status`, each observing `generation`.
pub(super) fn set_state(
    status: &mut ArtifactGeneratorStatus,
    state: &ReconcileState,
    generation: Option<i64>,
) {
    state.apply_to(&mut status.conditions, generation);
}

/// Marks a paused generator that has no `Ready` condition yet: `Ready=True`,
/// `ReconciliationDisabled`, as source-watcher initialises one.
pub(super) fn set_initialized_suspended(status: &mut ArtifactGeneratorStatus, generation: Option<i64>) {
    if conditions::get(&status.conditions, READY).is_none() {
        conditions::set(
            &mut status.conditions,
            READY,
            ConditionStatus::True,
            reason::RECONCILIATION_DISABLED,
            MSG_INIT_SUSPENDED,
            generation,
        );
        conditions::remove(&mut status.conditions, RECONCILING);
        conditions::remove(&mut status.conditions, STALLED);
    }
}

/// Brings `generator`'s status to what `edit` makes of it, plus the
/// `reconcile.fluxcd.io/requestedAt` value handled, with one merge patch conditional on
/// the generator's `resourceVersion`; returns whether a request was sent (none when
/// nothing changed). On success `generator` is the object the API server returned, so
/// that the next write is conditional on this one.
///
/// # Errors
///
/// [`KubeError::Conflict`] when the generator changed since it was read (requeue), and
/// the other API errors.
pub(super) async fn write(
    ctx: &Context,
    generator: &mut ArtifactGenerator,
    edit: impl FnOnce(&mut ArtifactGeneratorStatus),
) -> Result<bool, KubeError> {
    let before = generator.status.clone().unwrap_or_default();
    let mut after = before.clone();
    edit(&mut after);
    if let Some(requested) = generator.annotations().get(RECONCILE_REQUEST_ANNOTATION) {
        after.last_handled_reconcile_at = Some(requested.clone());
    }
    if after == before {
        return Ok(false);
    }
    let name = generator.name_any();
    let namespace = generator.namespace().unwrap_or_default();
    let mut patch = json!({ "status": status_fields(&after) });
    if let Some(version) = &generator.metadata.resource_version {
        patch["metadata"] = json!({ "resourceVersion": version });
    }
    let api: Api<ArtifactGenerator> = Api::namespaced(ctx.client.clone(), &namespace);
    let params = PatchParams {
        field_manager: Some(CONTROLLER_NAME.to_owned()),
        ..PatchParams::default()
    };
    *generator = api
        .patch_status(&name, &params, &Patch::Merge(patch))
        .await
        .map_err(|e| {
            KubeError::from_api_call("patch status of", "ArtifactGenerator", &namespace, &name, e)
        })?;
    Ok(true)
}

/// Every status field, with `null` for an empty one so that the merge patch removes
/// what was there (the status type leaves empty fields out).
fn status_fields(status: &ArtifactGeneratorStatus) -> Value {
    let or_null = |empty: bool, value: Value| if empty { Value::Null } else { value };
    json!({
        "conditions": or_null(status.conditions.is_empty(), json!(status.conditions)),
        "inventory": or_null(status.inventory.is_empty(), json!(status.inventory)),
        "observedSourcesDigest": or_null(
            status.observed_sources_digest.is_empty(),
            json!(status.observed_sources_digest),
        ),
        "lastHandledReconcileAt": json!(status.last_handled_reconcile_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ExternalArtifactReference;

    #[test]
    fn empty_fields_are_removed_by_the_patch() {
        let fields = status_fields(&ArtifactGeneratorStatus::default());
        assert_eq!(
            fields,
            json!({
                "conditions": null, "inventory": null,
                "observedSourcesDigest": null, "lastHandledReconcileAt": null,
            })
        );
    }

    #[test]
    fn set_fields_are_written_as_the_crd_names_them() {
        let status = ArtifactGeneratorStatus {
            inventory: vec![ExternalArtifactReference {
                name: "app".into(),
                namespace: "apps".into(),
                digest: "sha256:abc".into(),
                filename: "abc.tar.gz".into(),
            }],
            observed_sources_digest: "sha256:def".into(),
            last_handled_reconcile_at: Some("now".into()),
            ..ArtifactGeneratorStatus::default()
        };
        let fields = status_fields(&status);
        assert_eq!(fields["inventory"][0]["filename"], "abc.tar.gz");
        assert_eq!(fields["observedSourcesDigest"], "sha256:def");
        assert_eq!(fields["lastHandledReconcileAt"], "now");
    }

    #[test]
    fn a_paused_generator_is_initialized_once() {
        let mut status = ArtifactGeneratorStatus::default();
        set_initialized_suspended(&mut status, Some(1));
        let ready = conditions::get(&status.conditions, READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("True", "ReconciliationDisabled")
        );
        let mut failed = ArtifactGeneratorStatus::default();
        set_state(
            &mut failed,
            &ReconcileState::failed("BuildFailed", "boom"),
            Some(1),
        );
        let before = failed.clone();
        set_initialized_suspended(&mut failed, Some(1));
        assert_eq!(failed, before, "a generator with a Ready condition keeps it");
    }
}
