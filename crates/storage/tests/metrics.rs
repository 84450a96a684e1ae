//! `ArchiveMetrics`: every archive moves the counters, as exposed to Prometheus.
#![cfg(feature = "metrics")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TestStorage, write_tree};
use flux_artifact_storage::{ArchiveEntries, ArchiveMetrics, ArchiveSource};
use prometheus_client::{encoding::text::encode, registry::Registry};

/// The value of a sample line `name value` in the text exposition.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no sample {name} in:\n{text}"))
        .parse()
        .unwrap()
}

fn exposition(registry: &Registry) -> String {
    let mut text = String::new();
    encode(&mut text, registry).unwrap();
    text
}

#[test]
fn archives_move_the_duration_bytes_and_outcome_counters() {
    let mut registry = Registry::default();
    let metrics = ArchiveMetrics::default();
    metrics.register(&mut registry);
    let t = TestStorage::new();
    let storage = t.storage.clone().with_metrics(metrics);

    let before = exposition(&registry);
    assert_eq!(
        sample(&before, "flux_artifact_archive_duration_seconds_count"),
        0.0
    );
    assert_eq!(sample(&before, "flux_artifact_archive_output_bytes_total"), 0.0);

    let mut entries = ArchiveEntries::new();
    entries.add_bytes("a.yaml", vec![b'a'; 10_000]).unwrap();
    let first = storage
        .archive_content_addressed("Kind", &("ns", "n"), ArchiveSource::entries(entries.clone()))
        .unwrap();
    let again = storage
        .archive_content_addressed("Kind", &("ns", "n"), ArchiveSource::entries(entries))
        .unwrap();
    let src = tempfile::tempdir().unwrap();
    write_tree(src.path(), &[("b.yaml", "b\n")]);
    let mut plain = t.artifact("kind/ns/n/plain.tar.gz");
    storage.archive(&mut plain, src.path(), None).unwrap();

    let text = exposition(&registry);
    assert_eq!(sample(&text, "flux_artifact_archive_duration_seconds_count"), 3.0);
    let output = first.artifact.size.unwrap() + again.artifact.size.unwrap() + plain.size.unwrap();
    assert_eq!(
        sample(&text, "flux_artifact_archive_output_bytes_total"),
        output as f64
    );
    // Two tar streams of one 10,000-byte file (root, header, content, padding and end
    // marker: 512 * (1 + 1 + 20 + 2)) and one of a 2-byte file.
    let input = 2 * 512 * (1 + 1 + 20 + 2) + 512 * (1 + 1 + 1 + 2);
    assert_eq!(
        sample(&text, "flux_artifact_archive_input_bytes_total"),
        f64::from(input)
    );
    assert_eq!(
        sample(&text, r#"flux_artifact_archives_total{outcome="written"}"#),
        2.0
    );
    assert_eq!(
        sample(&text, r#"flux_artifact_archives_total{outcome="unchanged"}"#),
        1.0
    );
}

#[test]
fn a_failed_archive_is_not_counted() {
    let mut registry = Registry::default();
    let metrics = ArchiveMetrics::default();
    metrics.register(&mut registry);
    let t = TestStorage::new();
    let storage = t.storage.clone().with_metrics(metrics);
    let mut artifact = t.artifact("kind/ns/n/a.tar.gz");
    assert!(storage.archive(&mut artifact, "/nonexistent", None).is_err());
    assert_eq!(
        sample(
            &exposition(&registry),
            "flux_artifact_archive_duration_seconds_count"
        ),
        0.0
    );
}

#[test]
fn help_lines_end_in_one_period() {
    // prometheus-client adds the final period itself.
    let mut registry = Registry::default();
    let metrics = ArchiveMetrics::default();
    metrics.register(&mut registry);
    // One archive, so that the outcome family has a series and is exposed too.
    let t = TestStorage::new();
    let mut entries = ArchiveEntries::new();
    entries.add_bytes("a.yaml", b"a".to_vec()).unwrap();
    let _stored = t
        .storage
        .clone()
        .with_metrics(metrics)
        .archive_content_addressed("Kind", &("ns", "n"), ArchiveSource::entries(entries))
        .unwrap();
    let text = exposition(&registry);
    let help: Vec<&str> = text.lines().filter(|line| line.starts_with("# HELP ")).collect();
    assert_eq!(help.len(), 4, "{text}");
    for line in help {
        assert!(line.ends_with('.') && !line.ends_with(".."), "{line}");
    }
}
