//! Archiving the corpora at each gzip level, the content-addressed call from a directory
//! and from the equivalent entry list, and verifying a large artifact.
//!
//! The chart-mix corpus (~300 MiB) runs only with `FLUX_BENCH_LARGE=1`.
// Benchmarks are test code: setup failures abort the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{fs, hint::black_box, path::Path, time::Duration};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use flux_artifact_benches::{Corpus, Rng, semi_compressible};
use flux_artifact_config::Options;
use flux_artifact_storage::{ArchiveEntries, ArchiveSource, Artifact, Storage};

fn storage(root: &std::path::Path) -> Storage {
    let options = Options {
        storage_path: root.to_path_buf(),
        ..Options::default()
    };
    // The Go SDK does not sync either; durability is a separate cost.
    Storage::new(&options).expect("storage").with_fsync(false)
}

fn archive(c: &mut Criterion) {
    for corpus in Corpus::selected() {
        let tree = corpus.ensure().expect("corpus");
        let root = flux_artifact_benches::scratch_dir().expect("scratch dir");
        let base = storage(root.path());
        let mut group = c.benchmark_group(format!("archive/{}", corpus.name()));
        group.throughput(Throughput::Bytes(tree.bytes));
        group.sample_size(10);
        if corpus == Corpus::ChartMix {
            group.measurement_time(Duration::from_secs(30));
        }
        let variants = [
            ("level-0", 0, None),
            ("level-1", 1, None),
            ("level-6", 6, None),
            ("level-9", 9, None),
            ("level-6-1-thread", 6, Some(1)),
        ];
        for (name, level, threads) in variants {
            let mut s = base.clone().with_compression_level(level);
            if let Some(threads) = threads {
                s = s.with_compression_threads(threads);
            }
            let mut artifact = s
                .new_artifact_for("Bench", &("ns", "n"), "r", "a.tar.gz")
                .expect("artifact");
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    s.archive(black_box(&mut artifact), &tree.path, None)
                        .expect("archive")
                });
            });
        }
        group.finish();
    }
}

/// The entry list equivalent to the tree at `root`: every directory and every file,
/// files referenced on disk.
fn entries_of(root: &Path) -> ArchiveEntries {
    fn walk(root: &Path, dir: &Path, entries: &mut ArchiveEntries) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let entry = entry.expect("entry");
            let path = entry.path();
            let relative = path.strip_prefix(root).expect("relative");
            if entry.file_type().expect("type").is_dir() {
                entries.add_dir(relative).expect("add dir");
                walk(root, &path, entries);
            } else {
                entries.add_file(relative, &path).expect("add file");
            }
        }
    }
    let mut entries = ArchiveEntries::new();
    walk(root, root, &mut entries);
    entries
}

/// `archive` of a directory against `archive_content_addressed` of the same directory
/// and of the equivalent entry list: the same bytes, so the difference is the walk
/// against the list, and rename against finding the file stored (every iteration after
/// the first finds it).
fn content_addressed(c: &mut Criterion) {
    for corpus in Corpus::selected() {
        let tree = corpus.ensure().expect("corpus");
        let root = flux_artifact_benches::scratch_dir().expect("scratch dir");
        let s = storage(root.path());
        let entries = entries_of(&tree.path);
        let mut group = c.benchmark_group(format!("archive-source/{}", corpus.name()));
        group.throughput(Throughput::Bytes(tree.bytes));
        group.sample_size(10);
        if corpus == Corpus::ChartMix {
            group.measurement_time(Duration::from_secs(30));
        }
        // Level 0 (stored) leaves out compression, which is the same for all three, to
        // show what the source side costs.
        for level in [6, 0] {
            let s = s.clone().with_compression_level(level);
            let mut artifact = s
                .new_artifact_for("Bench", &("ns", "n"), "r", "a.tar.gz")
                .expect("artifact");
            group.bench_function(format!("archive-dir/level-{level}"), |b| {
                b.iter(|| {
                    s.archive(black_box(&mut artifact), &tree.path, None)
                        .expect("archive")
                });
            });
            group.bench_function(format!("content-addressed-dir/level-{level}"), |b| {
                b.iter(|| {
                    s.archive_content_addressed("Bench", &("ns", "dir"), ArchiveSource::dir(&tree.path))
                        .expect("archive")
                });
            });
            group.bench_function(format!("content-addressed-entries/level-{level}"), |b| {
                b.iter_batched(
                    || ArchiveSource::entries(entries.clone()),
                    |source| {
                        s.archive_content_addressed("Bench", &("ns", "entries"), source)
                            .expect("archive")
                    },
                    BatchSize::SmallInput,
                );
            });
        }
        group.finish();
    }
}

fn verify(c: &mut Criterion) {
    let root = flux_artifact_benches::scratch_dir().expect("scratch dir");
    let s = storage(root.path());
    let mut artifact = s
        .new_artifact_for("Bench", &("ns", "n"), "r", "big.tar.gz")
        .expect("artifact");
    let data = semi_compressible(&mut Rng::new(11), 150_000_000);
    s.copy(&mut artifact, data.as_slice()).expect("copy");
    drop(data);
    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Bytes(150_000_000));
    group.sample_size(10);
    for algorithm in [
        flux_artifact_digest::Algorithm::Sha256,
        flux_artifact_digest::Algorithm::Blake3,
    ] {
        let stored = Artifact {
            digest: algorithm
                .digest_reader(fs::File::open(s.local_path(&artifact).expect("path")).expect("open"))
                .expect("digest")
                .to_string(),
            ..artifact.clone()
        };
        group.bench_function(format!("150MB-{}", algorithm.name()), |b| {
            b.iter(|| s.verify_artifact(black_box(&stored)).expect("verify"));
        });
    }
    group.finish();
}

criterion_group!(benches, archive, content_addressed, verify);
criterion_main!(benches);
