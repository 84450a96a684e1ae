//! [`ArchiveMetrics`]: what archiving costs, as Prometheus metrics.

use std::time::Duration;

use prometheus_client::{
    metrics::{
        counter::Counter,
        family::Family,
        histogram::{Histogram, exponential_buckets},
    },
    registry::{Registry, Unit},
};

/// Labels of `flux_artifact_archives_total`.
type OutcomeLabels = [(&'static str, &'static str); 1];

/// Metrics of the archives a [`Storage`](crate::Storage) writes, for a
/// `prometheus_client` [`Registry`] (feature `metrics`).
///
/// Attach them with [`Storage::with_metrics`](crate::Storage::with_metrics) and register
/// them once with [`register`](Self::register); every successful
/// [`archive`](crate::Storage::archive) and
/// [`archive_content_addressed`](crate::Storage::archive_content_addressed) is counted
/// (failed ones are not: the caller sees the error). The metrics, as exposed:
///
/// | name | type | what |
/// |---|---|---|
/// | `flux_artifact_archive_duration_seconds` | histogram | time from the first byte read to the file in place (buckets from 5 ms to 41 s, doubling) |
/// | `flux_artifact_archive_input_bytes_total` | counter | bytes of uncompressed tar stream (file contents plus headers) |
/// | `flux_artifact_archive_output_bytes_total` | counter | bytes of compressed output: the artifacts' sizes |
/// | `flux_artifact_archives_total{outcome}` | counter | archives, `outcome="written"` or `"unchanged"` (a content-addressed file found already stored) |
///
/// Clones share their values, so one `ArchiveMetrics` can be attached to several
/// storages.
///
/// ```
/// use flux_artifact_storage::{ArchiveEntries, ArchiveMetrics, ArchiveSource, Storage};
/// use prometheus_client::{encoding::text::encode, registry::Registry};
///
/// # let dir = tempfile::tempdir()?;
/// # let options = flux_artifact_config::Options { storage_path: dir.path().into(), ..Default::default() };
/// let mut registry = Registry::default();
/// let metrics = ArchiveMetrics::default();
/// metrics.register(&mut registry);
/// let storage = Storage::new(&options)?.with_metrics(metrics);
///
/// let stored = storage.archive_content_addressed("ExternalArtifact", &("apps", "podinfo"), ArchiveSource::entries(ArchiveEntries::new()))?;
/// let mut text = String::new();
/// encode(&mut text, &registry)?;
/// assert!(text.contains(&format!("flux_artifact_archive_output_bytes_total {}", stored.artifact.size.unwrap_or_default())));
/// assert!(text.contains(r#"flux_artifact_archives_total{outcome="written"} 1"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct ArchiveMetrics {
    duration: Histogram,
    input_bytes: Counter,
    output_bytes: Counter,
    archives: Family<OutcomeLabels, Counter>,
}

impl Default for ArchiveMetrics {
    fn default() -> Self {
        ArchiveMetrics {
            duration: Histogram::new(exponential_buckets(0.005, 2.0, 14)),
            input_bytes: Counter::default(),
            output_bytes: Counter::default(),
            archives: Family::default(),
        }
    }
}

impl ArchiveMetrics {
    /// Registers the metrics in `registry` under the names in the table above. Register
    /// them once: a second registration would expose them twice.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "flux_artifact_archive_duration",
            "Time to write an artifact archive, from reading the source to the file in place",
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register_with_unit(
            "flux_artifact_archive_input",
            "Uncompressed tar stream bytes archived",
            Unit::Bytes,
            self.input_bytes.clone(),
        );
        registry.register_with_unit(
            "flux_artifact_archive_output",
            "Compressed artifact bytes produced",
            Unit::Bytes,
            self.output_bytes.clone(),
        );
        registry.register(
            "flux_artifact_archives",
            "Archives made, by outcome: written, or unchanged (already stored)",
            self.archives.clone(),
        );
    }

    /// Counts one archive.
    pub(crate) fn record(&self, duration: Duration, input: u64, output: u64, written: bool) {
        self.duration.observe(duration.as_secs_f64());
        self.input_bytes.inc_by(input);
        self.output_bytes.inc_by(output);
        let outcome = if written { "written" } else { "unchanged" };
        self.archives.get_or_create(&[("outcome", outcome)]).inc();
    }
}
