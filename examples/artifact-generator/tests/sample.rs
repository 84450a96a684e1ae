//! The sample of the README's first command: its packaged chart is its chart directory.
//!
//! `testdata/sample/chart/podinfo-6.9.0.tgz` stands for a chart pushed to an OCI
//! registry with `helm package`: a small binary checked in so that the README's first
//! command runs on a fresh clone with nothing to prepare. Its source is
//! `testdata/sample/chart-source/`; this test fails when the two differ. After changing
//! the chart, rebuild the tarball with
//! `REGENERATE_SAMPLE_CHART=1 cargo test -p artifact-generator --test sample`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use flux_artifact::{
    config::Options,
    storage::{Storage, UntarOptions, untar},
};

fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample")
}

/// Every regular file under `root`, by `/`-separated relative path, with its bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .map(Result::unwrap)
        .filter(|e| e.file_type().is_file())
        .map(|e| {
            let relative = e.path().strip_prefix(root).unwrap();
            let name = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            (name, fs::read(e.path()).unwrap())
        })
        .collect()
}

/// Packages `chart-source/` with the SDK's reproducible archive writer.
fn regenerate(tarball: &Path) {
    let storage_dir = tempfile::tempdir().unwrap();
    let storage = Storage::new(&Options {
        storage_path: storage_dir.path().into(),
        ..Options::default()
    })
    .unwrap();
    let mut artifact = storage
        .new_artifact_for("ExternalArtifact", &("sample", "chart"), "latest", "chart.tar.gz")
        .unwrap();
    storage.mkdir_all(&artifact).unwrap();
    storage
        .archive(&mut artifact, sample().join("chart-source"), None)
        .unwrap();
    fs::copy(storage.local_path(&artifact).unwrap(), tarball).unwrap();
}

#[test]
fn the_sample_chart_is_its_chart_directory_packaged() {
    let tarball = sample().join("chart/podinfo-6.9.0.tgz");
    if std::env::var_os("REGENERATE_SAMPLE_CHART").is_some() {
        regenerate(&tarball);
    }
    let extracted = tempfile::tempdir().unwrap();
    untar(
        fs::File::open(&tarball).unwrap(),
        extracted.path(),
        &UntarOptions::default(),
    )
    .unwrap();
    let packaged = files(extracted.path());
    assert!(
        packaged.keys().all(|name| name.starts_with("podinfo/")),
        "a chart lives in one top-level directory: {:?}",
        packaged.keys()
    );
    assert!(
        packaged == files(&sample().join("chart-source")),
        "{} differs from chart-source/: regenerate it with REGENERATE_SAMPLE_CHART=1 cargo test -p artifact-generator --test sample",
        tarball.display()
    );
}
