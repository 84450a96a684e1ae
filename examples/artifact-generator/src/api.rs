//! The `ArtifactGenerator` API, `source.extensions.fluxcd.io/v1beta1`: the same group,
//! version, kind, fields and JSON names as source-watcher's, so manifests written for it
//! apply unchanged.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The API group of [`ArtifactGenerator`].
pub const GROUP: &str = "source.extensions.fluxcd.io";
/// The API version of [`ArtifactGenerator`] within [`GROUP`].
pub const VERSION: &str = "v1beta1";
/// The finalizer the controller puts on every generator it reconciles.
pub const FINALIZER: &str = "source.extensions.fluxcd.io/finalizer";
/// The label on every `ExternalArtifact` a generator produces; its value is the
/// generator's UID.
pub const GENERATOR_LABEL: &str = "source.extensions.fluxcd.io/generator";
/// The artifact metadata key that carries the origin revision of a source
/// (`originRevision`), as OCI annotations do.
pub const ORIGIN_REVISION_KEY: &str = "org.opencontainers.image.revision";
/// The annotation that pauses reconciliation when set to `disabled` (any case).
pub const RECONCILE_ANNOTATION: &str = "source.extensions.fluxcd.io/reconcile";

/// What an `ArtifactGenerator` builds: artifacts composed from Flux sources, each
/// published as an `ExternalArtifact` in the generator's namespace.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "source.extensions.fluxcd.io",
    version = "v1beta1",
    kind = "ArtifactGenerator",
    namespaced,
    status = "ArtifactGeneratorStatus",
    shortname = "ag"
)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactGeneratorSpec {
    /// Labels and annotations copied onto every generated `ExternalArtifact`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// The Flux sources the artifacts are composed from, each under an alias.
    pub sources: Vec<SourceReference>,
    /// `@alias/dir/{capture}/...`: fans each output artifact out over the directories of
    /// a source that match, with the captures available as `{capture}` in names and
    /// paths.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub path_pattern: String,
    /// The artifacts to generate.
    #[serde(rename = "artifacts")]
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
    /// The name copy operations use for this source.
    pub alias: String,
    /// The source object's name.
    pub name: String,
    /// The source object's namespace; the generator's own when empty.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub namespace: String,
    /// The source object's kind: `Bucket`, `GitRepository`, `OCIRepository`, `HelmChart`
    /// or `ExternalArtifact`.
    pub kind: String,
}

/// One artifact to generate, and how its content is assembled.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OutputArtifact {
    /// The name of the generated `ExternalArtifact`.
    pub name: String,
    /// `@alias`: use that source's revision as the artifact's revision instead of
    /// `latest@<digest>`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub revision: String,
    /// `@alias`: record that source's origin revision in the artifact's metadata under
    /// [`ORIGIN_REVISION_KEY`].
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub origin_revision: String,
    /// The copy operations, applied in order.
    pub copy: Vec<CopyOperation>,
}

/// Copies files from a source into the artifact.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct CopyOperation {
    /// `@alias/path`, where the path may be a glob.
    pub from: String,
    /// `@artifact/path`: where the files go inside the artifact.
    pub to: String,
    /// Glob patterns of files to leave out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// How files that already exist at the destination are treated; `Overwrite` when
    /// not set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<CopyStrategy>,
}

/// How a copy operation treats what is already at its destination.
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
    pub conditions: Vec<Condition>,
    /// The `ExternalArtifact`s the generator produced.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<ExternalArtifactReference>,
    /// A digest of the sources' digests, revisions and URLs at the last build.
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
