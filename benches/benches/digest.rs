//! Digest throughput: the Go SDK's 2 KiB-write matrix, and large buffers.
// Benchmarks are test code: setup failures abort the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{hint::black_box, io::Write};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flux_artifact_benches::Rng;
use flux_artifact_digest::{Algorithm, MultiDigester};

fn two_kib_writes(c: &mut Criterion) {
    // The matrix of `BenchmarkMultiDigester_Write` in fluxcd/pkg/artifact/digest.
    let chunk = vec![0x5au8; 2048];
    let mut group = c.benchmark_group("digest/2KiB-writes");
    group.throughput(Throughput::Bytes(chunk.len() as u64));
    for (name, algorithms) in [
        ("sha1", &[Algorithm::Sha1][..]),
        ("sha256", &[Algorithm::Sha256][..]),
        ("blake3", &[Algorithm::Blake3][..]),
        ("sha256+sha384", &[Algorithm::Sha256, Algorithm::Sha384][..]),
        ("sha256+sha512", &[Algorithm::Sha256, Algorithm::Sha512][..]),
        ("sha256+blake3", &[Algorithm::Sha256, Algorithm::Blake3][..]),
    ] {
        group.bench_function(name, |b| {
            let mut digester = MultiDigester::new(algorithms);
            b.iter(|| digester.write_all(black_box(&chunk)));
        });
    }
    group.finish();
}

fn buffers(c: &mut Criterion) {
    let mut rng = Rng::new(7);
    for (label, size) in [("1MiB", 1usize << 20), ("64MiB", 64 << 20)] {
        let data: Vec<u8> = (0..size / 8).flat_map(|_| rng.next_u64().to_le_bytes()).collect();
        let mut group = c.benchmark_group(format!("digest/{label}"));
        group.throughput(Throughput::Bytes(size as u64));
        if size > 1 << 20 {
            group.sample_size(10);
        }
        for algorithm in Algorithm::ALL {
            group.bench_function(algorithm.name(), |b| {
                b.iter(|| algorithm.digest_bytes(black_box(&data)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, two_kib_writes, buffers);
criterion_main!(benches);
