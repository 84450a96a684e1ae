//! Read-only views of Flux's sources, enough to read `status.artifact`, and
//! [`source_artifact`] to fetch a source's artifact by reference.

use std::{collections::BTreeMap, fmt, str::FromStr};

use flux_artifact_storage::Artifact;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{Api, Client, CustomResource};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{Error, ExternalArtifact, error::Target};

/// The status every Flux source shares: its artifact and conditions. Other status
/// fields are ignored.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// The last artifact produced, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The source's conditions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
    /// The generation the status was computed for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

// rustfmt re-indents the attribute differently on every run inside a macro body.
#[rustfmt::skip]
macro_rules! source_view {
    ($spec:ident, $kind:literal) => {
        #[doc = concat!("The spec of a Flux `", $kind, "`, as raw JSON.")]
        #[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
        #[kube(
            group = "source.toolkit.fluxcd.io",
            version = "v1",
            kind = $kind,
            namespaced,
            status = "SourceStatus",
            doc = "A read-only view of a Flux source: its raw spec and the status fields every source shares."
        )]
        pub struct $spec {
            /// Every field of the spec.
            #[serde(flatten)]
            pub fields: BTreeMap<String, serde_json::Value>,
        }
    };
}

source_view!(GitRepositorySpec, "GitRepository");
source_view!(OCIRepositorySpec, "OCIRepository");
source_view!(BucketSpec, "Bucket");
source_view!(HelmChartSpec, "HelmChart");

/// The kinds of Flux sources an artifact can be read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[non_exhaustive]
pub enum SourceKind {
    /// `GitRepository`.
    GitRepository,
    /// `OCIRepository`.
    #[serde(rename = "OCIRepository")]
    OciRepository,
    /// `Bucket`.
    Bucket,
    /// `HelmChart`.
    HelmChart,
    /// `ExternalArtifact`.
    ExternalArtifact,
}

impl SourceKind {
    /// Every kind.
    pub const ALL: [SourceKind; 5] = [
        SourceKind::GitRepository,
        SourceKind::OciRepository,
        SourceKind::Bucket,
        SourceKind::HelmChart,
        SourceKind::ExternalArtifact,
    ];

    /// The kind's name, as in `kind:` fields.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::GitRepository => "GitRepository",
            SourceKind::OciRepository => "OCIRepository",
            SourceKind::Bucket => "Bucket",
            SourceKind::HelmChart => "HelmChart",
            SourceKind::ExternalArtifact => "ExternalArtifact",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `kind` that is not one of Flux's sources.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown source kind {0:?}: expected GitRepository, OCIRepository, Bucket, HelmChart or ExternalArtifact"
)]
pub struct UnknownSourceKind(pub String);

impl FromStr for SourceKind {
    type Err = UnknownSourceKind;

    fn from_str(kind: &str) -> Result<Self, Self::Err> {
        SourceKind::ALL
            .into_iter()
            .find(|k| k.as_str() == kind)
            .ok_or_else(|| UnknownSourceKind(kind.to_owned()))
    }
}

/// Reads the artifact of the source `kind` `namespace/name`.
///
/// # Errors
///
/// [`Error::NotFound`] if the source does not exist, [`Error::SourceNotReady`] if it has
/// no artifact yet (Flux requeues in both cases), and the other API errors.
pub async fn source_artifact(
    client: &Client,
    kind: SourceKind,
    namespace: &str,
    name: &str,
) -> Result<Artifact, Error> {
    let status = match kind {
        SourceKind::GitRepository => status_of::<GitRepository>(client, kind, namespace, name).await?,
        SourceKind::OciRepository => status_of::<OCIRepository>(client, kind, namespace, name).await?,
        SourceKind::Bucket => status_of::<Bucket>(client, kind, namespace, name).await?,
        SourceKind::HelmChart => status_of::<HelmChart>(client, kind, namespace, name).await?,
        SourceKind::ExternalArtifact => {
            let object = get::<ExternalArtifact>(client, kind, namespace, name).await?;
            object.status.and_then(|s| s.artifact)
        }
    };
    status.ok_or_else(|| Error::SourceNotReady {
        kind: kind.as_str().to_owned(),
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}

async fn status_of<K>(
    client: &Client,
    kind: SourceKind,
    namespace: &str,
    name: &str,
) -> Result<Option<Artifact>, Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + fmt::Debug
        + HasSourceStatus,
{
    Ok(get::<K>(client, kind, namespace, name).await?.into_artifact())
}

async fn get<K>(client: &Client, kind: SourceKind, namespace: &str, name: &str) -> Result<K, Error>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + fmt::Debug,
{
    Api::<K>::namespaced(client.clone(), namespace)
        .get(name)
        .await
        .map_err(|e| {
            Target {
                kind: kind.as_str(),
                namespace,
                name,
            }
            .error("get", e)
        })
}

/// The sources whose status is a [`SourceStatus`].
trait HasSourceStatus {
    fn into_artifact(self) -> Option<Artifact>;
}

macro_rules! has_source_status {
    ($($kind:ident),*) => {$(
        impl HasSourceStatus for $kind {
            fn into_artifact(self) -> Option<Artifact> {
                self.status.and_then(|s| s.artifact)
            }
        }
    )*};
}

has_source_status!(GitRepository, OCIRepository, Bucket, HelmChart);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_and_print_as_flux_writes_them() {
        for kind in SourceKind::ALL {
            assert_eq!(kind.as_str().parse::<SourceKind>().unwrap(), kind);
        }
        assert!("Kustomization".parse::<SourceKind>().is_err());
        assert_eq!(
            serde_json::to_string(&SourceKind::OciRepository).unwrap(),
            "\"OCIRepository\""
        );
    }
}
