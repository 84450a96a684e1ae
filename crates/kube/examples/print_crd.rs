//! Prints the CRD of `ExternalArtifact` as YAML, e.g. to install it in a test cluster
//! that has no Flux: `cargo run -p flux-artifact-kube --example print_crd | kubectl apply -f -`.

use flux_artifact_kube::ExternalArtifact;
fn main() -> Result<(), Box<dyn std::error::Error>> {
    print!("{}", serde_yaml_ng::to_string(&ExternalArtifact::flux_crd())?);
    Ok(())
}
