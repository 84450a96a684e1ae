//! Times `Storage::archive` of a directory against `archive_content_addressed` of the
//! same directory and of the equivalent entry list, alternating the three (in rotating
//! order) for several rounds so that a shared machine's load shifts hit all of them
//! alike, and prints the medians and their ratios to the first.
//!
//! ```text
//! archive-sources [--level N] [--rounds N] [--large]
//! ```
//!
//! The corpus is the benchmarks' manifests (chart-mix with `--large`); output goes to a
//! scratch directory (`/dev/shm` where it exists), without fsync.

use std::{
    fs,
    path::Path,
    process::ExitCode,
    time::{Duration, Instant},
};

use flux_artifact_benches::Corpus;
use flux_artifact_config::Options;
use flux_artifact_storage::{ArchiveEntries, ArchiveSource, Storage};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("usage: archive-sources [--level N] [--rounds N] [--large]");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut level, mut rounds, mut corpus) = (6u8, 9usize, Corpus::Manifests);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--level" => level = args.next().ok_or("--level needs a value")?.parse()?,
            "--rounds" => rounds = args.next().ok_or("--rounds needs a value")?.parse()?,
            "--large" => corpus = Corpus::ChartMix,
            other => return Err(format!("unknown argument {other:?}").into()),
        }
    }
    let tree = corpus.ensure()?;
    let scratch = flux_artifact_benches::scratch_dir()?;
    let options = Options {
        storage_path: scratch.path().to_path_buf(),
        ..Options::default()
    };
    let storage = Storage::new(&options)?
        .with_fsync(false)
        .with_compression_level(level);
    let entries = entries_of(&tree.path)?;
    let mut artifact = storage.new_artifact_for("Bench", &("ns", "n"), "r", "a.tar.gz")?;

    let names = [
        "archive (dir)",
        "content-addressed (dir)",
        "content-addressed (entries)",
    ];
    let mut times: [Vec<Duration>; 3] = Default::default();
    for round in 0..rounds {
        // Each round starts with the next variant, so none always runs first or last.
        for variant in (0..3).map(|i| (i + round) % 3) {
            let source = ArchiveSource::entries(entries.clone());
            let start = Instant::now();
            let digest = match variant {
                0 => {
                    storage.archive(&mut artifact, &tree.path, None)?;
                    artifact.digest.clone()
                }
                1 => {
                    storage
                        .archive_content_addressed("Bench", &("ns", "dir"), ArchiveSource::dir(&tree.path))?
                        .into_artifact()
                        .digest
                }
                _ => {
                    storage
                        .archive_content_addressed("Bench", &("ns", "entries"), source)?
                        .into_artifact()
                        .digest
                }
            };
            times[variant].push(start.elapsed());
            if !artifact.digest.is_empty() && digest != artifact.digest {
                return Err("the three archives differ".into());
            }
        }
    }
    println!(
        "{}: {} files, {} MiB, level {level}, medians of {rounds} alternating rounds",
        corpus.name(),
        tree.files,
        tree.bytes / (1 << 20)
    );
    let base = median(&mut times[0]);
    for (name, samples) in names.iter().zip(times.iter_mut()) {
        let m = median(samples);
        println!(
            "{name:<30} {:>8.1} ms  {:.2}x",
            m.as_secs_f64() * 1000.0,
            m.as_secs_f64() / base.as_secs_f64()
        );
    }
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The entry list equivalent to the tree at `root`.
fn entries_of(root: &Path) -> std::io::Result<ArchiveEntries> {
    fn walk(root: &Path, dir: &Path, entries: &mut ArchiveEntries) -> std::io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let relative = path.strip_prefix(root).map_err(std::io::Error::other)?;
            if entry.file_type()?.is_dir() {
                entries.add_dir(relative).map_err(std::io::Error::other)?;
                walk(root, &path, entries)?;
            } else {
                entries.add_file(relative, &path).map_err(std::io::Error::other)?;
            }
        }
        Ok(())
    }
    let mut entries = ArchiveEntries::new();
    walk(root, root, &mut entries)?;
    Ok(entries)
}
