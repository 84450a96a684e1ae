//! Our types against Flux's published CRDs (vendored in `tests/data`): the
//! ExternalArtifact CRD matches Flux's in group, names, scope, versions, printer columns,
//! subresources and every field's name, type, format and requirement; the source views
//! are served by Flux's CRDs and read the same status fields.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use flux_artifact_kube::{Bucket, ExternalArtifact, GitRepository, HelmChart, OCIRepository};
use kube::CustomResourceExt;
use serde_json::{Value, json};

fn flux_crd(plural: &str) -> Value {
    let path = format!(
        "{}/tests/data/source.toolkit.fluxcd.io_{plural}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn version<'a>(crd: &'a Value, name: &str) -> &'a Value {
    crd["spec"]["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap()
}

/// Every node of a schema by its dotted path, with what makes its type: `type`,
/// `format`, sorted `required`, the type of map values, and, outside the subtrees in
/// `loose`, the validations (`pattern`, `enum`, lengths, `minimum`). Descriptions and
/// `nullable` are left out: they do not change what the API server accepts from a
/// client that omits empty fields, as ours does.
fn shape(schema: &Value, loose: &[&str]) -> BTreeMap<String, Value> {
    fn walk(node: &Value, path: String, loose: &[&str], out: &mut BTreeMap<String, Value>) {
        let mut facts = serde_json::Map::new();
        for key in ["type", "format"] {
            if let Some(v) = node.get(key) {
                facts.insert(key.into(), v.clone());
            }
        }
        if let Some(required) = node.get("required") {
            let mut names: Vec<_> = required
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect();
            names.sort();
            facts.insert("required".into(), json!(names));
        }
        if let Some(values) = node.get("additionalProperties") {
            facts.insert("values".into(), values["type"].clone());
        }
        if !loose.iter().any(|prefix| path.starts_with(prefix)) {
            for key in ["pattern", "enum", "maxLength", "minLength", "minimum"] {
                if let Some(v) = node.get(key) {
                    facts.insert(key.into(), v.clone());
                }
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
                walk(child, child_path, loose, out);
            }
        }
        if let Some(items) = node.get("items") {
            walk(items, format!("{path}[]"), loose, out);
        }
    }
    let mut out = BTreeMap::new();
    walk(schema, String::new(), loose, &mut out);
    out
}

/// Conditions come from k8s-openapi's `metav1.Condition`, whose schema carries no
/// validations; the API server applies Flux's, which are stricter, so only the fields'
/// names, types and requirements are compared there.
const CONDITIONS: &str = "status.conditions";

#[test]
fn the_external_artifact_crd_has_fluxs_identity() {
    let ours = serde_json::to_value(ExternalArtifact::flux_crd()).unwrap();
    let flux = flux_crd("externalartifacts");
    assert_eq!(ours["metadata"]["name"], flux["metadata"]["name"]);
    assert_eq!(
        ours["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"],
        flux["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/substitute"]
    );
    assert_eq!(ours["spec"]["group"], flux["spec"]["group"]);
    assert_eq!(ours["spec"]["names"], flux["spec"]["names"]);
    assert_eq!(ours["spec"]["scope"], flux["spec"]["scope"]);
    let names = |crd: &Value| -> Vec<Value> {
        crd["spec"]["versions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| json!([v["name"], v["served"], v["storage"]]))
            .collect()
    };
    assert_eq!(names(&ours), names(&flux));
}

#[test]
fn the_external_artifact_crd_has_fluxs_printer_columns_and_subresources() {
    let ours = serde_json::to_value(ExternalArtifact::flux_crd()).unwrap();
    let flux = flux_crd("externalartifacts");
    assert_eq!(
        version(&ours, "v1")["additionalPrinterColumns"],
        version(&flux, "v1")["additionalPrinterColumns"]
    );
    assert_eq!(
        version(&ours, "v1")["subresources"],
        version(&flux, "v1")["subresources"]
    );
}

#[test]
fn the_external_artifact_crd_has_fluxs_fields() {
    let ours = serde_json::to_value(ExternalArtifact::flux_crd()).unwrap();
    let flux = flux_crd("externalartifacts");
    let ours = shape(&version(&ours, "v1")["schema"]["openAPIV3Schema"], &[CONDITIONS]);
    let mut flux = shape(&version(&flux, "v1")["schema"]["openAPIV3Schema"], &[CONDITIONS]);
    // The API server defines these for every object; kube-derive leaves them out.
    for field in ["apiVersion", "kind", "metadata"] {
        assert!(flux.remove(field).is_some());
    }
    assert_eq!(ours, flux);
}

#[test]
fn the_shape_comparison_notices_a_changed_field() {
    let flux = flux_crd("externalartifacts");
    let schema = &version(&flux, "v1")["schema"]["openAPIV3Schema"];
    let mut changed = schema.clone();
    changed["properties"]["status"]["properties"]["artifact"]["properties"]["size"]["type"] = json!("string");
    assert_ne!(shape(schema, &[CONDITIONS]), shape(&changed, &[CONDITIONS]));
}

/// A read-only source view is named like Flux's CRD, and the status fields it reads
/// have the types Flux's CRD gives them.
fn check_source_view(ours: Value, plural: &str) {
    let flux = flux_crd(plural);
    assert_eq!(ours["spec"]["group"], flux["spec"]["group"], "{plural}: group");
    assert_eq!(ours["spec"]["scope"], flux["spec"]["scope"], "{plural}: scope");
    for key in ["kind", "plural", "singular"] {
        assert_eq!(
            ours["spec"]["names"][key], flux["spec"]["names"][key],
            "{plural}: names.{key}"
        );
    }
    let served = version(&flux, "v1");
    assert_eq!(served["served"], true, "{plural}: Flux serves v1");
    let ours = shape(
        &version(&ours, "v1")["schema"]["openAPIV3Schema"]["properties"]["status"],
        &["conditions"],
    );
    let flux = shape(
        &served["schema"]["openAPIV3Schema"]["properties"]["status"],
        &["conditions"],
    );
    for (path, facts) in &ours {
        if path.is_empty() {
            continue;
        }
        assert_eq!(Some(facts), flux.get(path), "{plural}: status.{path}");
    }
    for field in [
        "artifact",
        "artifact.digest",
        "artifact.revision",
        "conditions[]",
        "observedGeneration",
    ] {
        assert!(
            ours.contains_key(field),
            "{plural}: the view reads status.{field}"
        );
    }
}

#[test]
fn the_git_repository_view_matches_fluxs_crd() {
    check_source_view(
        serde_json::to_value(GitRepository::crd()).unwrap(),
        "gitrepositories",
    );
}

#[test]
fn the_oci_repository_view_matches_fluxs_crd() {
    check_source_view(
        serde_json::to_value(OCIRepository::crd()).unwrap(),
        "ocirepositories",
    );
}

#[test]
fn the_bucket_view_matches_fluxs_crd() {
    check_source_view(serde_json::to_value(Bucket::crd()).unwrap(), "buckets");
}

#[test]
fn the_helm_chart_view_matches_fluxs_crd() {
    check_source_view(serde_json::to_value(HelmChart::crd()).unwrap(), "helmcharts");
}
