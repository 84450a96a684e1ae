//! [`ExternalArtifact`]: `source.toolkit.fluxcd.io/v1`, the object a third-party
//! producer publishes for Flux (RFC-0012).

use flux_artifact_storage::Artifact;
use k8s_openapi::{
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{CustomResource, CustomResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The desired state of an [`ExternalArtifact`]: which object it was produced for.
///
/// The CRD ships with Flux's source-controller; producers create instances of it. The
/// Rust type mirrors Flux's `ExternalArtifactSpec` (same group, version, names and
/// fields, checked against Flux's published CRD in the tests).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.toolkit.fluxcd.io",
    version = "v1",
    kind = "ExternalArtifact",
    namespaced,
    status = "ExternalArtifactStatus",
    shortname = "ea",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    doc = "An artifact produced outside Flux's source-controller, which Flux's kustomize-controller and helm-controller consume like any source.",
    printcolumn = r#"{"jsonPath":".metadata.creationTimestamp","name":"Age","type":"date"}"#,
    printcolumn = r#"{"jsonPath":".status.conditions[?(@.type==\"Ready\")].status","name":"Ready","type":"string"}"#,
    printcolumn = r#"{"jsonPath":".status.conditions[?(@.type==\"Ready\")].message","name":"Status","type":"string"}"#,
    printcolumn = r#"{"jsonPath":".spec.sourceRef.name","name":"Source","type":"string"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ExternalArtifactSpec {
    /// The custom resource the artifact is generated for (used by `flux trace` and by
    /// admission policies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<NamespacedObjectKindReference>,
}

/// The observed state of an [`ExternalArtifact`].
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExternalArtifactStatus {
    /// The artifact consumers download: its URL, digest and revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// `Ready` and friends, in the Flux style (see [`conditions`](crate::conditions)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

/// A reference to an object by API version, kind, name and namespace (Flux's
/// `meta.NamespacedObjectKindReference`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NamespacedObjectKindReference {
    /// API version of the referent; the preferred version when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: String,
    /// Name of the referent.
    pub name: String,
    /// Namespace of the referent; the referrer's own when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl ExternalArtifact {
    /// The CRD as Flux publishes it: [`CustomResourceExt::crd`] plus what kube-derive
    /// does not emit or would also put on every instance (Flux's
    /// `kustomize.toolkit.fluxcd.io/substitute: disabled` annotation, `listKind`), and
    /// without the `spec` requirement kube-derive adds.
    ///
    /// Flux's source-controller installs this CRD; this is for test clusters without
    /// Flux and for checks like ours that the types agree with Flux.
    #[must_use]
    pub fn flux_crd() -> CustomResourceDefinition {
        let mut crd = Self::crd();
        crd.metadata
            .annotations
            .get_or_insert_default()
            .insert("kustomize.toolkit.fluxcd.io/substitute".into(), "disabled".into());
        crd.spec.names.list_kind = Some("ExternalArtifactList".into());
        for version in &mut crd.spec.versions {
            if let Some(schema) = version
                .schema
                .as_mut()
                .and_then(|s| s.open_api_v3_schema.as_mut())
            {
                schema.required = None;
            }
        }
        crd
    }
}
