//! `artifact-generator`: build `ArtifactGenerator`s locally, or print their CRD.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// The example ArtifactGenerator controller, a Rust counterpart of Flux's
/// source-watcher.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the ArtifactGenerator CustomResourceDefinition as YAML (what
    /// deploy/crd.yaml holds).
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match artifact_generator::api::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error[io]: cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
