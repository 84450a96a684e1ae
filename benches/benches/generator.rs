//! The ArtifactGenerator target (issue 10, "Speed"): a generator that copies a whole
//! tree builds and stores its artifact in at most 1.15x the time that archiving the
//! tree directly takes. Both are content-addressed archives of the same bytes (checked
//! before measuring), so the difference is the builder plus the entry list against the
//! directory walk. `archive-dir-filtered` adds Flux's default `.sourceignore` filter,
//! which the generator applies (as source-watcher does) and the plain archive does not.
//!
//! The chart-mix corpus (~300 MiB) runs only with `FLUX_BENCH_LARGE=1`. The criterion
//! groups run the variants one after the other; on a shared machine read the
//! alternating `generator-vs-archive` tool instead (docs/performance.md).
// Benchmarks are test code: setup failures abort the run.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::{collections::BTreeMap, hint::black_box, time::Duration};

use artifact_generator::builder::ArtifactBuilder;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flux_artifact_benches::{
    Corpus,
    generator::{ALIAS, build_and_store, copy_whole_tree},
};
use flux_artifact_config::Options;
use flux_artifact_storage::{ArchiveSource, Storage, source_ignore_filter};

fn generator(c: &mut Criterion) {
    for corpus in Corpus::selected() {
        let tree = corpus.ensure().expect("corpus");
        let root = flux_artifact_benches::scratch_dir().expect("scratch dir");
        let options = Options {
            storage_path: root.path().to_path_buf(),
            ..Options::default()
        };
        // The Go SDK does not sync either; durability is a separate cost.
        let storage = Storage::new(&options).expect("storage").with_fsync(false);
        let direct = || {
            storage
                .archive_content_addressed("Bench", &("bench", "direct"), ArchiveSource::dir(&tree.path))
                .expect("archive")
        };
        let built = build_and_store(&storage, &tree.path).expect("generator");
        assert_eq!(
            built.artifact.digest,
            direct().artifact.digest,
            "the generator archives the tree's bytes"
        );
        drop(built);

        let mut group = c.benchmark_group(format!("generator/{}", corpus.name()));
        group.throughput(Throughput::Bytes(tree.bytes));
        group.sample_size(10);
        if corpus == Corpus::ChartMix {
            group.measurement_time(Duration::from_secs(40));
        }
        group.bench_function("archive-dir", |b| b.iter(|| black_box(direct())));
        group.bench_function("archive-dir-filtered", |b| {
            b.iter(|| {
                let filtered =
                    ArchiveSource::dir_with_filter(&tree.path, source_ignore_filter(Vec::new(), &[]));
                black_box(
                    storage
                        .archive_content_addressed("Bench", &("bench", "filtered"), filtered)
                        .expect("archive"),
                )
            });
        });
        group.bench_function("copy-whole-tree", |b| {
            b.iter(|| black_box(build_and_store(&storage, &tree.path).expect("generator")));
        });
        // The builder alone: what the generator adds before the archive starts.
        let artifact = copy_whole_tree();
        let sources = BTreeMap::from([(ALIAS.to_owned(), tree.path.clone())]);
        group.bench_function("build-only", |b| {
            b.iter(|| black_box(ArtifactBuilder::new(&artifact, &sources).build().expect("build")));
        });
        group.finish();
    }
}

criterion_group!(benches, generator);
criterion_main!(benches);
