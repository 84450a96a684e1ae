//! Serves a storage directory until Ctrl-C.
//!
//! ```text
//! cargo run -p flux-artifact-server --example serve -- [--storage-path DIR] [--storage-addr ADDR]
//! curl -r 0-99 -o part http://localhost:9090/<kind>/<namespace>/<name>/<file>.tar.gz
//! ```
//!
//! Takes the same flags and env vars as a controller built on the SDK (see
//! `flux-artifact-config`). Set `RUST_LOG`-style verbosity with `--verbose` to see a
//! line per request. Errors are printed with their causes, one line:
//! `error: cannot serve storage path /data: No such file or directory (os error 2)`.

use std::{error::Error, process::ExitCode};

use clap::Parser;
use flux_artifact_config::Options;
use flux_artifact_server::Server;

/// Serves a Flux artifact storage directory over HTTP.
#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    artifact: Options,
    /// Log every request.
    #[arg(long)]
    verbose: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_max_level(if cli.verbose {
            tracing::Level::DEBUG
        } else {
            tracing::Level::INFO
        })
        .init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", with_causes(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), Box<dyn Error>> {
    let server = Server::bind(&cli.artifact).await?;
    eprintln!(
        "serving {} on http://{} (advertised as {})",
        cli.artifact.storage_path.display(),
        server.local_addr(),
        cli.artifact.advertised_address()?
    );
    server
        .serve(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

/// The error's message followed by each of its causes, each once.
fn with_causes(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        text.push_str(": ");
        text.push_str(&next.to_string());
        cause = next.source();
    }
    text
}
