//! Shared pieces of the benchmarks and comparison tools: deterministic corpora, a load
//! generator for the artifact server, and the ArtifactGenerator's copy-a-tree workload.
//!
//! ```no_run
//! let corpus = flux_artifact_benches::Corpus::Manifests.ensure()?;
//! println!("{} files in {}", corpus.files, corpus.path.display());
//! # Ok::<(), std::io::Error>(())
//! ```

pub mod generator;
pub mod load;

use std::{
    fs, io,
    path::{Path, PathBuf},
};

/// Environment variable that enables the large corpus in `cargo bench`.
pub const LARGE_ENV: &str = "FLUX_BENCH_LARGE";

/// Environment variable naming the directory benchmarks write into.
pub const SCRATCH_ENV: &str = "FLUX_BENCH_SCRATCH";

/// A fresh temporary directory for a benchmark's output: under `$FLUX_BENCH_SCRATCH`
/// if set, else under `/dev/shm` where it exists (so that the numbers measure this code
/// rather than the disk's journal, which on a small VM varies several-fold between
/// runs), else under the system temporary directory.
///
/// # Errors
///
/// Any I/O error creating it.
pub fn scratch_dir() -> io::Result<tempfile::TempDir> {
    let base = std::env::var_os(SCRATCH_ENV).map(PathBuf::from).or_else(|| {
        let shm = PathBuf::from("/dev/shm");
        shm.is_dir().then_some(shm)
    });
    match base {
        Some(base) => tempfile::Builder::new().prefix("flux-bench-").tempdir_in(base),
        None => tempfile::tempdir(),
    }
}

/// The corpora of the benchmarks, generated from a fixed seed: the same bytes on every
/// machine and every run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corpus {
    /// About 3,000 Kubernetes-style YAML files of 1–8 KiB in about 1,200 nested
    /// directories, about 10 MiB: a typical GitOps repository.
    Manifests,
    /// About 300 files, 288 small YAML templates and 24 semi-compressible files of
    /// 5–20 MiB, about 300 MiB: charts with binaries and images.
    ChartMix,
}

/// A corpus on disk.
#[derive(Debug, Clone)]
pub struct CorpusDir {
    /// Its root directory.
    pub path: PathBuf,
    /// Regular files in it.
    pub files: u64,
    /// Directories in it, the root included.
    pub dirs: u64,
    /// Bytes of file content.
    pub bytes: u64,
}

/// Bump to regenerate cached corpora after a change to the generators.
const GENERATOR_VERSION: &str = "1";

impl Corpus {
    /// The corpora a `cargo bench` run covers: the manifests, plus the chart mix when
    /// `$FLUX_BENCH_LARGE` is set (it takes minutes to generate and measure).
    #[must_use]
    pub fn selected() -> Vec<Corpus> {
        let mut corpora = vec![Corpus::Manifests];
        if std::env::var_os(LARGE_ENV).is_some() {
            corpora.push(Corpus::ChartMix);
        }
        corpora
    }

    /// The corpus's name, also its directory name.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Corpus::Manifests => "manifests",
            Corpus::ChartMix => "chart-mix",
        }
    }

    /// The corpus under the workspace's `target/bench-corpora`, generated on first use.
    ///
    /// # Errors
    ///
    /// Any I/O error while generating.
    pub fn ensure(self) -> io::Result<CorpusDir> {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-corpora");
        self.ensure_in(&base)
    }

    /// The corpus under `base`, generated if missing or stale.
    ///
    /// # Errors
    ///
    /// Any I/O error while generating.
    pub fn ensure_in(self, base: &Path) -> io::Result<CorpusDir> {
        let path = base.join(self.name());
        let marker = base.join(format!("{}.done", self.name()));
        if fs::read_to_string(&marker).ok().as_deref() != Some(GENERATOR_VERSION) {
            if path.exists() {
                fs::remove_dir_all(&path)?;
            }
            fs::create_dir_all(&path)?;
            self.generate(&path)?;
            fs::write(&marker, GENERATOR_VERSION)?;
        }
        measure(&path)
    }

    /// Writes the corpus into `dir`, which should be empty.
    ///
    /// # Errors
    ///
    /// Any I/O error.
    pub fn generate(self, dir: &Path) -> io::Result<()> {
        let mut rng = Rng::new(match self {
            Corpus::Manifests => 0x5eed_0001,
            Corpus::ChartMix => 0x5eed_0002,
        });
        match self {
            Corpus::Manifests => write_manifests(dir, &mut rng),
            Corpus::ChartMix => write_chart_mix(dir, &mut rng),
        }
    }
}

fn measure(root: &Path) -> io::Result<CorpusDir> {
    let (mut files, mut dirs, mut bytes) = (0, 0, 0);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        dirs += 1;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let meta = entry.metadata()?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok(CorpusDir {
        path: root.to_path_buf(),
        files,
        dirs,
        bytes,
    })
}

/// xorshift64*: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `low..high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low).max(1)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.range(0, items.len() as u64) as usize]
    }
}

const WORDS: &[&str] = &[
    "api",
    "web",
    "worker",
    "cache",
    "redis",
    "postgres",
    "nginx",
    "frontend",
    "backend",
    "gateway",
    "ingress",
    "metrics",
    "logging",
    "billing",
    "search",
    "auth",
    "queue",
    "scheduler",
    "podinfo",
    "prometheus",
    "grafana",
    "loki",
    "tempo",
    "cert",
    "dns",
    "payments",
    "orders",
    "inventory",
    "catalog",
    "profile",
];
const ENVS: &[&str] = &["production", "staging", "development", "qa", "canary"];
const KINDS: &[&str] = &[
    "Deployment",
    "Service",
    "ConfigMap",
    "HorizontalPodAutoscaler",
    "Ingress",
];

/// One YAML document of roughly `target` bytes.
fn yaml(rng: &mut Rng, target: usize) -> String {
    let app = format!("{}-{}", rng.pick(WORDS), rng.pick(WORDS));
    let kind = rng.pick(KINDS);
    let mut doc = format!(
        "apiVersion: apps/v1\nkind: {kind}\nmetadata:\n  name: {app}\n  namespace: {}\n  labels:\n    app.kubernetes.io/name: {app}\n    app.kubernetes.io/part-of: {}\n    app.kubernetes.io/version: \"{}.{}.{}\"\nspec:\n  replicas: {}\n  template:\n    spec:\n      containers:\n",
        rng.pick(ENVS),
        rng.pick(WORDS),
        rng.range(0, 10),
        rng.range(0, 40),
        rng.range(0, 100),
        rng.range(1, 6),
    );
    while doc.len() < target {
        let name = rng.pick(WORDS);
        doc.push_str(&format!(
            "        - name: {name}\n          image: ghcr.io/example/{name}:v{}.{}.{}@sha256:{:016x}{:016x}\n          ports:\n            - containerPort: {}\n          env:\n",
            rng.range(0, 5),
            rng.range(0, 30),
            rng.range(0, 99),
            rng.next_u64(),
            rng.next_u64(),
            rng.range(1024, 65535),
        ));
        for _ in 0..rng.range(2, 8) {
            doc.push_str(&format!(
                "            - name: {}_{}\n              value: \"{:x}\"\n",
                rng.pick(WORDS).to_uppercase(),
                rng.pick(WORDS).to_uppercase(),
                rng.next_u64() >> rng.range(0, 40),
            ));
        }
    }
    doc.truncate(target);
    doc
}

fn write_manifests(dir: &Path, rng: &mut Rng) -> io::Result<()> {
    // 10 × 10 × 11 leaf directories plus their parents: 1,210 directories.
    let mut leaves = Vec::new();
    for (a, env) in ENVS.iter().cycle().take(10).enumerate() {
        for (b, team) in WORDS.iter().take(10).enumerate() {
            for (c, app) in WORDS.iter().skip(10).take(11).enumerate() {
                let leaf = dir.join(format!("{env}-{a}/{team}-{b}/{app}-{c}"));
                fs::create_dir_all(&leaf)?;
                leaves.push(leaf);
            }
        }
    }
    for i in 0..3000 {
        let leaf = &leaves[rng.range(0, leaves.len() as u64) as usize];
        let size = rng.range(1024, 8 * 1024) as usize;
        fs::write(
            leaf.join(format!("{}-{i}.yaml", rng.pick(WORDS))),
            yaml(rng, size),
        )?;
    }
    Ok(())
}

fn write_chart_mix(dir: &Path, rng: &mut Rng) -> io::Result<()> {
    for chart in 0..24 {
        let chart_dir = dir.join(format!("charts/{}-{chart}", rng.pick(WORDS)));
        let templates = chart_dir.join("templates");
        fs::create_dir_all(&templates)?;
        for t in 0..12 {
            let size = rng.range(1024, 8 * 1024) as usize;
            fs::write(
                templates.join(format!("{}-{t}.yaml", rng.pick(KINDS).to_lowercase())),
                yaml(rng, size),
            )?;
        }
        // 5–20 MiB, half text, half noise: binaries, images, bundled archives.
        let size = rng.range(5 << 20, 20 << 20) as usize;
        fs::write(chart_dir.join("files.bin"), semi_compressible(rng, size))?;
    }
    Ok(())
}

/// Text and random bytes in alternating runs: compresses to roughly 60%.
#[must_use]
pub fn semi_compressible(rng: &mut Rng, size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 4096);
    while out.len() < size {
        if rng.next_u64().is_multiple_of(2) {
            for _ in 0..rng.range(8, 64) {
                out.extend_from_slice(&rng.next_u64().to_le_bytes());
            }
        } else {
            let len = rng.range(64, 512) as usize;
            let line = yaml(rng, len);
            out.extend_from_slice(line.as_bytes());
        }
    }
    out.truncate(size);
    out
}
