//! The sample `ValidatingAdmissionPolicy` in `docs/kubernetes/admission-policy.yaml`,
//! evaluated with a CEL interpreter (kube-cel) against the requests a producer and
//! others make. As on the API server, a request is evaluated only if the policy's
//! `matchConstraints` select it, and the tests check that they select what the policy
//! must guard. This checks the policy's logic; an API server may still differ in CEL
//! details, which only a cluster can show.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;

use kube_cel::{
    KubeCelExt,
    cel::{Context, Program, Value as Cel},
};
use serde::Deserialize;
use serde_json::{Value, json};

const PRODUCER: &str = "system:serviceaccount:flux-system:podinfo-controller";
const PREFIX: &str = "http://podinfo-controller.flux-system.svc.cluster.local./";

/// The policy and its parameters, read from the docs.
struct Policy {
    /// `spec.matchConstraints.resourceRules`.
    resource_rules: Vec<ResourceRule>,
    variables: Vec<(String, String)>,
    validations: Vec<(String, String)>,
    params: Value,
}

/// One rule of `matchConstraints.resourceRules`.
#[derive(Debug)]
struct ResourceRule {
    api_groups: Vec<String>,
    api_versions: Vec<String>,
    operations: Vec<String>,
    resources: Vec<String>,
}

impl ResourceRule {
    /// Whether the rule matches a request, with the API server's rules for wildcards:
    /// `*` is any group, version or operation; for resources `*` is any resource (not
    /// subresources), `*/*` any resource or subresource, `r/*` any subresource of `r`
    /// and `*/s` subresource `s` of any resource.
    fn matches(
        &self,
        group: &str,
        version: &str,
        operation: &str,
        resource: &str,
        sub_resource: &str,
    ) -> bool {
        let any_or = |list: &[String], value: &str| list.iter().any(|v| v == "*" || v == value);
        let resource_matches = self.resources.iter().any(|pattern| {
            let (pattern_resource, pattern_sub) = pattern.split_once('/').unwrap_or((pattern, ""));
            let resource_ok = pattern_resource == "*" || pattern_resource == resource;
            let sub_ok = pattern_sub == sub_resource
                || (pattern_sub == "*" && (!sub_resource.is_empty() || pattern_resource == "*"));
            resource_ok && sub_ok
        });
        any_or(&self.api_groups, group)
            && any_or(&self.api_versions, version)
            && any_or(&self.operations, operation)
            && resource_matches
    }
}

const GROUP: &str = "source.toolkit.fluxcd.io";
const VERSION: &str = "v1";
const RESOURCE: &str = "externalartifacts";

impl Policy {
    /// Whether the policy's match constraints select a request on `resource`.
    fn applies_to(&self, operation: &str, resource: &str, sub_resource: &str) -> bool {
        self.resource_rules
            .iter()
            .any(|rule| rule.matches(GROUP, VERSION, operation, resource, sub_resource))
    }
}

fn policy() -> Policy {
    let path = format!(
        "{}/../../docs/kubernetes/admission-policy.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(path).unwrap();
    let documents: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| Value::deserialize(d).unwrap())
        .collect();
    let find = |kind: &str| documents.iter().find(|d| d["kind"] == kind).unwrap().clone();
    let policy = find("ValidatingAdmissionPolicy");
    let binding = find("ValidatingAdmissionPolicyBinding");
    let params = find("ConfigMap");
    assert_eq!(binding["spec"]["policyName"], policy["metadata"]["name"]);
    assert_eq!(binding["spec"]["paramRef"]["name"], params["metadata"]["name"]);
    assert_eq!(
        binding["spec"]["paramRef"]["namespace"],
        params["metadata"]["namespace"]
    );
    let pairs = |list: &Value, key: &str, value: &str| -> Vec<(String, String)> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v[key].as_str().unwrap().to_owned(),
                    v[value].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let constraints = &policy["spec"]["matchConstraints"];
    for key in constraints.as_object().unwrap().keys() {
        // The evaluation below knows resource rules only: a selector or an exclusion
        // added to the policy must be taught to it first.
        assert!(
            ["resourceRules", "matchPolicy"].contains(&key.as_str()),
            "matchConstraints.{key} is not evaluated by this test"
        );
    }
    let strings = |rule: &Value, key: &str| -> Vec<String> {
        rule[key]
            .as_array()
            .unwrap_or_else(|| panic!("resource rule without {key}: {rule}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    let resource_rules = constraints["resourceRules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| ResourceRule {
            api_groups: strings(rule, "apiGroups"),
            api_versions: strings(rule, "apiVersions"),
            operations: strings(rule, "operations"),
            resources: strings(rule, "resources"),
        })
        .collect();
    Policy {
        resource_rules,
        variables: pairs(&policy["spec"]["variables"], "name", "expression"),
        validations: pairs(&policy["spec"]["validations"], "expression", "messageExpression"),
        params,
    }
}

/// An admission request: who, which operation, which subresource, and the objects.
struct Request {
    user: &'static str,
    operation: &'static str,
    sub_resource: &'static str,
    object: Value,
    old_object: Option<Value>,
}

/// A CEL context with the variables the API server binds: `object`, `oldObject`
/// (null on create), `request` and `params`.
fn bind(policy: &Policy, request: &Request) -> Context<'static> {
    let mut context = Context::default().with_all();
    context.add_variable("object", &request.object).unwrap();
    match &request.old_object {
        Some(old) => context.add_variable("oldObject", old).unwrap(),
        None => context.add_variable_from_value("oldObject", Cel::Null),
    }
    let admission = json!({
        "operation": request.operation,
        "subResource": request.sub_resource,
        "userInfo": { "username": request.user },
    });
    context.add_variable("request", &admission).unwrap();
    context.add_variable("params", &policy.params).unwrap();
    context
}

/// The messages of the validations that deny the request; empty if it is admitted,
/// which it is without evaluation when the policy's match constraints do not select it.
fn denials(policy: &Policy, request: &Request) -> Vec<String> {
    if !policy.applies_to(request.operation, RESOURCE, request.sub_resource) {
        return Vec::new();
    }
    let plain = bind(policy, request);
    let variables: HashMap<String, Cel> = policy
        .variables
        .iter()
        .map(|(name, expression)| {
            let program = Program::compile(expression).unwrap_or_else(|e| panic!("variable {name}: {e}"));
            let value = program
                .execute(&plain)
                .unwrap_or_else(|e| panic!("variable {name}: {e}"));
            (name.clone(), value)
        })
        .collect();
    let mut context = bind(policy, request);
    context.add_variable_from_value("variables", variables);
    let mut denied = Vec::new();
    for (expression, message) in &policy.validations {
        match Program::compile(expression).unwrap().execute(&context) {
            Ok(Cel::Bool(true)) => {}
            Ok(Cel::Bool(false)) => match Program::compile(message).unwrap().execute(&context).unwrap() {
                Cel::String(text) => denied.push((*text).clone()),
                other => panic!("message of {expression} is not a string: {other:?}"),
            },
            other => panic!("{expression} did not give a boolean: {other:?}"),
        }
    }
    denied
}

/// The ExternalArtifact a publisher applies for its owner, with `status` if given.
fn external_artifact(source_api_version: &str, source_kind: &str, status: Option<Value>) -> Value {
    let mut object = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "ExternalArtifact",
        "metadata": {
            "name": "podinfo",
            "namespace": "apps",
            "labels": { "app.kubernetes.io/managed-by": "podinfo-controller" },
        },
        "spec": {
            "sourceRef": { "apiVersion": source_api_version, "kind": source_kind, "name": "podinfo", "namespace": "apps" },
        },
    });
    if let Some(status) = status {
        object["status"] = status;
    }
    object
}

fn status_with_url(url: &str) -> Value {
    json!({
        "artifact": {
            "digest": "sha256:d3e26ba501117680e6cb724de21aef139df4a5aa63ac3dcafc3f1b190a6498ce",
            "lastUpdateTime": "2026-11-24T10:00:00Z",
            "path": "externalartifact/apps/podinfo/podinfo.tar.gz",
            "revision": "latest@sha256:d3e26ba501117680e6cb724de21aef139df4a5aa63ac3dcafc3f1b190a6498ce",
            "url": url,
        },
        "conditions": [],
    })
}

fn own() -> Value {
    external_artifact("example.com/v1", "PodinfoSource", None)
}

fn own_with_status(url: &str) -> Value {
    external_artifact("example.com/v1", "PodinfoSource", Some(status_with_url(url)))
}

#[test]
fn the_producer_may_create_its_own_external_artifact() {
    let request = Request {
        user: PRODUCER,
        operation: "CREATE",
        sub_resource: "",
        object: own(),
        old_object: None,
    };
    assert_eq!(denials(&policy(), &request), Vec::<String>::new());
}

#[test]
fn the_producer_may_publish_a_url_under_its_prefix() {
    let request = Request {
        user: PRODUCER,
        operation: "UPDATE",
        sub_resource: "status",
        object: own_with_status(&format!("{PREFIX}externalartifact/apps/podinfo/podinfo.tar.gz")),
        old_object: Some(own()),
    };
    assert_eq!(denials(&policy(), &request), Vec::<String>::new());
}

#[test]
fn the_producer_may_not_publish_a_url_elsewhere() {
    let request = Request {
        user: PRODUCER,
        operation: "UPDATE",
        sub_resource: "status",
        object: own_with_status("http://evil.example.com/podinfo.tar.gz"),
        old_object: Some(own()),
    };
    assert_eq!(
        denials(&policy(), &request),
        [format!("status.artifact.url must start with {PREFIX}")]
    );
}

#[test]
fn a_prefix_lookalike_host_is_not_under_the_prefix() {
    let request = Request {
        user: PRODUCER,
        operation: "UPDATE",
        sub_resource: "status",
        object: own_with_status(
            "http://podinfo-controller.flux-system.svc.cluster.local.evil.example.com/a.tar.gz",
        ),
        old_object: Some(own()),
    };
    assert_eq!(denials(&policy(), &request).len(), 1);
}

#[test]
fn the_producer_may_not_write_external_artifacts_of_another_kind() {
    let request = Request {
        user: PRODUCER,
        operation: "CREATE",
        sub_resource: "",
        object: external_artifact("source.extensions.fluxcd.io/v1beta1", "ArtifactGenerator", None),
        old_object: None,
    };
    assert_eq!(
        denials(&policy(), &request),
        [format!(
            "{PRODUCER} may only write ExternalArtifacts whose spec.sourceRef is a example.com/v1 PodinfoSource"
        )]
    );
}

#[test]
fn nobody_else_may_create_an_external_artifact_in_the_producers_name() {
    let request = Request {
        user: "system:serviceaccount:apps:intruder",
        operation: "CREATE",
        sub_resource: "",
        object: own(),
        old_object: None,
    };
    assert_eq!(
        denials(&policy(), &request),
        [format!(
            "ExternalArtifacts of a PodinfoSource may only be written by {PRODUCER}"
        )]
    );
}

#[test]
fn nobody_else_may_write_the_status_of_the_producers_external_artifact() {
    let request = Request {
        user: "system:serviceaccount:apps:intruder",
        operation: "UPDATE",
        sub_resource: "status",
        object: own_with_status("http://evil.example.com/podinfo.tar.gz"),
        old_object: Some(own_with_status(&format!("{PREFIX}a.tar.gz"))),
    };
    assert_eq!(denials(&policy(), &request).len(), 1);
}

#[test]
fn nobody_else_may_change_the_spec_of_the_producers_external_artifact() {
    let mut changed = own();
    changed["spec"]["sourceRef"]["name"] = json!("other");
    let request = Request {
        user: "kubernetes-admin",
        operation: "UPDATE",
        sub_resource: "",
        object: changed,
        old_object: Some(own()),
    };
    assert_eq!(denials(&policy(), &request).len(), 1);
}

#[test]
fn others_may_annotate_the_producers_external_artifact() {
    let mut annotated = own();
    annotated["metadata"]["annotations"] =
        json!({ "reconcile.fluxcd.io/requestedAt": "2026-11-24T10:00:00Z" });
    let request = Request {
        user: "kubernetes-admin",
        operation: "UPDATE",
        sub_resource: "",
        object: annotated,
        old_object: Some(own()),
    };
    assert_eq!(denials(&policy(), &request), Vec::<String>::new());
}

#[test]
fn external_artifacts_of_other_producers_are_not_this_policys_business() {
    let request = Request {
        user: "system:serviceaccount:flux-system:source-watcher",
        operation: "CREATE",
        sub_resource: "",
        object: external_artifact(
            "source.extensions.fluxcd.io/v1beta1",
            "ArtifactGenerator",
            Some(status_with_url(
                "http://source-watcher.flux-system.svc.cluster.local./a.tar.gz",
            )),
        ),
        old_object: None,
    };
    assert_eq!(denials(&policy(), &request), Vec::<String>::new());
}

#[test]
fn nobody_else_may_move_the_producers_object_out_of_its_name() {
    let request = Request {
        user: "system:serviceaccount:apps:intruder",
        operation: "UPDATE",
        sub_resource: "",
        object: external_artifact("example.com/v1", "SomethingElse", None),
        old_object: Some(own()),
    };
    assert_eq!(
        denials(&policy(), &request),
        [format!(
            "ExternalArtifacts of a PodinfoSource may only be written by {PRODUCER}"
        )]
    );
}

#[test]
fn the_producer_may_not_take_over_another_producers_object() {
    let theirs = external_artifact("source.extensions.fluxcd.io/v1beta1", "ArtifactGenerator", None);
    let request = Request {
        user: PRODUCER,
        operation: "UPDATE",
        sub_resource: "",
        object: own(),
        old_object: Some(theirs),
    };
    assert_eq!(denials(&policy(), &request).len(), 1);
}

#[test]
fn the_producer_may_update_its_object_while_the_status_has_an_old_url() {
    // After a change of URL prefix, the object apply still carries the old status; the
    // status apply right after it brings the new URL.
    let old_url = own_with_status("http://old-name.flux-system.svc.cluster.local./a.tar.gz");
    let request = Request {
        user: PRODUCER,
        operation: "UPDATE",
        sub_resource: "",
        object: old_url.clone(),
        old_object: Some(old_url),
    };
    assert_eq!(denials(&policy(), &request), Vec::<String>::new());
}

#[test]
fn an_object_without_a_spec_is_judged_not_failed() {
    let mut bare = own();
    bare.as_object_mut().unwrap().remove("spec");
    let by_others = Request {
        user: "kubernetes-admin",
        operation: "CREATE",
        sub_resource: "",
        object: bare.clone(),
        old_object: None,
    };
    assert_eq!(denials(&policy(), &by_others), Vec::<String>::new());
    let by_producer = Request {
        user: PRODUCER,
        operation: "CREATE",
        sub_resource: "",
        object: bare,
        old_object: None,
    };
    assert_eq!(denials(&policy(), &by_producer).len(), 1);
}

#[test]
fn the_policy_applies_to_creates_and_updates_of_external_artifacts_and_their_status() {
    let policy = policy();
    for operation in ["CREATE", "UPDATE"] {
        for sub_resource in ["", "status"] {
            assert!(
                policy.applies_to(operation, RESOURCE, sub_resource),
                "{operation} of {RESOURCE}/{sub_resource} is not checked"
            );
        }
    }
}

#[test]
fn the_policy_leaves_deletes_and_other_resources_alone() {
    let policy = policy();
    assert!(!policy.applies_to("DELETE", RESOURCE, ""));
    assert!(!policy.applies_to("CREATE", "gitrepositories", ""));
    assert!(!policy.applies_to("UPDATE", RESOURCE, "finalizers"));
}

#[test]
fn resource_rule_wildcards_follow_the_api_server() {
    let rule = |resources: &[&str]| ResourceRule {
        api_groups: vec![GROUP.into()],
        api_versions: vec!["*".into()],
        operations: vec!["UPDATE".into()],
        resources: resources.iter().map(|r| (*r).to_owned()).collect(),
    };
    let status = |r: &ResourceRule| r.matches(GROUP, VERSION, "UPDATE", RESOURCE, "status");
    let main = |r: &ResourceRule| r.matches(GROUP, VERSION, "UPDATE", RESOURCE, "");
    assert!(main(&rule(&["*"])) && !status(&rule(&["*"])));
    assert!(main(&rule(&["*/*"])) && status(&rule(&["*/*"])));
    assert!(!main(&rule(&["externalartifacts/*"])) && status(&rule(&["externalartifacts/*"])));
    assert!(status(&rule(&["*/status"])));
    assert!(!rule(&["*/*"]).matches(GROUP, VERSION, "CREATE", RESOURCE, ""));
    assert!(!rule(&["*/*"]).matches("apps", VERSION, "UPDATE", RESOURCE, ""));
}
