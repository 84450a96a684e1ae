//! Garbage collection over 10,000 files in one artifact directory.
// Benchmarks are test code: setup failures abort the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    fs,
    time::{Duration, Instant, SystemTime},
};

use criterion::{Criterion, criterion_group, criterion_main};
use flux_artifact_config::Options;
use flux_artifact_storage::{GARBAGE_COUNT_LIMIT, Storage};

const FILES: usize = 10_000;

fn populate(dir: &std::path::Path, count: usize) {
    fs::create_dir_all(dir).expect("dir");
    let now = SystemTime::now();
    for i in 0..count {
        let path = dir.join(format!("{i:05}.tar.gz"));
        let file = fs::File::create(&path).expect("create");
        file.set_modified(now - Duration::from_secs((count - i) as u64))
            .expect("mtime");
    }
}

fn gc(c: &mut Criterion) {
    let root = flux_artifact_benches::scratch_dir().expect("scratch dir");
    let options = Options {
        storage_path: root.path().to_path_buf(),
        artifact_retention_ttl: Duration::from_secs(3600 * 24),
        artifact_retention_records: 2,
        ..Options::default()
    };
    let storage = Storage::new(&options).expect("storage").with_fsync(false);
    let dir = storage.base_path().join("bench/ns/n");
    populate(&dir, FILES);
    let current = storage
        .new_artifact_for("Bench", &("ns", "n"), "r", &format!("{:05}.tar.gz", FILES - 1))
        .expect("a");

    let mut group = c.benchmark_group("gc");
    group.sample_size(10);
    group.bench_function("garbage-files-10k", |b| {
        b.iter(|| {
            storage
                .garbage_files(&current, FILES, 2, Duration::from_secs(3600))
                .expect("gc")
        });
    });
    group.bench_function("garbage-collect-10k-dir-deletes-1000", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                populate(&dir, FILES);
                let started = Instant::now();
                let deleted = storage
                    .garbage_collect(&current, Duration::from_secs(60))
                    .expect("gc");
                total += started.elapsed();
                // The first 1,000 names are considered, plus the current file beyond
                // them: 1,001 counted, 2 retained.
                assert_eq!(deleted.len(), GARBAGE_COUNT_LIMIT - 1);
            }
            total
        });
    });
    group.finish();
}

criterion_group!(benches, gc);
criterion_main!(benches);
