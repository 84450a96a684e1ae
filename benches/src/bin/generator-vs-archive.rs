//! Times the ArtifactGenerator's copy of a whole tree (build, then the content-addressed
//! archive of its entry list) against the content-addressed archive of the tree's
//! directory, unfiltered and with Flux's default `.sourceignore` filter (which the
//! generator applies, as source-watcher does), in rotating order for several rounds so
//! that a shared machine's load shifts hit all alike. Prints the load average before and
//! after, the medians of wall time and of process CPU time, and their ratios to the
//! unfiltered archive.
//!
//! ```text
//! generator-vs-archive [--large] [--rounds N] [--level N]
//! ```
//!
//! The corpus is the benchmarks' manifests (chart-mix with `--large`); output goes to a
//! scratch directory (`/dev/shm` where it exists), without fsync. All archives hold the
//! same bytes (the corpora have nothing the filter excludes): the tool stops if their
//! digests differ.

use std::{
    fs,
    process::ExitCode,
    time::{Duration, Instant},
};

use flux_artifact_benches::{Corpus, generator::build_and_store};
use flux_artifact_config::Options;
use flux_artifact_storage::{ArchiveSource, Storage, source_ignore_filter};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("usage: generator-vs-archive [--large] [--rounds N] [--level N]");
            ExitCode::FAILURE
        }
    }
}

/// One timed run: wall time and the process's CPU time (all threads).
#[derive(Debug, Clone, Copy)]
struct Sample {
    wall: Duration,
    cpu: Duration,
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
    let load_before = load_average();

    let names = [
        "archive the directory",
        "archive it, default filter",
        "generator: copy the tree",
    ];
    let mut samples: [Vec<Sample>; 3] = Default::default();
    let mut digests: [String; 3] = Default::default();
    // A first pass of each, untimed: page cache, stored files, allocator.
    for (variant, digest) in digests.iter_mut().enumerate() {
        *digest = archive(variant, &storage, &tree.path)?;
    }
    if digests.iter().any(|d| *d != digests[0]) {
        return Err(format!("the archives differ: {digests:?}").into());
    }
    for round in 0..rounds {
        for variant in (0..3).map(|i| (round + i) % 3) {
            let (wall, cpu) = (Instant::now(), cpu_time()?);
            let digest = archive(variant, &storage, &tree.path)?;
            samples[variant].push(Sample {
                wall: wall.elapsed(),
                cpu: cpu_time()?.saturating_sub(cpu),
            });
            if digest != digests[0] {
                return Err("the archives differ".into());
            }
        }
    }
    println!(
        "{}: {} files, {:.1} MiB, level {level}, medians of {rounds} alternating rounds",
        corpus.name(),
        tree.files,
        tree.bytes as f64 / f64::from(1 << 20)
    );
    println!("load average before: {load_before}; after: {}", load_average());
    let base_wall = median(samples[0].iter().map(|s| s.wall));
    let base_cpu = median(samples[0].iter().map(|s| s.cpu));
    for (name, samples) in names.iter().zip(&samples) {
        let wall = median(samples.iter().map(|s| s.wall));
        let cpu = median(samples.iter().map(|s| s.cpu));
        println!(
            "{name:<28} wall {:>8.1} ms  {:.3}x   cpu {:>8.1} ms  {:.3}x",
            wall.as_secs_f64() * 1000.0,
            wall.as_secs_f64() / base_wall.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0,
            cpu.as_secs_f64() / base_cpu.as_secs_f64().max(f64::MIN_POSITIVE),
        );
    }
    // Per round, the generator's time over the directory's: the spread shows the noise.
    let mut ratios: Vec<f64> = samples[2]
        .iter()
        .zip(&samples[0])
        .map(|(g, d)| g.wall.as_secs_f64() / d.wall.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    if let (Some(low), Some(high)) = (ratios.first(), ratios.last()) {
        println!(
            "per-round wall ratio: min {low:.3}, median {:.3}, max {high:.3}",
            ratios[ratios.len() / 2]
        );
    }
    Ok(())
}

/// Runs variant 0 (the directory), 1 (the directory, default filter) or 2 (the
/// generator) once; returns the digest.
fn archive(
    variant: usize,
    storage: &Storage,
    tree: &std::path::Path,
) -> Result<String, Box<dyn std::error::Error>> {
    let source = match variant {
        0 => ArchiveSource::dir(tree),
        1 => ArchiveSource::dir_with_filter(tree, source_ignore_filter(Vec::new(), &[])),
        _ => return Ok(build_and_store(storage, tree)?.into_artifact().digest),
    };
    Ok(storage
        .archive_content_addressed("ExternalArtifact", &("bench", "direct"), source)?
        .into_artifact()
        .digest)
}

fn median(values: impl Iterator<Item = Duration>) -> Duration {
    let mut values: Vec<Duration> = values.collect();
    values.sort();
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// The process's user + system CPU time, all threads included (Linux `/proc/self/stat`,
/// in clock ticks of 10 ms).
fn cpu_time() -> std::io::Result<Duration> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name, which is in parentheses and may hold spaces:
    // state is the first, utime the 12th and stime the 13th.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    Ok(Duration::from_millis((ticks(11) + ticks(12)) * 10))
}

/// The 1, 5 and 15 minute load averages, as `/proc/loadavg` gives them.
fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
