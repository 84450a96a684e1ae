//! The CRD: `deploy/crd.yaml` is what the Rust types generate, and it is
//! source-watcher's CRD (vendored in `tests/data`) in identity, printer columns,
//! subresources, and every field's name, type, format, requirement and validation,
//! the CEL rule included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use serde_json::{Value, json};

const CHECKED_IN: &str = include_str!("../deploy/crd.yaml");

fn source_watchers_crd() -> Value {
    serde_yaml_ng::from_str(include_str!(
        "data/source.extensions.fluxcd.io_artifactgenerators.yaml"
    ))
    .unwrap()
}

fn ours() -> Value {
    serde_json::to_value(artifact_generator::api::crd()).unwrap()
}

fn schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

/// Every node of a schema by its dotted path, with everything but its description.
fn shape(schema: &Value) -> BTreeMap<String, Value> {
    fn walk(node: &Value, path: String, out: &mut BTreeMap<String, Value>) {
        let mut facts = node.as_object().cloned().unwrap_or_default();
        for key in ["description", "properties", "items"] {
            facts.remove(key);
        }
        if let Some(Value::Array(required)) = facts.get_mut("required") {
            required.sort_by_key(|v| v.as_str().map(str::to_owned));
        }
        // k8s-openapi holds `minimum` as a float: 0 and 0.0 are one bound.
        for value in facts.values_mut() {
            if let Some(number) = value.as_f64().filter(|_| value.is_number()) {
                *value = json!(number);
            }
        }
        out.insert(path.clone(), Value::Object(facts));
        if let Some(properties) = node.get("properties").and_then(Value::as_object) {
            for (name, child) in properties {
                let child_path = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}.{name}")
                };
                walk(child, child_path, out);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, format!("{path}[]"), out);
        }
    }
    let mut out = BTreeMap::new();
    walk(schema, String::new(), &mut out);
    out
}

#[test]
fn the_checked_in_crd_is_what_the_types_generate() {
    let generated = artifact_generator::api::crd_yaml().unwrap();
    assert!(
        generated == CHECKED_IN,
        "deploy/crd.yaml is out of date: run `cargo run -p artifact-generator -- crd > examples/artifact-generator/deploy/crd.yaml`"
    );
}

#[test]
fn the_checked_in_crd_parses_as_a_crd() {
    let crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition =
        serde_yaml_ng::from_str(CHECKED_IN).unwrap();
    assert_eq!(crd, artifact_generator::api::crd());
}

#[test]
fn the_crd_has_source_watchers_identity() {
    let (ours, theirs) = (ours(), source_watchers_crd());
    assert_eq!(ours["metadata"]["name"], theirs["metadata"]["name"]);
    assert_eq!(
        ours["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"],
        json!("disabled")
    );
    assert_eq!(ours["spec"]["group"], theirs["spec"]["group"]);
    assert_eq!(ours["spec"]["names"], theirs["spec"]["names"]);
    assert_eq!(ours["spec"]["scope"], theirs["spec"]["scope"]);
    let versions = |crd: &Value| -> Vec<Value> {
        crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| json!([v["name"], v["served"], v["storage"]]))
            .collect()
    };
    assert_eq!(versions(&ours), versions(&theirs));
}

#[test]
fn the_crd_has_source_watchers_printer_columns_and_subresources() {
    let (ours, theirs) = (ours(), source_watchers_crd());
    for key in ["additionalPrinterColumns", "subresources"] {
        assert_eq!(
            ours["spec"]["versions"][0][key], theirs["spec"]["versions"][0][key],
            "{key}"
        );
    }
}

#[test]
fn the_crd_has_source_watchers_fields_and_validations() {
    let ours = shape(schema(&ours()));
    let mut theirs = shape(schema(&source_watchers_crd()));
    // The API server defines these for every object; kube-derive leaves them out.
    for field in ["apiVersion", "kind", "metadata"] {
        assert!(theirs.remove(field).is_some());
    }
    let paths: std::collections::BTreeSet<_> = ours.keys().chain(theirs.keys()).collect();
    let mismatches: Vec<_> = paths
        .into_iter()
        .filter(|path| ours.get(*path) != theirs.get(*path))
        .map(|path| {
            format!(
                "{path}: ours {:?}, source-watcher's {:?}",
                ours.get(path),
                theirs.get(path)
            )
        })
        .collect();
    assert!(mismatches.is_empty(), "{mismatches:#?}");
}

#[test]
fn the_shape_comparison_notices_a_changed_validation() {
    let theirs = source_watchers_crd();
    let mut changed = schema(&theirs).clone();
    changed["properties"]["spec"]["properties"]["sources"]["items"]["properties"]["alias"]["maxLength"] =
        json!(64);
    assert_ne!(shape(schema(&theirs)), shape(&changed));
    let mut changed = schema(&theirs).clone();
    changed["properties"]["spec"]["x-kubernetes-validations"][0]["rule"] = json!("true");
    assert_ne!(shape(schema(&theirs)), shape(&changed));
}

/// The CEL rule of the CRD, evaluated with a CEL interpreter against `spec`, as the API
/// server would.
fn cel_rule_accepts(spec: &Value) -> bool {
    use kube_cel::{
        KubeCelExt,
        cel::{Context, Program, Value as Cel},
    };
    let crd: Value = serde_yaml_ng::from_str(CHECKED_IN).unwrap();
    let rule = schema(&crd)["properties"]["spec"]["x-kubernetes-validations"][0]["rule"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut context = Context::default().with_all();
    context.add_variable("self", spec).unwrap();
    match Program::compile(&rule).unwrap().execute(&context).unwrap() {
        Cel::Bool(accepted) => accepted,
        other => panic!("the rule gave {other:?}"),
    }
}

/// The local mode checks artifact names as the CRD's CEL rule does, so that it refuses
/// exactly the generators a cluster would.
#[test]
fn validation_agrees_with_the_crds_cel_rule_on_artifact_names() {
    let names = [
        "app",
        "app-1",
        "app.example.com",
        "0app",
        "App",
        "app_1",
        "-app",
        "app-",
        "app..x",
        ".app",
        "{app}",
        "a b",
    ];
    for path_pattern in ["", "@repo/apps/{app}"] {
        for name in names {
            let mut spec = json!({
                "sources": [{ "alias": "repo", "kind": "GitRepository", "name": "repo" }],
                "artifacts": [{ "name": name, "copy": [{ "from": "@repo/", "to": "@artifact/" }] }],
            });
            if !path_pattern.is_empty() {
                spec["pathPattern"] = json!(path_pattern);
            }
            let generator: artifact_generator::ArtifactGenerator = serde_json::from_value(json!({
                "apiVersion": "source.extensions.fluxcd.io/v1beta1",
                "kind": "ArtifactGenerator",
                "metadata": { "name": "gen" },
                "spec": spec,
            }))
            .unwrap();
            assert_eq!(
                artifact_generator::validate(&generator).is_ok(),
                cel_rule_accepts(&spec),
                "name {name:?} with pathPattern {path_pattern:?}"
            );
        }
    }
}
