//! Extracting the corpora's archives (chart-mix with `FLUX_BENCH_LARGE=1`).
// Benchmarks are test code: setup failures abort the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{
    fs,
    time::{Duration, Instant},
};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flux_artifact_benches::Corpus;
use flux_artifact_config::Options;
use flux_artifact_storage::{Storage, UntarOptions, untar};

fn untar_corpora(c: &mut Criterion) {
    for corpus in Corpus::selected() {
        let tree = corpus.ensure().expect("corpus");
        let root = flux_artifact_benches::scratch_dir().expect("scratch dir");
        let options = Options {
            storage_path: root.path().to_path_buf(),
            ..Options::default()
        };
        let storage = Storage::new(&options).expect("storage").with_fsync(false);
        let mut artifact = storage
            .new_artifact_for("Bench", &("ns", "n"), "r", "a.tar.gz")
            .expect("artifact");
        storage.archive(&mut artifact, &tree.path, None).expect("archive");
        let tarball = storage.local_path(&artifact).expect("path");
        let options = UntarOptions::default().max_size(None);

        let mut group = c.benchmark_group(format!("untar/{}", corpus.name()));
        group.throughput(Throughput::Bytes(tree.bytes));
        group.sample_size(10);
        if corpus == Corpus::ChartMix {
            group.measurement_time(Duration::from_secs(30));
        }
        group.bench_function("default", |b| {
            b.iter_custom(|iterations| {
                let mut total = Duration::ZERO;
                for _ in 0..iterations {
                    let out = flux_artifact_benches::scratch_dir().expect("scratch dir");
                    let file = fs::File::open(&tarball).expect("open");
                    let started = Instant::now();
                    untar(file, &out.path().join("x"), &options).expect("untar");
                    total += started.elapsed();
                }
                total
            });
        });
        group.finish();
    }
}

criterion_group!(benches, untar_corpora);
criterion_main!(benches);
