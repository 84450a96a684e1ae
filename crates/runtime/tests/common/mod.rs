//! Fixtures of the runtime crate's mock tests, and the scripted API server they share
//! with the kube crate's (`test-support/kube_api`): every request a mock test sends must
//! be granted by the sample RBAC (`docs/kubernetes/rbac.yaml`).

#![allow(dead_code, unreachable_pub)]

#[path = "../../../../test-support/kube_api/mod.rs"]
mod kube_api;

pub use kube_api::*;
use serde_json::{Value, json};

/// A producer's own custom resource, as the tests' owner of ExternalArtifacts.
#[derive(
    kube::CustomResource, serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema,
)]
#[kube(
    group = "example.com",
    version = "v1",
    kind = "PodinfoSource",
    namespaced,
    status = "PodinfoSourceStatus"
)]
pub struct PodinfoSourceSpec {
    pub url: String,
}

/// Its status, in the Flux style.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, Default, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PodinfoSourceStatus {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inventory: Vec<String>,
}

pub const OWNER_UID: &str = "4f7c1d2e-9a3b-4c5d-8e6f-0a1b2c3d4e5f";

/// The owner as the API server returns it.
pub fn podinfo_source() -> PodinfoSource {
    serde_json::from_value(json!({
        "apiVersion": "example.com/v1",
        "kind": "PodinfoSource",
        "metadata": {
            "name": "podinfo",
            "namespace": "apps",
            "uid": OWNER_UID,
            "generation": 3,
            "resourceVersion": "5000",
        },
        "spec": { "url": "oci://ghcr.io/stefanprodan/manifests/podinfo" },
    }))
    .unwrap()
}

/// A temporary storage root and the storage on it.
pub struct TempStorage {
    pub dir: tempfile::TempDir,
    pub storage: flux_artifact_storage::Storage,
}

impl TempStorage {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let options = flux_artifact_config::Options {
            storage_path: dir.path().into(),
            ..flux_artifact_config::Options::default()
        };
        let storage = flux_artifact_storage::Storage::new(&options)
            .unwrap()
            .with_fsync(false);
        TempStorage { dir, storage }
    }

    /// Stores an artifact file for `kind` `namespace/name`; returns the object's
    /// directory.
    pub fn store(&self, kind: &str, namespace: &str, name: &str) -> std::path::PathBuf {
        let mut artifact = self
            .storage
            .new_artifact_for(kind, &(namespace, name), "v1", "artifact.tar.gz")
            .unwrap();
        self.storage.copy(&mut artifact, &b"content"[..]).unwrap();
        self.path(&format!("{}/{namespace}/{name}", kind.to_lowercase()))
    }

    /// A path under the storage root.
    pub fn path(&self, relative: &str) -> std::path::PathBuf {
        self.storage.base_path().join(relative)
    }
}

/// An ExternalArtifact as listed, with the publisher's labels.
pub fn external_artifact(namespace: &str, name: &str, uid: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "uid": uid,
            "labels": {
                "app.kubernetes.io/managed-by": "podinfo-controller",
                "source.extensions.fluxcd.io/generator": OWNER_UID,
            },
        },
        "spec": {},
    })
}

/// A list of ExternalArtifacts.
pub fn external_artifacts(items: Vec<Value>, continue_token: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifactList",
        "metadata": { "resourceVersion": "1000", "continue": continue_token },
        "items": items,
    })
}
