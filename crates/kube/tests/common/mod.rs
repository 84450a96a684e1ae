//! Fixtures of the kube crate's mock tests, and the scripted API server they share with
//! the runtime crate's (`test-support/kube_api`): every request a mock test sends must be
//! granted by the sample RBAC (`docs/kubernetes/rbac.yaml`).

#![allow(dead_code, unreachable_pub)]

#[path = "../../../../test-support/kube_api/mod.rs"]
mod kube_api;

pub use kube_api::*;

/// The owner of the published objects in the tests: a stand-in for a controller's own
/// custom resource.
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

pub const OWNER_UID: &str = "4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f";

/// An owner as read from the API server: name, namespace and UID set.
pub fn owner() -> ArtifactGenerator {
    let mut owner = ArtifactGenerator::new("podinfo", ArtifactGeneratorSpec::default());
    owner.metadata.namespace = Some("apps".into());
    owner.metadata.uid = Some(OWNER_UID.into());
    owner
}
