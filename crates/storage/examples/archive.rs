//! Packages a directory into a reproducible, content-addressed Flux artifact and prints
//! its `status.artifact`, as a producer controller would publish it.
//!
//! ```text
//! cargo run -p flux-artifact-storage --example archive -- DIR [STORAGE_DIR]
//! ```
//!
//! STORAGE_DIR defaults to `target/example-storage` (created if missing). The directory
//! is filtered with Flux's default `.sourceignore` rules plus its own `.sourceignore`
//! files and archived as `externalartifact/default/<dir name>/<digest>.tar.gz`; older
//! versions beyond the retention settings are garbage-collected, and the artifact JSON
//! is printed. Run it twice: the second run finds the same file and writes nothing.
//! Errors are printed with their causes, each once.

use std::{
    error::Error,
    fmt, io,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use flux_artifact_config::Options;
use flux_artifact_storage::{ArchiveSource, Storage, source_ignore_filter, sourceignore};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(e.as_ref()));
            eprintln!("usage: archive DIR [STORAGE_DIR]");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args_os().skip(1);
    let dir = PathBuf::from(args.next().ok_or("missing DIR")?);
    let storage_dir = args
        .next()
        .map_or_else(|| PathBuf::from("target/example-storage"), PathBuf::from);
    if !storage_dir.exists() {
        std::fs::create_dir_all(&storage_dir).map_err(at("create the storage directory", &storage_dir))?;
    }

    let options = Options {
        storage_path: storage_dir,
        ..Options::default()
    };
    let storage = Storage::new(&options)?;
    if !std::fs::metadata(&dir)
        .map_err(at("read the directory", &dir))?
        .is_dir()
    {
        return Err(format!("cannot archive {}: not a directory", dir.display()).into());
    }
    let name = std::fs::canonicalize(&dir)
        .map_err(at("read the directory", &dir))?
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_else(|| "root".into());

    let patterns =
        sourceignore::load_ignore_patterns(&dir).map_err(at("read the .sourceignore files of", &dir))?;
    let source = ArchiveSource::dir_with_filter(&dir, source_ignore_filter(patterns, &[]));
    let stored =
        storage.archive_content_addressed("ExternalArtifact", &("default", name.as_str()), source)?;
    let deleted = storage.garbage_collect(&stored.artifact, Duration::from_secs(30))?;

    println!("{}", serde_json::to_string_pretty(&stored.artifact)?);
    if let Some(path) = storage.local_path(&stored.artifact) {
        let what = if stored.written {
            "stored at"
        } else {
            "unchanged, already stored at"
        };
        eprintln!("{what} {}", path.display());
    }
    for path in deleted {
        eprintln!("garbage-collected {}", path.display());
    }
    Ok(())
}

/// An I/O error of this program's own, with what it was doing and where.
#[derive(Debug)]
struct AtPath {
    what: &'static str,
    path: PathBuf,
    source: io::Error,
}

impl fmt::Display for AtPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot {} {}", self.what, self.path.display())
    }
}

impl Error for AtPath {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

fn at(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> AtPath + use<> {
    let path = path.to_path_buf();
    move |source| AtPath { what, path, source }
}

/// An error and its causes, `outer: inner: …`, each message once.
fn chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
