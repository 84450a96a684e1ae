//! Publishing an [`Artifact`] as the status of an [`ExternalArtifact`] (step 6 of the
//! Flux guide): [`Publisher`] and the one-call [`apply_external_artifact`].

use std::collections::BTreeMap;

use flux_artifact_storage::Artifact;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference};
use kube::{
    Api, Client, Resource, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use crate::{
    Error, ExternalArtifact,
    conditions::{self, ConditionStatus, READY, RECONCILING, STALLED, reason},
    error::Target,
    labels::{check_label_key, check_label_value},
};

/// The label every published object carries, with the field manager as its value: the
/// selector for [`verify_stored_artifacts`](crate::verify_stored_artifacts).
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";

/// The default key of the label that carries the owner's UID: the one Flux's
/// source-watcher puts on the ExternalArtifacts of an `ArtifactGenerator`, so tooling
/// and admission policies written for it recognise ours.
pub const DEFAULT_GENERATED_BY_LABEL: &str = "source.extensions.fluxcd.io/generator";

/// Publishes ExternalArtifacts for the objects a controller owns, with server-side apply
/// under one field manager.
///
/// Each [`apply`](Self::apply) makes two requests, both server-side apply (`PATCH` with
/// `application/apply-patch+yaml`):
///
/// 1. the object itself, in the owner's namespace: labels ([`MANAGED_BY_LABEL`] =
///    field manager, the generated-by label = owner UID, and any
///    [`extra labels`](ExtraMetadata)), an owner reference to the owner with
///    `controller: true` (so deleting the owner deletes the ExternalArtifact), and
///    `spec.sourceRef` pointing at the owner;
/// 2. the `status` subresource: the artifact and `Ready=True`, reason `Succeeded`,
///    message `stored artifact for revision '<revision>'`, and `observedGeneration`.
///
/// The second request is skipped when the object already carries the same artifact and
/// the same `Ready` condition, so re-applying an unchanged artifact writes no status and
/// wakes no consumer. "Same artifact" compares every field but `lastUpdateTime`: a
/// rebuild that gave the same file keeps the time it was first published. A success
/// also removes `Stalled` and `Reconciling`, as Flux's controllers do. The status apply
/// carries the `resourceVersion` the first request returned, so a status changed by
/// someone else in between fails with [`Error::Conflict`] instead of being overwritten:
/// requeue and apply again.
///
/// The field manager becomes a label value, so it must be one (at most 63 letters,
/// digits, `-`, `_`, `.`): `apply` refuses anything else before sending a request.
///
/// ```no_run
/// # async fn example(client: kube::Client, owner: flux_artifact_kube::ExternalArtifact, artifact: flux_artifact_storage::Artifact) -> Result<(), flux_artifact_kube::Error> {
/// use flux_artifact_kube::Publisher;
///
/// let publisher = Publisher::new(client, "my-controller");
/// let published = publisher.apply(&owner, "podinfo", &artifact).await?;
/// println!("{} status updated: {}", published.object.metadata.name.unwrap_or_default(), published.status_updated);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Publisher {
    client: Client,
    field_manager: String,
    generated_by_label: String,
    force: bool,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher")
            .field("field_manager", &self.field_manager)
            .field("generated_by_label", &self.generated_by_label)
            .field("force", &self.force)
            .finish_non_exhaustive()
    }
}

/// Labels and annotations to put on a published object beside the publisher's own
/// (Flux's `commonMetadata`). The publisher's labels win on a clash.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtraMetadata {
    /// Extra labels.
    pub labels: BTreeMap<String, String>,
    /// Extra annotations.
    pub annotations: BTreeMap<String, String>,
}

/// What [`Publisher::apply`] did.
#[derive(Debug, Clone)]
#[must_use]
pub struct Published {
    /// The object as the API server returned it after the last request.
    pub object: ExternalArtifact,
    /// Whether the status was written (false when it already held the artifact).
    pub status_updated: bool,
}

impl Publisher {
    /// A publisher applying as `field_manager`, which is also the value of the
    /// [`MANAGED_BY_LABEL`]; use your controller's name. The generated-by label is
    /// [`DEFAULT_GENERATED_BY_LABEL`], and conflicts with other field managers are forced,
    /// as the Kubernetes docs recommend for controllers.
    pub fn new(client: Client, field_manager: impl Into<String>) -> Self {
        Publisher {
            client,
            field_manager: field_manager.into(),
            generated_by_label: DEFAULT_GENERATED_BY_LABEL.to_owned(),
            force: true,
        }
    }

    /// Sets the key of the label that carries the owner's UID.
    #[must_use]
    pub fn with_generated_by_label(mut self, key: impl Into<String>) -> Self {
        self.generated_by_label = key.into();
        self
    }

    /// Whether to take over fields another field manager owns (default `true`). With
    /// `false`, such a clash fails with [`Error::Conflict`].
    #[must_use]
    pub fn with_force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// The field manager name.
    #[must_use]
    pub fn field_manager(&self) -> &str {
        &self.field_manager
    }

    /// The key of the label that carries the owner's UID
    /// ([`DEFAULT_GENERATED_BY_LABEL`] unless set with
    /// [`with_generated_by_label`](Self::with_generated_by_label)): select
    /// `<key>=<owner UID>` to find one owner's ExternalArtifacts.
    #[must_use]
    pub fn generated_by_label(&self) -> &str {
        &self.generated_by_label
    }

    /// The label selector matching every object this publisher applies:
    /// `app.kubernetes.io/managed-by=<field manager>`.
    #[must_use]
    pub fn label_selector(&self) -> String {
        format!("{MANAGED_BY_LABEL}={}", self.field_manager)
    }

    /// Creates or updates the ExternalArtifact `name` in `owner`'s namespace so that it
    /// publishes `artifact`; see the [type docs](Self) for the requests.
    ///
    /// `owner` must be a namespaced object read from the API server: its name,
    /// namespace and UID make the owner reference, and the ExternalArtifact is created
    /// in its namespace.
    ///
    /// # Errors
    ///
    /// Before any request: [`Error::InvalidLabel`] if the field manager, the
    /// generated-by key or an extra label key cannot be a label,
    /// [`Error::ClusterScopedOwner`] if the owner's kind is cluster-scoped, and
    /// [`Error::IncompleteOwner`] if the owner lacks a name, namespace or UID. Then:
    /// [`Error::Conflict`] (409) if another manager owns the fields and forcing is off,
    /// or the status changed since the object was applied; [`Error::Invalid`] (422) if
    /// the API server refuses the object (e.g. a digest that does not match the CRD's
    /// pattern); [`Error::Forbidden`] (403) for missing RBAC or an admission policy;
    /// [`Error::NotFound`] (404) if the namespace or the ExternalArtifact CRD does not
    /// exist, or the object was deleted between the two requests; [`Error::Api`]
    /// otherwise.
    pub async fn apply<K>(&self, owner: &K, name: &str, artifact: &Artifact) -> Result<Published, Error>
    where
        K: Resource<DynamicType = ()>,
        K::Scope: 'static,
    {
        self.apply_with_metadata(owner, name, artifact, &ExtraMetadata::default())
            .await
    }

    /// [`apply`](Self::apply), with extra labels and annotations on the object.
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub async fn apply_with_metadata<K>(
        &self,
        owner: &K,
        name: &str,
        artifact: &Artifact,
        extra: &ExtraMetadata,
    ) -> Result<Published, Error>
    where
        K: Resource<DynamicType = ()>,
        K::Scope: 'static,
    {
        self.check_labels(extra)?;
        let owner_ref = owner_reference(owner)?;
        let namespace = owner
            .namespace()
            .ok_or(Error::IncompleteOwner { field: "namespace" })?;
        let api: Api<ExternalArtifact> = Api::namespaced(self.client.clone(), &namespace);
        let target = Target {
            kind: "ExternalArtifact",
            namespace: &namespace,
            name,
        };
        let mut params = PatchParams::apply(&self.field_manager);
        params.force = self.force;

        let object = api
            .patch(
                name,
                &params,
                &Patch::Apply(self.object_patch(name, &namespace, owner_ref, extra)),
            )
            .await
            .map_err(|e| target.error("apply", e))?;

        let generation = object.metadata.generation;
        let current = object.status.clone().unwrap_or_default();
        let mut conditions = current.conditions.clone().unwrap_or_default();
        let message = format!("stored artifact for revision '{}'", artifact.revision);
        let ready_changed = conditions::set(
            &mut conditions,
            READY,
            ConditionStatus::True,
            reason::SUCCEEDED,
            message,
            generation,
        );
        // A success ends any earlier stall or reconciliation in progress, as in Flux.
        let stalled_removed = conditions::remove(&mut conditions, STALLED);
        let reconciling_removed = conditions::remove(&mut conditions, RECONCILING);
        let conditions_changed = ready_changed || stalled_removed || reconciling_removed;
        let artifact_changed = current
            .artifact
            .as_ref()
            .is_none_or(|published| !same_artifact(published, artifact));
        if !conditions_changed && !artifact_changed {
            tracing::debug!(namespace = %namespace, name, revision = %artifact.revision, "external artifact unchanged");
            return Ok(Published {
                object,
                status_updated: false,
            });
        }
        // A rebuild of the same file keeps the time it was first published.
        let artifact = match &current.artifact {
            Some(published) if !artifact_changed => published,
            _ => artifact,
        };
        let object = api
            .patch_status(
                name,
                &params,
                &Patch::Apply(status_patch(
                    name,
                    &namespace,
                    object.metadata.resource_version.as_deref(),
                    artifact,
                    &conditions,
                )),
            )
            .await
            .map_err(|e| target.error("apply status of", e))?;
        tracing::info!(namespace = %namespace, name, revision = %artifact.revision, "published external artifact");
        Ok(Published {
            object,
            status_updated: true,
        })
    }

    /// Checks what becomes a label, so that a mistake is reported before any request.
    fn check_labels(&self, extra: &ExtraMetadata) -> Result<(), Error> {
        const FIELD_MANAGER: &str = "field manager (the managed-by label's value)";
        if self.field_manager.is_empty() {
            return Err(Error::InvalidLabel {
                what: FIELD_MANAGER,
                value: String::new(),
                reason: "must not be empty",
            });
        }
        check_label_value(FIELD_MANAGER, &self.field_manager)?;
        check_label_key("generated-by label", &self.generated_by_label)?;
        for (key, value) in &extra.labels {
            check_label_key("extra label", key)?;
            check_label_value("extra label value", value)?;
        }
        Ok(())
    }

    fn object_patch(
        &self,
        name: &str,
        namespace: &str,
        owner: OwnerReference,
        extra: &ExtraMetadata,
    ) -> serde_json::Value {
        let mut labels = extra.labels.clone();
        labels.insert(self.generated_by_label.clone(), owner.uid.clone());
        labels.insert(MANAGED_BY_LABEL.to_owned(), self.field_manager.clone());
        let mut metadata = json!({
            "name": name,
            "namespace": namespace,
            "labels": labels,
            "ownerReferences": [owner],
        });
        if !extra.annotations.is_empty() {
            metadata["annotations"] = json!(extra.annotations);
        }
        json!({
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "ExternalArtifact",
            "metadata": metadata,
            "spec": {
                "sourceRef": {
                    "apiVersion": owner.api_version,
                    "kind": owner.kind,
                    "name": owner.name,
                    "namespace": namespace,
                },
            },
        })
    }
}

/// Publishes `artifact` as the ExternalArtifact `name` of `owner` with a default
/// [`Publisher`] for `field_manager`: the one-call form of [`Publisher::apply`].
///
/// # Errors
///
/// As [`Publisher::apply`].
pub async fn apply_external_artifact<K>(
    client: &Client,
    field_manager: &str,
    owner: &K,
    name: &str,
    artifact: &Artifact,
) -> Result<Published, Error>
where
    K: Resource<DynamicType = ()>,
    K::Scope: 'static,
{
    Publisher::new(client.clone(), field_manager)
        .apply(owner, name, artifact)
        .await
}

fn owner_reference<K>(owner: &K) -> Result<OwnerReference, Error>
where
    K: Resource<DynamicType = ()>,
    K::Scope: 'static,
{
    let meta = owner.meta();
    // Checked first: reading a cluster-scoped object again would not give it a namespace.
    if std::any::TypeId::of::<K::Scope>() == std::any::TypeId::of::<k8s_openapi::ClusterResourceScope>() {
        return Err(Error::ClusterScopedOwner {
            kind: K::kind(&()).into_owned(),
            name: meta.name.clone().unwrap_or_default(),
        });
    }
    if meta.name.as_deref().is_none_or(str::is_empty) {
        return Err(Error::IncompleteOwner { field: "name" });
    }
    if meta.namespace.as_deref().is_none_or(str::is_empty) {
        return Err(Error::IncompleteOwner { field: "namespace" });
    }
    match owner.controller_owner_ref(&()) {
        // No `blockOwnerDeletion`: setting it needs `update` on the owner's `finalizers`
        // subresource, a permission a producer should not need.
        Some(reference) if !reference.uid.is_empty() => Ok(reference),
        _ => Err(Error::IncompleteOwner { field: "uid" }),
    }
}

fn same_artifact(published: &Artifact, new: &Artifact) -> bool {
    published.path == new.path
        && published.url == new.url
        && published.revision == new.revision
        && published.digest == new.digest
        && published.size == new.size
        && published.metadata == new.metadata
}

/// The status apply. The conditions are one atomic list in Flux's CRD, computed from the
/// object as it was at `resource_version`: sending that version makes the write fail
/// with a conflict, rather than drop a change made in between.
fn status_patch(
    name: &str,
    namespace: &str,
    resource_version: Option<&str>,
    artifact: &Artifact,
    conditions: &[Condition],
) -> serde_json::Value {
    let mut metadata = json!({ "name": name, "namespace": namespace });
    if let Some(version) = resource_version {
        metadata["resourceVersion"] = json!(version);
    }
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": metadata,
        "status": { "artifact": artifact, "conditions": conditions },
    })
}
