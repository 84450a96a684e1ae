//! The `ArtifactGenerator` API, `source.extensions.fluxcd.io/v1beta1`: the same group,
//! version, kind, fields, JSON names and validations as source-watcher's, so manifests
//! written for it apply unchanged, and [`crd`] equals its published CRD.
//!
//! ```
//! use artifact_generator::api::ArtifactGenerator;
//!
//! let generator: ArtifactGenerator = serde_json::from_value(serde_json::json!({
//!     "apiVersion": "source.extensions.fluxcd.io/v1beta1",
//!     "kind": "ArtifactGenerator",
//!     "metadata": { "name": "podinfo", "namespace": "apps" },
//!     "spec": {
//!         "sources": [{ "alias": "repo", "kind": "GitRepository", "name": "podinfo" }],
//!         "artifacts": [{
//!             "name": "podinfo-deploy",
//!             "copy": [{ "from": "@repo/deploy/**", "to": "@artifact/" }]
//!         }]
//!     }
//! }))?;
//! assert_eq!(generator.spec.sources[0].alias, "repo");
//! assert_eq!(generator.spec.output_artifacts[0].copy[0].strategy, None);
//! # Ok::<(), serde_json::Error>(())
//! ```

use std::collections::BTreeMap;

use k8s_openapi::{
    apiextensions_apiserver::pkg::apis::apiextensions::v1::{
        CustomResourceDefinition, JSONSchemaProps, JSONSchemaPropsOrArray,
    },
    apimachinery::pkg::apis::meta::v1::Condition,
};
use kube::{CustomResource, CustomResourceExt, ResourceExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of [`ArtifactGenerator`].
pub const GROUP: &str = "source.extensions.fluxcd.io";
/// The API version of [`ArtifactGenerator`] within [`GROUP`].
pub const VERSION: &str = "v1beta1";
/// `apiVersion` of [`ArtifactGenerator`] objects: `<GROUP>/<VERSION>`.
pub const API_VERSION: &str = "source.extensions.fluxcd.io/v1beta1";
/// The kind.
pub const KIND: &str = "ArtifactGenerator";
/// The finalizer the controller puts on every generator it reconciles.
pub const FINALIZER: &str = "source.extensions.fluxcd.io/finalizer";
/// The label on every `ExternalArtifact` a generator produces; its value is the
/// generator's UID.
pub const GENERATOR_LABEL: &str = "source.extensions.fluxcd.io/generator";
/// The artifact metadata key that carries the origin revision of a source
/// (`originRevision`), as OCI annotations do.
pub const ORIGIN_REVISION_KEY: &str = "org.opencontainers.image.revision";
/// The annotation that pauses reconciliation when set to `disabled` (any case); see
/// [`is_reconcile_disabled`].
pub const RECONCILE_ANNOTATION: &str = "source.extensions.fluxcd.io/reconcile";
/// The value of [`RECONCILE_ANNOTATION`] that pauses reconciliation (compared without
/// regard to case).
pub const DISABLED_VALUE: &str = "disabled";
/// The value of [`RECONCILE_ANNOTATION`] that resumes reconciliation.
pub const ENABLED_VALUE: &str = "enabled";

/// The condition reasons the generator adds to Flux's own
/// (`flux_artifact::kube::conditions::reason`).
pub mod reason {
    /// Reconciliation is paused by the [`RECONCILE_ANNOTATION`](super::RECONCILE_ANNOTATION).
    pub const RECONCILIATION_DISABLED: &str = "ReconciliationDisabled";
    /// A source in another namespace is referenced while cross-namespace references are
    /// refused.
    pub const ACCESS_DENIED: &str = "AccessDenied";
    /// The spec fails validation.
    pub const VALIDATION_FAILED: &str = "ValidationFailed";
    /// A source is missing, not ready, or its artifact could not be fetched.
    pub const SOURCE_FETCH_FAILED: &str = "SourceFetchFailed";
}

/// An `@alias` reference (`revision`, `originRevision`), as the CRD accepts it.
pub(crate) const ALIAS_REFERENCE_PATTERN: &str = "^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)$";
/// `@alias/path` (`from`, `pathPattern`), as the CRD accepts it.
pub(crate) const ALIAS_PATH_PATTERN: &str = "^@([a-z0-9]([a-z0-9_-]*[a-z0-9])?)/(.*)$";
/// `@artifact/path` (`to`), as the CRD accepts it.
pub(crate) const ARTIFACT_PATH_PATTERN: &str = "^@(artifact)/(.*)$";
/// A source alias.
pub(crate) const ALIAS_PATTERN: &str = "^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$";
/// A source name (a DNS label's syntax, up to 253 characters).
pub(crate) const SOURCE_NAME_PATTERN: &str = "^[a-z0-9]([a-z0-9-]*[a-z0-9])?$";
/// A namespace (a DNS label).
pub(crate) const NAMESPACE_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";
/// The source kinds a generator can read, in the CRD's order.
pub const SOURCE_KINDS: [&str; 5] = [
    "Bucket",
    "GitRepository",
    "OCIRepository",
    "HelmChart",
    "ExternalArtifact",
];
/// The CRD's CEL rule on `spec`: without `pathPattern`, every artifact name is a DNS
/// subdomain (with it, names are templates checked after rendering).
pub const ARTIFACT_NAMES_RULE: &str = r"has(self.pathPattern) && size(self.pathPattern) > 0 || self.artifacts.all(a, a.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'))";
/// The message of [`ARTIFACT_NAMES_RULE`].
pub const ARTIFACT_NAMES_RULE_MESSAGE: &str =
    "artifact names must be valid Kubernetes object names when pathPattern is not set";

/// What an `ArtifactGenerator` builds: artifacts composed from Flux sources, each
/// published as an `ExternalArtifact` in the generator's namespace.
#[derive(CustomResource, JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "source.extensions.fluxcd.io",
    version = "v1beta1",
    kind = "ArtifactGenerator",
    namespaced,
    status = "ArtifactGeneratorStatus",
    shortname = "ag",
    category = "all",
    category = "fluxcd",
    category = "fluxcd-sources",
    doc = "ArtifactGenerator composes and decomposes Flux sources into ExternalArtifacts.",
    annotation("kustomize.toolkit.fluxcd.io/substitute", "disabled"),
    printcolumn = r#"{"jsonPath":".metadata.creationTimestamp","name":"Age","type":"date"}"#,
    printcolumn = r#"{"jsonPath":".status.conditions[?(@.type==\"Ready\")].status","name":"Ready","type":"string"}"#,
    printcolumn = r#"{"jsonPath":".status.conditions[?(@.type==\"Ready\")].message","name":"Status","type":"string"}"#
)]
// The CEL rule as a plain schema extension: kube-derive's `KubeSchema` would do the same,
// but its generated helper type trips the `unreachable_pub` lint.
#[schemars(extend("x-kubernetes-validations" = [{ "message": ARTIFACT_NAMES_RULE_MESSAGE, "rule": ARTIFACT_NAMES_RULE }]))]
#[serde(rename_all = "camelCase")]
pub struct ArtifactGeneratorSpec {
    /// Labels and annotations copied onto every generated `ExternalArtifact`, where they
    /// replace labels and annotations of the same key (the controller's own labels
    /// excepted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// The Flux sources the artifacts are composed from, each under an alias
    /// (1 to 1000).
    #[schemars(length(min = 1, max = 1000))]
    pub sources: Vec<SourceReference>,
    /// `@alias/dir/{capture}/...`: fans each output artifact out over the directories of
    /// a source that match, with the captures available as `{capture}` in names and
    /// copy paths, and added to each `ExternalArtifact` as labels.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = ALIAS_PATH_PATTERN), length(max = 1024))]
    pub path_pattern: String,
    /// The artifacts to generate (1 to 1000).
    #[serde(rename = "artifacts")]
    #[schemars(length(min = 1, max = 1000))]
    pub output_artifacts: Vec<OutputArtifact>,
}

/// Labels and annotations for the generated objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CommonMetadata {
    /// Annotations to add.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    /// Labels to add.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// A Flux source, and the alias copy operations use for it (`@alias/path`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct SourceReference {
    /// The name copy operations use for this source: unique in the generator, lowercase
    /// letters, digits, `_` and `-`, starting and ending with a letter or digit.
    #[schemars(regex(pattern = ALIAS_PATTERN), length(max = 63))]
    pub alias: String,
    /// The source object's name.
    #[schemars(regex(pattern = SOURCE_NAME_PATTERN), length(max = 253))]
    pub name: String,
    /// The source object's namespace; the generator's own when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = NAMESPACE_PATTERN), length(min = 1, max = 63))]
    pub namespace: String,
    /// The source object's kind: `Bucket`, `GitRepository`, `OCIRepository`, `HelmChart`
    /// or `ExternalArtifact`.
    #[schemars(extend("enum" = SOURCE_KINDS))]
    pub kind: String,
}

/// One artifact to generate, and how its content is assembled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputArtifact {
    /// The name of the generated `ExternalArtifact`: a DNS subdomain, or with
    /// `pathPattern` a template using its `{capture}`s.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// `@alias`: use that source's revision as the artifact's revision instead of
    /// `latest@<digest>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = ALIAS_REFERENCE_PATTERN), length(max = 64))]
    pub revision: String,
    /// `@alias`: record that source's origin revision (its revision if it has none) in
    /// the artifact's metadata under `org.opencontainers.image.revision`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(regex(pattern = ALIAS_REFERENCE_PATTERN), length(max = 64))]
    pub origin_revision: String,
    /// The copy operations, applied in order; later ones overwrite what earlier ones
    /// wrote.
    #[schemars(length(min = 1))]
    pub copy: Vec<CopyOperation>,
}

/// Copies files from a source into the artifact.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CopyOperation {
    /// `@alias/path`, where the path may be a glob (and, with `pathPattern`, use its
    /// `{capture}`s).
    #[schemars(regex(pattern = ALIAS_PATH_PATTERN), length(min = 1, max = 1024))]
    pub from: String,
    /// `@artifact/path`: where the files go inside the artifact (with `pathPattern`,
    /// may use its `{capture}`s).
    #[schemars(regex(pattern = ARTIFACT_PATH_PATTERN), length(min = 1, max = 1024))]
    pub to: String,
    /// Glob patterns of files and directories to leave out, matched against paths from
    /// the source root and from the non-glob prefix of `from`; a pattern without `/`
    /// matches a name at any depth (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100))]
    pub exclude: Vec<String>,
    /// How files are written: `Overwrite` when not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<CopyStrategy>,
}

/// How a copy operation writes its files.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum CopyStrategy {
    /// Replace the destination file.
    #[default]
    Overwrite,
    /// Deep-merge YAML or JSON into the destination file, Helm-values style.
    Merge,
    /// Unpack the `.tar.gz`/`.tgz` source into the destination directory.
    Extract,
}

/// What the controller observed and produced.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactGeneratorStatus {
    /// The value of the `reconcile.fluxcd.io/requestedAt` annotation last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// `Ready`, `Reconciling` and `Stalled`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The `ExternalArtifact`s the generator produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<ExternalArtifactReference>,
    /// A digest of the sources' digests, revisions and URLs at the last build, to tell
    /// whether they changed since.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub observed_sources_digest: String,
}

/// A generated `ExternalArtifact`, as recorded in a generator's inventory.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct ExternalArtifactReference {
    /// The object's name.
    pub name: String,
    /// The object's namespace.
    pub namespace: String,
    /// The digest of its artifact.
    pub digest: String,
    /// The file name of its artifact in storage.
    pub filename: String,
}

impl ArtifactGenerator {
    /// Whether the generator is in its inventory with this digest: an artifact already
    /// published, not a new revision.
    #[must_use]
    pub fn has_artifact_in_inventory(&self, name: &str, namespace: &str, digest: &str) -> bool {
        self.status.as_ref().is_some_and(|status| {
            status
                .inventory
                .iter()
                .any(|r| r.name == name && r.namespace == namespace && r.digest == digest)
        })
    }
}

/// Whether reconciliation of `generator` is paused: its [`RECONCILE_ANNOTATION`] is
/// `disabled`, in any case.
///
/// ```
/// use artifact_generator::api::{ArtifactGenerator, ArtifactGeneratorSpec, RECONCILE_ANNOTATION, is_reconcile_disabled};
///
/// let mut generator = ArtifactGenerator::new("apps", ArtifactGeneratorSpec::default());
/// assert!(!is_reconcile_disabled(&generator));
/// generator.metadata.annotations = Some([(RECONCILE_ANNOTATION.to_owned(), "Disabled".to_owned())].into());
/// assert!(is_reconcile_disabled(&generator));
/// ```
#[must_use]
pub fn is_reconcile_disabled(generator: &ArtifactGenerator) -> bool {
    generator
        .annotations()
        .get(RECONCILE_ANNOTATION)
        .is_some_and(|value| value.eq_ignore_ascii_case(DISABLED_VALUE))
}

/// The schema of `status.conditions`: Kubernetes' `metav1.Condition` with the
/// validations the API server applies to it (k8s-openapi's schema has none of them), as
/// in source-watcher's CRD.
fn conditions_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "array",
        "description": "`Ready`, `Reconciling` and `Stalled`.",
        "items": {
            "type": "object",
            "description": "Condition contains details for one aspect of the current state of this API Resource.",
            "required": ["lastTransitionTime", "message", "reason", "status", "type"],
            "properties": {
                "lastTransitionTime": {
                    "type": "string",
                    "format": "date-time",
                    "description": "lastTransitionTime is the last time the condition transitioned from one status to another."
                },
                "message": {
                    "type": "string",
                    "maxLength": 32768,
                    "description": "message is a human readable message indicating details about the transition."
                },
                "observedGeneration": {
                    "type": "integer",
                    "format": "int64",
                    "minimum": 0,
                    "description": "observedGeneration represents the .metadata.generation that the condition was set based upon."
                },
                "reason": {
                    "type": "string",
                    "maxLength": 1024,
                    "minLength": 1,
                    "pattern": "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
                    "description": "reason contains a programmatic identifier indicating the reason for the condition's last transition."
                },
                "status": {
                    "type": "string",
                    "enum": ["True", "False", "Unknown"],
                    "description": "status of the condition, one of True, False, Unknown."
                },
                "type": {
                    "type": "string",
                    "maxLength": 316,
                    "pattern": "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
                    "description": "type of condition in CamelCase or in foo.example.com/CamelCase."
                }
            }
        }
    })
}

/// The `ArtifactGenerator` CRD as source-watcher publishes it: kube-derive's
/// [`CustomResourceExt::crd`] with `listKind`, without the `spec` requirement that
/// kube-derive adds (source-watcher's `spec` is optional), and without the `nullable`
/// and `title` keywords kube-derive and schemars add, which source-watcher's CRD does not
/// have.
///
/// `deploy/crd.yaml` is this, rendered by [`crd_yaml`]; a test checks that the file is
/// up to date and that it equals source-watcher's CRD in every field's name, type,
/// requirement and validation.
#[must_use]
pub fn crd() -> CustomResourceDefinition {
    let mut crd = ArtifactGenerator::crd();
    crd.spec.names.list_kind = Some("ArtifactGeneratorList".into());
    for version in &mut crd.spec.versions {
        if let Some(schema) = version
            .schema
            .as_mut()
            .and_then(|s| s.open_api_v3_schema.as_mut())
        {
            schema.required = None;
            strip_generator_keywords(schema);
        }
    }
    crd
}

/// Removes `nullable` (kube-derive's mark of an `Option`; source-watcher's optional
/// fields are omitted instead of null) and `title` from a schema tree.
fn strip_generator_keywords(schema: &mut JSONSchemaProps) {
    schema.nullable = None;
    schema.title = None;
    for child in schema.properties.iter_mut().flat_map(BTreeMap::values_mut) {
        strip_generator_keywords(child);
    }
    if let Some(JSONSchemaPropsOrArray::Schema(items)) = schema.items.as_mut() {
        strip_generator_keywords(items);
    }
}

/// [`crd`] as the YAML document checked in as `deploy/crd.yaml`.
///
/// # Errors
///
/// Only if YAML serialization fails, which a CRD cannot make it do.
pub fn crd_yaml() -> Result<String, serde_yaml_ng::Error> {
    let yaml = serde_yaml_ng::to_string(&crd())?;
    Ok(format!("---\n{yaml}"))
}
