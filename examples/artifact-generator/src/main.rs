//! `artifact-generator`: the example ArtifactGenerator controller's command line.
//!
//! `build` is the local mode (no cluster); `crd` prints the CustomResourceDefinition.

mod local;

use std::process::ExitCode;

use artifact_generator::Error;
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
    /// Build ArtifactGenerators from local sources, without a cluster, and print the
    /// ExternalArtifacts the controller would apply.
    Build(local::args::BuildArgs),
    /// Print the ArtifactGenerator CustomResourceDefinition as YAML (what
    /// deploy/crd.yaml holds).
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Build(args) => local::run(args),
        Command::Crd => print_crd(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("{}", report(&failure));
            ExitCode::FAILURE
        }
    }
}

fn print_crd() -> Result<(), local::Failure> {
    let yaml = artifact_generator::api::crd_yaml().map_err(|e| Error::Io {
        op: "render",
        path: "the CRD".into(),
        source: std::io::Error::other(e),
    })?;
    print!("{yaml}");
    Ok(())
}

/// `error[KIND]: context: message: cause: cause…`: the error and every cause in its
/// chain, each said once.
fn report(failure: &local::Failure) -> String {
    let mut line = format!("error[{}]: ", failure.error.kind());
    if !failure.context.is_empty() {
        line.push_str(&failure.context);
        line.push_str(": ");
    }
    line.push_str(&failure.error.to_string());
    let mut cause = std::error::Error::source(&*failure.error);
    while let Some(error) = cause {
        // Some errors of dependencies also put their cause in their message.
        let text = error.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        cause = error.source();
    }
    line
}
