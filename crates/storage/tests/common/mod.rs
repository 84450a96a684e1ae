//! Helpers shared by the storage integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    fs,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use flux_artifact_config::Options;
use flux_artifact_storage::{Artifact, Storage};
use tempfile::TempDir;

/// A storage rooted in a fresh temporary directory.
pub(crate) struct TestStorage {
    pub(crate) root: TempDir,
    pub(crate) storage: Storage,
}

impl TestStorage {
    pub(crate) fn new() -> Self {
        Self::with_options(|_| {})
    }

    pub(crate) fn with_options(configure: impl FnOnce(&mut Options)) -> Self {
        let root = tempfile::tempdir().unwrap();
        let mut options = Options {
            storage_path: root.path().to_path_buf(),
            ..Options::default()
        };
        configure(&mut options);
        let storage = Storage::new(&options).unwrap().with_fsync(false);
        TestStorage { root, storage }
    }

    /// The canonical storage root.
    pub(crate) fn base(&self) -> PathBuf {
        self.storage.base_path().to_path_buf()
    }

    pub(crate) fn artifact(&self, path: &str) -> Artifact {
        let mut artifact = Artifact {
            path: path.into(),
            ..Artifact::default()
        };
        self.storage.set_artifact_url(&mut artifact);
        artifact
    }

    /// Writes `content` at a storage-relative path, creating directories.
    pub(crate) fn put(&self, relative: &str, content: &[u8]) -> PathBuf {
        let path = self.base().join(relative);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(&path, content).unwrap();
        path
    }
}

/// Writes files (`path`, content) under `root`, creating parent directories.
pub(crate) fn write_tree(root: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let path = root.join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
    }
}

/// Sets a file's modification time to `age` before now.
pub(crate) fn set_age(path: &Path, age: Duration) {
    set_mtime(path, SystemTime::now() - age);
}

pub(crate) fn set_mtime(path: &Path, time: SystemTime) {
    let file = fs::File::options().write(true).open(path).unwrap();
    file.set_modified(time).unwrap();
}

#[cfg(unix)]
pub(crate) fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Every file and directory under `root` (relative, sorted) with file contents.
pub(crate) fn snapshot(root: &Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry
            .path()
            .strip_prefix(root)
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let content = entry
            .file_type()
            .is_file()
            .then(|| fs::read(entry.path()).unwrap());
        out.push((rel, content));
    }
    out
}

/// The uncompressed content of a gzip file.
pub(crate) fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(fs::File::open(path).unwrap())
        .read_to_end(&mut out)
        .unwrap();
    out
}
