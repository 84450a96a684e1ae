//! The README's `[dependencies]` block is what `readme-check` builds the README's code
//! with, so a reader who copies both gets a program that compiles. The SDK crates, not
//! yet on crates.io, are the one allowed difference: `path` dependencies on this
//! workspace here, registry dependencies in the README.
//!
//! Both manifests are read by `cargo metadata`, so they are compared as cargo
//! understands them (`"4"` is `^4`, features as a set, default features on or off).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fences.rs"]
mod fences;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// Normal dependencies by name, each as cargo describes it, minus where it comes from.
type Dependencies = BTreeMap<String, Value>;

/// Whether a dependency is one of this workspace's crates.
fn is_sdk_crate(name: &str) -> bool {
    name == "flux-artifact" || name.starts_with("flux-artifact-")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn readme() -> String {
    fs::read_to_string(workspace_root().join("README.md")).unwrap()
}

/// The README's TOML block with a `[dependencies]` table: there must be exactly one.
fn readme_dependencies_block() -> String {
    let blocks: Vec<_> = fences::fences(&readme())
        .unwrap()
        .into_iter()
        .filter(|f| f.info == "toml" && f.body.lines().any(|l| l.trim() == "[dependencies]"))
        .collect();
    assert_eq!(
        blocks.len(),
        1,
        "README.md should have one ```toml block with [dependencies], found them on lines {:?}",
        blocks.iter().map(|b| b.line).collect::<Vec<_>>()
    );
    blocks.into_iter().next().unwrap().body
}

/// The package of `manifest` as `cargo metadata` reads it (without resolving anything).
fn package_metadata(manifest: &Path, name: &str) -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "metadata",
            "--no-deps",
            "--offline",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(manifest)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "cargo metadata {}: {}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no package {name} in {}", manifest.display()))
        .clone()
}

/// The normal dependencies of a package, features sorted, without `source` and `path`:
/// checked here instead, SDK crates by path and the rest from crates.io.
fn normal_dependencies(package: &Value, sdk_by_path: bool) -> Dependencies {
    let mut dependencies = Dependencies::new();
    for dependency in package["dependencies"].as_array().unwrap() {
        if !dependency["kind"].is_null() {
            continue;
        }
        let mut dependency = dependency.as_object().unwrap().clone();
        let name = dependency["name"].as_str().unwrap().to_owned();
        let source = dependency.remove("source").unwrap_or(Value::Null);
        let path = dependency.remove("path").unwrap_or(Value::Null);
        if sdk_by_path && is_sdk_crate(&name) {
            let path = Path::new(
                path.as_str()
                    .unwrap_or_else(|| panic!("{name} is not a path dependency")),
            );
            assert!(
                path.canonicalize().unwrap().starts_with(workspace_root()),
                "{name} comes from {}, outside this workspace",
                path.display()
            );
        } else {
            assert_eq!(
                source.as_str(),
                Some("registry+https://github.com/rust-lang/crates.io-index"),
                "{name} should come from crates.io"
            );
        }
        if let Some(Value::Array(features)) = dependency.get_mut("features") {
            features.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        }
        dependencies.insert(name, Value::Object(dependency));
    }
    dependencies
}

/// The README's `[dependencies]`, read by cargo from a package made of that block alone.
fn readme_dependencies() -> Dependencies {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("readme-dependencies");
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::write(dir.join("src/lib.rs"), "").unwrap();
    let manifest = format!(
        "[package]\nname = \"readme-dependencies\"\nversion = \"0.0.0\"\nedition = \"2024\"\n\n{}\n\
         # Not part of any workspace.\n[workspace]\n",
        readme_dependencies_block()
    );
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    normal_dependencies(
        &package_metadata(&dir.join("Cargo.toml"), "readme-dependencies"),
        false,
    )
}

fn this_crates_dependencies() -> Dependencies {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    normal_dependencies(&package_metadata(&manifest, env!("CARGO_PKG_NAME")), true)
}

/// What differs between the README's dependencies and this crate's, one line each.
fn differences(readme: &Dependencies, built_with: &Dependencies) -> Vec<String> {
    let mut differences = Vec::new();
    for (name, dependency) in readme {
        match built_with.get(name) {
            None => differences.push(format!("{name}: in the README, not in readme-check")),
            Some(ours) if ours != dependency => {
                differences.push(format!(
                    "{name}: the README has {dependency}, readme-check {ours}"
                ));
            }
            Some(_) => {}
        }
    }
    for name in built_with.keys().filter(|n| !readme.contains_key(*n)) {
        differences.push(format!("{name}: in readme-check, not in the README"));
    }
    differences
}

/// `build.rs` refuses to build without one too: a check with nothing to compile would
/// pass whatever the README says.
#[test]
fn the_readme_has_rust_code_to_compile() {
    let fences = fences::fences(&readme()).unwrap();
    assert!(fences.iter().any(fences::Fence::is_compiled_rust), "{fences:#?}");
}

#[test]
fn the_readme_lists_exactly_the_dependencies_its_code_is_built_with() {
    let differences = differences(&readme_dependencies(), &this_crates_dependencies());
    assert!(
        differences.is_empty(),
        "README.md's [dependencies] and examples/readme/Cargo.toml differ (change both):\n{}",
        differences.join("\n")
    );
}

#[test]
fn a_crate_the_readme_leaves_out_is_a_difference() {
    let built_with = this_crates_dependencies();
    let mut readme = built_with.clone();
    readme.remove("tokio").unwrap();

    assert_eq!(
        differences(&readme, &built_with),
        ["tokio: in readme-check, not in the README"]
    );
}

#[test]
fn a_feature_the_readme_leaves_out_is_a_difference() {
    let built_with = this_crates_dependencies();
    let mut readme = built_with.clone();
    readme.get_mut("clap").unwrap()["features"] = serde_json::json!(["derive"]);

    let differences = differences(&readme, &built_with);
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert!(
        differences[0].starts_with("clap: the README has"),
        "{differences:?}"
    );
}

/// k8s-openapi refuses to build with two Kubernetes versions: the README's choice must be
/// the one the workspace builds everything else for (`.cargo/config.toml`).
#[test]
fn the_readme_picks_the_kubernetes_version_the_workspace_builds_for() {
    // Set for every build of the workspace by `.cargo/config.toml`'s `[env]`.
    let workspace = env!("K8S_OPENAPI_ENABLED_VERSION");
    let feature = format!("v{}", workspace.replace('.', "_"));
    let readme = readme_dependencies();
    let features = readme["k8s-openapi"]["features"].as_array().unwrap();
    let versions: Vec<_> = features
        .iter()
        .filter_map(Value::as_str)
        .filter(|f| f.starts_with("v1_"))
        .collect();
    assert_eq!(
        versions,
        [feature.as_str()],
        "README k8s-openapi features {features:?}"
    );
}
