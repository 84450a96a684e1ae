//! Packages a directory into a reproducible Flux artifact and prints its
//! `status.artifact`, as a producer controller would publish it.
//!
//! ```text
//! cargo run -p flux-artifact-storage --example archive -- DIR [STORAGE_DIR]
//! ```
//!
//! STORAGE_DIR defaults to `target/example-storage` (created if missing). The directory
//! is filtered with Flux's default `.sourceignore` rules plus its own `.sourceignore`
//! files, archived as `externalartifact/default/<dir name>/<dir name>.tar.gz`, verified,
//! and the artifact JSON printed. Run it twice: the digest does not change.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use flux_artifact_config::Options;
use flux_artifact_storage::{Storage, source_ignore_filter, sourceignore};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("usage: archive DIR [STORAGE_DIR]");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().ok_or("missing DIR")?);
    let storage_dir = args
        .next()
        .map_or_else(|| PathBuf::from("target/example-storage"), PathBuf::from);
    std::fs::create_dir_all(&storage_dir)?;

    let options = Options {
        storage_path: storage_dir,
        ..Options::default()
    };
    let storage = Storage::new(&options)?;
    let name = std::fs::canonicalize(&dir)?
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "root".into());
    let mut artifact = storage.new_artifact_for(
        "ExternalArtifact",
        &("default", name.as_str()),
        "latest",
        &format!("{name}.tar.gz"),
    )?;

    let patterns = sourceignore::load_ignore_patterns(&dir)?;
    let filter = source_ignore_filter(patterns, &[]);
    {
        let _lock = storage.lock(&artifact)?;
        storage.archive(&mut artifact, &dir, Some(&filter))?;
    }
    artifact.revision = format!("latest@{}", artifact.digest);
    storage.verify_artifact(&artifact)?;
    storage.garbage_collect(&artifact, Duration::from_secs(30))?;

    println!("{}", serde_json::to_string_pretty(&artifact)?);
    if let Some(path) = storage.local_path(&artifact) {
        eprintln!("stored at {}", path.display());
    }
    Ok(())
}
