//! The sample RBAC in `docs/kubernetes/rbac.yaml` grants every request the helpers make
//! and nothing broader: no wildcards, no `delete`, no `update` of ExternalArtifacts,
//! sources read-only, leader election in the controller's namespace only.
//!
//! Which requests the helpers make is not listed here: the scripted API server of the
//! mock tests (`test-support/kube_api`, shared with flux-artifact-runtime's tests)
//! checks each request it receives against this RBAC (`Rbac::assert_granted`), so every
//! mock test of `publish`, `sources` and `integrity` here, of the leader election,
//! finalizer, sweep, status writer and event recorder in the runtime crate, and any
//! added later, fails on a request the RBAC does not grant. This
//! file tests that check, and the limits of the grant. The API server's authorizer is
//! not run; the verbs follow its rules (server-side apply needs `patch`, plus `create`
//! when it creates the object).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{
    Exchange, finish,
    rbac::{Permission, permissions_for, sample as rbac, sample_with_delete_addendum},
    scripted_client,
};
use http::Method;
use kube::api::{Api, DeleteParams};

const FLUX: &str = "source.toolkit.fluxcd.io";
const APPLY: Option<&str> = Some("application/apply-patch+yaml");

fn permission(verb: &'static str, group: &str, resource: &str, namespace: Option<&str>) -> Permission {
    Permission {
        verb,
        group: group.to_owned(),
        resource: resource.to_owned(),
        namespace: namespace.map(str::to_owned),
        name: None,
    }
}

/// The verbs and resources of a request, without names.
fn needs(
    method: Method,
    uri: &str,
    content_type: Option<&str>,
) -> Vec<(&'static str, String, Option<String>)> {
    permissions_for(&method, uri, content_type)
        .into_iter()
        .map(|p| (p.verb, p.resource, p.namespace))
        .collect()
}

#[test]
fn requests_need_the_verbs_the_api_server_checks() {
    let ns = || Some("apps".to_owned());
    let object = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo";
    assert_eq!(
        needs(Method::GET, object, None),
        [("get", "externalartifacts".into(), ns())]
    );
    assert_eq!(
        needs(
            Method::GET,
            "/apis/source.toolkit.fluxcd.io/v1/externalartifacts?&limit=500",
            None
        ),
        [("list", "externalartifacts".into(), None)]
    );
    assert_eq!(
        needs(
            Method::GET,
            "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts?watch=true",
            None
        ),
        [("watch", "externalartifacts".into(), ns())]
    );
    assert_eq!(
        needs(
            Method::PATCH,
            &format!("{object}?&force=true&fieldManager=x"),
            APPLY
        ),
        [
            ("patch", "externalartifacts".into(), ns()),
            ("create", "externalartifacts".into(), ns())
        ]
    );
    assert_eq!(
        needs(Method::PATCH, &format!("{object}/status?&force=true"), APPLY),
        [("patch", "externalartifacts/status".into(), ns())]
    );
    assert_eq!(
        needs(Method::PATCH, object, Some("application/merge-patch+json")),
        [("patch", "externalartifacts".into(), ns())]
    );
    assert_eq!(
        needs(Method::PUT, object, None),
        [("update", "externalartifacts".into(), ns())]
    );
    assert_eq!(
        needs(Method::DELETE, object, None),
        [("delete", "externalartifacts".into(), ns())]
    );
    assert_eq!(
        needs(Method::POST, "/api/v1/namespaces/apps/events", None),
        [("create", "events".into(), ns())]
    );
    let lease = &permissions_for(
        &Method::PUT,
        "/apis/coordination.k8s.io/v1/namespaces/flux-system/leases/podinfo-controller",
        None,
    )[0];
    assert_eq!(
        (lease.verb, lease.group.as_str(), lease.name.as_deref()),
        ("update", "coordination.k8s.io", Some("podinfo-controller"))
    );
}

#[test]
fn leader_election_is_granted_in_the_controllers_namespace_only() {
    let rbac = rbac();
    let namespace = rbac.service_account.0.clone();
    for verb in ["get", "create", "update"] {
        assert!(rbac.grants(&permission(
            verb,
            "coordination.k8s.io",
            "leases",
            Some(&namespace)
        )));
        assert!(!rbac.grants(&permission(verb, "coordination.k8s.io", "leases", Some("apps"))));
        assert!(!rbac.grants(&permission(verb, "coordination.k8s.io", "leases", None)));
    }
}

#[tokio::test]
#[should_panic(expected = "does not grant DELETE")]
async fn the_scripted_api_server_fails_a_request_the_rbac_does_not_grant() {
    let uri = "/apis/source.toolkit.fluxcd.io/v1/namespaces/apps/externalartifacts/podinfo?";
    let mut delete = Exchange::get(uri);
    delete.method = Method::DELETE;
    let (client, server) = scripted_client(vec![delete]);
    let api: Api<flux_artifact_kube::ExternalArtifact> = Api::namespaced(client.clone(), "apps");
    let _ = api.delete("podinfo", &DeleteParams::default()).await;
    finish((client, api), server).await;
}

#[test]
fn nothing_is_granted_by_wildcard() {
    // The addendum's roles include the sample's.
    for role in &sample_with_delete_addendum().roles {
        for rule in &role.rules {
            for (key, list) in [
                ("apiGroups", &rule.api_groups),
                ("resources", &rule.resources),
                ("verbs", &rule.verbs),
            ] {
                assert!(
                    !list.iter().any(|v| v.contains('*')),
                    "wildcard in {key} of {} {}: {rule:?}",
                    role.kind,
                    role.name
                );
            }
        }
    }
}

#[test]
fn secrets_and_config_maps_are_never_granted() {
    let rbac = sample_with_delete_addendum();
    for resource in ["secrets", "configmaps"] {
        for verb in ["get", "list", "watch", "create", "update", "patch", "delete"] {
            for ns in [None, Some("apps"), Some(rbac.service_account.0.as_str())] {
                assert!(
                    !rbac.grants(&permission(verb, "", resource, ns)),
                    "{verb} on {resource} in {ns:?}"
                );
            }
        }
    }
}

#[test]
fn external_artifacts_cannot_be_deleted_or_replaced() {
    let rbac = rbac();
    let namespace = rbac.service_account.0.clone();
    for verb in ["delete", "deletecollection", "update"] {
        for resource in ["externalartifacts", "externalartifacts/status"] {
            for ns in [None, Some("apps"), Some(namespace.as_str())] {
                assert!(
                    !rbac.grants(&permission(verb, FLUX, resource, ns)),
                    "{verb} on {resource} in {ns:?} is not needed"
                );
            }
        }
    }
}

#[test]
fn flux_sources_are_read_only() {
    let rbac = rbac();
    for resource in ["gitrepositories", "ocirepositories", "buckets", "helmcharts"] {
        for verb in ["create", "patch", "update", "delete"] {
            assert!(
                !rbac.grants(&permission(verb, FLUX, resource, Some("apps"))),
                "{verb} on {resource}"
            );
        }
    }
}

#[test]
fn the_delete_addendum_grants_deleting_external_artifacts_and_nothing_else() {
    let base = rbac();
    let with_delete = sample_with_delete_addendum();
    assert_eq!(with_delete.roles.len(), base.roles.len() + 1);
    let addendum = with_delete.roles.last().unwrap();
    assert_eq!(addendum.namespace, None);
    let granted: Vec<(&str, &str, &str)> = addendum
        .rules
        .iter()
        .flat_map(|rule| {
            rule.api_groups.iter().flat_map(move |group| {
                rule.resources.iter().flat_map(move |resource| {
                    rule.verbs
                        .iter()
                        .map(move |verb| (group.as_str(), resource.as_str(), verb.as_str()))
                })
            })
        })
        .collect();
    assert_eq!(granted, [(FLUX, "externalartifacts", "delete")]);
    assert!(with_delete.grants(&permission("delete", FLUX, "externalartifacts", Some("apps"))));
}
