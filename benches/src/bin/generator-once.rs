//! Builds and stores, once, an ArtifactGenerator artifact that copies a whole tree (or,
//! with `--direct`, archives the tree's directory), and prints the digest, the size and
//! the largest file of the tree: the process to run under `/usr/bin/time -v` for the
//! generator's peak memory.
//!
//! ```text
//! generator-once [--large | --dir DIR] [--direct] [--threads N]
//! ```
//!
//! The tree is the benchmarks' manifests corpus, chart-mix with `--large`, or `DIR`;
//! output goes to a scratch directory (`/dev/shm` where it exists), without fsync.

use std::{path::PathBuf, process::ExitCode};

use flux_artifact_benches::{Corpus, generator::build_and_store};
use flux_artifact_config::Options;
use flux_artifact_storage::{ArchiveSource, Storage};
use walkdir::WalkDir;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("usage: generator-once [--large | --dir DIR] [--direct] [--threads N]");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut tree, mut direct, mut threads) = (None::<PathBuf>, false, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--large" => tree = Some(Corpus::ChartMix.ensure()?.path),
            "--dir" => tree = Some(args.next().ok_or("--dir needs a value")?.into()),
            "--direct" => direct = true,
            "--threads" => threads = Some(args.next().ok_or("--threads needs a value")?.parse()?),
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let tree = match tree {
        Some(tree) => tree,
        None => Corpus::Manifests.ensure()?.path,
    };
    let largest = WalkDir::new(&tree)
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .filter(std::fs::Metadata::is_file)
        .map(|m| m.len())
        .max()
        .unwrap_or(0);
    let scratch = flux_artifact_benches::scratch_dir()?;
    let options = Options {
        storage_path: scratch.path().to_path_buf(),
        ..Options::default()
    };
    let mut storage = Storage::new(&options)?.with_fsync(false);
    if let Some(threads) = threads {
        storage = storage.with_compression_threads(threads);
    }
    let artifact = if direct {
        storage
            .archive_content_addressed(
                "ExternalArtifact",
                &("bench", "direct"),
                ArchiveSource::dir(&tree),
            )?
            .into_artifact()
    } else {
        build_and_store(&storage, &tree)?.into_artifact()
    };
    println!(
        "{} {} bytes (largest file {:.1} MiB)",
        artifact.digest,
        artifact.size.unwrap_or_default(),
        largest as f64 / f64::from(1 << 20)
    );
    Ok(())
}
