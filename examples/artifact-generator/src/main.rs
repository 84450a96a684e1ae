//! `artifact-generator`: the example ArtifactGenerator controller's command line.
//!
//! `build` is the local mode (no cluster); `run` is the Kubernetes controller the
//! Deployment starts; `crd` prints the CustomResourceDefinition.

mod local;
mod run;

use std::process::ExitCode;

use artifact_generator::Error;
use clap::{CommandFactory, Parser, Subcommand};

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
    /// Run the controller in a Kubernetes cluster: reconcile ArtifactGenerators, serve
    /// their artifacts and publish them as ExternalArtifacts, as source-watcher does.
    Run(Box<run::RunArgs>),
    /// Print the ArtifactGenerator CustomResourceDefinition as YAML (what
    /// deploy/crd.yaml holds).
    Crd,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Build(args) => local::run(&args),
        Command::Run(args) => {
            if let Err(run::Conflict(message)) = args.check() {
                // A usage error like clap's own: status 2, with `run`'s usage line.
                let mut command = Cli::command();
                command.build();
                let mut run = command.find_subcommand("run").cloned().unwrap_or(command);
                run.error(clap::error::ErrorKind::ArgumentConflict, message)
                    .exit();
            }
            return run::main(*args);
        }
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
