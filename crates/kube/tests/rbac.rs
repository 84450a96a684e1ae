//! The sample RBAC in `docs/kubernetes/rbac.yaml` grants every request the helpers make
//! (the requests pinned by the mock tests) and nothing broader: no wildcards, no
//! `delete`, no `update` of ExternalArtifacts. The API server's authorizer is not run
//! here; the verbs follow Kubernetes' rules for server-side apply (`patch`, plus
//! `create` when the object does not exist yet).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde::Deserialize;
use serde_json::Value;

fn cluster_role_rules() -> Vec<Value> {
    let path = format!("{}/../../docs/kubernetes/rbac.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    let role = documents.iter().find(|d| d["kind"] == "ClusterRole").unwrap();
    let binding = documents
        .iter()
        .find(|d| d["kind"] == "ClusterRoleBinding")
        .unwrap();
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    role["rules"].as_array().unwrap().clone()
}

/// The rules of the namespaced Role (leader election).
fn role_rules() -> Vec<Value> {
    let path = format!("{}/../../docs/kubernetes/rbac.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .find(|d| d["kind"] == "Role")
        .unwrap()["rules"]
        .as_array()
        .unwrap()
        .clone()
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn allows(rules: &[Value], group: &str, resource: &str, verb: &str) -> bool {
    rules.iter().any(|rule| {
        strings(&rule["apiGroups"]).contains(&group)
            && strings(&rule["resources"]).contains(&resource)
            && strings(&rule["verbs"]).contains(&verb)
    })
}

const FLUX: &str = "source.toolkit.fluxcd.io";

#[test]
fn every_request_of_the_helpers_is_allowed() {
    let rules = cluster_role_rules();
    let requests = [
        ("Publisher::apply, first time", "externalartifacts", "create"),
        ("Publisher::apply", "externalartifacts", "patch"),
        ("Publisher::apply, status", "externalartifacts/status", "patch"),
        ("verify_stored_artifacts", "externalartifacts", "list"),
        ("source_artifact(ExternalArtifact)", "externalartifacts", "get"),
        ("source_artifact(GitRepository)", "gitrepositories", "get"),
        ("source_artifact(OCIRepository)", "ocirepositories", "get"),
        ("source_artifact(Bucket)", "buckets", "get"),
        ("source_artifact(HelmChart)", "helmcharts", "get"),
    ];
    for (helper, resource, verb) in requests {
        assert!(
            allows(&rules, FLUX, resource, verb),
            "{helper} needs {verb} on {resource}"
        );
    }
}

/// flux-artifact-runtime's helpers, whose requests its tests pin.
#[test]
fn every_request_of_the_runtime_helpers_is_allowed() {
    let rules = cluster_role_rules();
    let requests = [
        ("OrphanSweep::run", FLUX, "externalartifacts", "list"),
        ("ArtifactFinalizer::cleanup", FLUX, "externalartifacts", "list"),
        (
            "ArtifactFinalizer::reconcile, finalizer",
            "example.com",
            "podinfosources",
            "patch",
        ),
        (
            "StatusWriter::write",
            "example.com",
            "podinfosources/status",
            "patch",
        ),
    ];
    for (helper, group, resource, verb) in requests {
        assert!(
            allows(&rules, group, resource, verb),
            "{helper} needs {verb} on {resource}"
        );
    }
    let lease_rules = role_rules();
    for verb in ["get", "create", "update"] {
        assert!(
            allows(&lease_rules, "coordination.k8s.io", "leases", verb),
            "LeaderElection::run needs {verb} on leases"
        );
    }
}

#[test]
fn nothing_is_granted_by_wildcard() {
    for rule in cluster_role_rules() {
        for key in ["apiGroups", "resources", "verbs"] {
            assert!(!strings(&rule[key]).contains(&"*"), "wildcard in {key}: {rule}");
        }
    }
}

#[test]
fn external_artifacts_cannot_be_deleted_or_replaced() {
    let rules = cluster_role_rules();
    for verb in ["delete", "deletecollection", "update"] {
        for resource in ["externalartifacts", "externalartifacts/status"] {
            assert!(
                !allows(&rules, FLUX, resource, verb),
                "{verb} on {resource} is not needed"
            );
        }
    }
}

#[test]
fn flux_sources_are_read_only() {
    let rules = cluster_role_rules();
    for resource in ["gitrepositories", "ocirepositories", "buckets", "helmcharts"] {
        for verb in ["create", "patch", "update", "delete"] {
            assert!(!allows(&rules, FLUX, resource, verb), "{verb} on {resource}");
        }
    }
}
