//! Archives a directory once with the SDK, as the comparison script times it, and prints
//! the digest and the compressed size.
//!
//! ```text
//! archive-dir [--level N] [--threads N] [--fsync] DIR OUT_DIR
//! ```
//!
//! The archive is written to `OUT_DIR/bench/ns/n/a.tar.gz` (OUT_DIR is the storage
//! root). Without `--fsync` nothing is synced, like the Go SDK.

use std::{path::PathBuf, process::ExitCode};

use flux_artifact_config::Options;
use flux_artifact_storage::Storage;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("usage: archive-dir [--level N] [--threads N] [--fsync] DIR OUT_DIR");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut level, mut threads, mut fsync, mut paths) = (6u8, None, false, Vec::new());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--level" => level = args.next().ok_or("--level needs a value")?.parse()?,
            "--threads" => threads = Some(args.next().ok_or("--threads needs a value")?.parse()?),
            "--fsync" => fsync = true,
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let [dir, out] = <[PathBuf; 2]>::try_from(paths).map_err(|_| "expected DIR and OUT_DIR")?;
    std::fs::create_dir_all(&out)?;
    let options = Options {
        storage_path: out,
        ..Options::default()
    };
    let mut storage = Storage::new(&options)?
        .with_fsync(fsync)
        .with_compression_level(level);
    if let Some(threads) = threads {
        storage = storage.with_compression_threads(threads);
    }
    let mut artifact = storage.new_artifact_for("Bench", &("ns", "n"), "latest", "a.tar.gz")?;
    storage.archive(&mut artifact, &dir, None)?;
    println!("{} {}", artifact.digest, artifact.size.unwrap_or_default());
    Ok(())
}
