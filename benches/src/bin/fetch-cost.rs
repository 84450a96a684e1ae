//! Times `ArchiveFetcher::fetch` of one large artifact served by the SDK's server on
//! 127.0.0.1, and watches the disk use under the fetch's parent directory while it runs.
//!
//! ```text
//! fetch-cost [--runs N] [--files N] [--out DIR] [--wrong-digest]
//! ```
//!
//! The artifact is archived from `--files` (default 25) semi-compressible files of 10 MiB
//! each (about 150 MB compressed), generated from a fixed seed. The storage and the
//! source live in the benchmarks' scratch directory (`/dev/shm` where it exists); the
//! fetches extract under `--out` (default: the scratch directory too), so running it with
//! an `--out` on a disk shows what the disk adds. Prints each run's time and the peak of
//! the bytes in files under the fetch's parent directory, sampled every 2 ms (a lower
//! bound of the true peak), and the CPU time the process spent meanwhile (the client,
//! the server and the sampler: on a busy machine a better measure of the work than the
//! wall time). With `--wrong-digest` each fetch is given a digest that does
//! not match, and the time is that of downloading and refusing the artifact.

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use flux_artifact_benches::{Rng, scratch_dir, semi_compressible};
use flux_artifact_config::Options;
use flux_artifact_fetch::ArchiveFetcher;
use flux_artifact_storage::Storage;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            eprintln!("usage: fetch-cost [--runs N] [--files N] [--out DIR] [--wrong-digest]");
            ExitCode::FAILURE
        }
    }
}

/// CPU time of this process so far (all threads: the fetch, the server and the
/// sampler), from `/proc/self/stat`; `None` where that file does not exist.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every Linux platform Rust supports.
    Some(Duration::from_millis(ticks * 10))
}

/// Bytes in regular files under `dir`.
fn bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => stack.push(entry.path()),
                Ok(kind) if kind.is_file() => total += entry.metadata().map_or(0, |m| m.len()),
                _ => {}
            }
        }
    }
    total
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut runs, mut files, mut out, mut wrong_digest) = (5usize, 25usize, None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().ok_or("--runs needs a value")?.parse()?,
            "--files" => files = args.next().ok_or("--files needs a value")?.parse()?,
            "--out" => out = Some(PathBuf::from(args.next().ok_or("--out needs a value")?)),
            "--wrong-digest" => wrong_digest = true,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    let scratch = scratch_dir()?;
    let source = scratch.path().join("source");
    std::fs::create_dir_all(&source)?;
    let mut rng = Rng::new(0x5eed_fe7c);
    for i in 0..files {
        std::fs::write(
            source.join(format!("blob-{i:02}.bin")),
            semi_compressible(&mut rng, 10 << 20),
        )?;
    }
    let storage_root = scratch.path().join("storage");
    std::fs::create_dir_all(&storage_root)?;

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        let options = Options {
            storage_path: storage_root.clone(),
            storage_address: "127.0.0.1:0".into(),
            ..Options::default()
        };
        let server = flux_artifact_server::Server::bind(&options).await?;
        let options = Options {
            storage_adv_address: server.local_addr().to_string(),
            ..options
        };
        tokio::spawn(server.serve(std::future::pending::<()>()));
        let storage = Storage::new(&options)?.with_fsync(false);
        let mut artifact = storage.new_artifact_for("Bench", &("ns", "n"), "v1", "a.tar.gz")?;
        storage.archive(&mut artifact, &source, None)?;
        let size = artifact.size.unwrap_or_default();
        println!(
            "artifact: {} bytes compressed ({:.1} MB), {} MiB extracted",
            size,
            size as f64 / 1e6,
            files * 10
        );

        let out_base = match &out {
            Some(dir) => tempfile::Builder::new().prefix("fetch-cost-").tempdir_in(dir)?,
            None => tempfile::Builder::new()
                .prefix("fetch-cost-")
                .tempdir_in(scratch.path())?,
        };
        let fetcher = ArchiveFetcher::builder().max_untar_size(None).retries(0).build();
        let digest = if wrong_digest {
            flux_artifact_digest::Algorithm::Sha256
                .digest_bytes(b"not the artifact")
                .to_string()
        } else {
            artifact.digest.clone()
        };
        let mut times = Vec::new();
        let mut cpus = Vec::new();
        for run in 0..runs {
            let parent = out_base.path().join(format!("run-{run}"));
            std::fs::create_dir_all(&parent)?;
            let peak = Arc::new(AtomicU64::new(0));
            let done = Arc::new(AtomicBool::new(false));
            let sampler = {
                let (peak, done, parent) = (peak.clone(), done.clone(), parent.clone());
                std::thread::spawn(move || {
                    while !done.load(Ordering::Relaxed) {
                        peak.fetch_max(bytes_under(&parent), Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(2));
                    }
                })
            };
            let started = Instant::now();
            let cpu_before = cpu_time();
            let result = fetcher.fetch(&artifact.url, &digest, parent.join("target")).await;
            let elapsed = started.elapsed();
            let cpu = cpu_before.zip(cpu_time()).map(|(before, after)| after - before);
            done.store(true, Ordering::Relaxed);
            let _ = sampler.join();
            let outcome = match result {
                Ok(summary) => format!("{} files", summary.extracted.files),
                Err(e) if wrong_digest && e.to_string().contains("doesn't match") => "refused".to_owned(),
                Err(e) => return Err(e.into()),
            };
            println!(
                "run {run}: {:.3} s, {:.2} s of CPU, {outcome}, peak observed under the parent: {:.1} MB",
                elapsed.as_secs_f64(),
                cpu.unwrap_or_default().as_secs_f64(),
                peak.load(Ordering::Relaxed) as f64 / 1e6
            );
            times.push(elapsed);
            cpus.push(cpu.unwrap_or_default());
            std::fs::remove_dir_all(&parent)?;
        }
        times.sort();
        cpus.sort();
        println!(
            "median {:.3} s, min {:.3} s over {runs} runs; CPU median {:.2} s",
            times[times.len() / 2].as_secs_f64(),
            times[0].as_secs_f64(),
            cpus[cpus.len() / 2].as_secs_f64()
        );
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
