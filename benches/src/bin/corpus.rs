//! Writes a benchmark corpus and prints its directory and size.
//!
//! ```text
//! corpus manifests|chart-mix BASE_DIR
//! ```

use std::{path::PathBuf, process::ExitCode};

use flux_artifact_benches::Corpus;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let corpus = match args.first().map(String::as_str) {
        Some("manifests") => Corpus::Manifests,
        Some("chart-mix") => Corpus::ChartMix,
        _ => {
            eprintln!("usage: corpus manifests|chart-mix BASE_DIR");
            return ExitCode::from(2);
        }
    };
    let base = PathBuf::from(args.get(1).map_or("target/bench-corpora", String::as_str));
    match corpus.ensure_in(&base) {
        Ok(dir) => {
            println!("{} {} {} {}", dir.path.display(), dir.files, dir.dirs, dir.bytes);
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
