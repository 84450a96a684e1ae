//! Per-artifact advisory locks: `<artifact>.lock` files held with `flock`.

use std::{
    ffi::OsString,
    fs::{File, OpenOptions, TryLockError},
    path::{Path, PathBuf},
};

use crate::{Artifact, Error, Storage, write::create_dir_all_private};

/// An exclusive lock on an artifact, held until this guard is dropped.
///
/// Made by [`Storage::lock`] and [`Storage::try_lock`]. The lock is an advisory `flock`
/// (on Windows `LockFileEx`) on the file `<artifact path>.lock`, the same file and
/// mechanism as the Go SDK's `lockedfile`, so Go and Rust processes sharing a storage
/// directory exclude each other. Dropping the guard (or the process ending) releases
/// it; the lock file stays, as in Go, because deleting a lock file while someone waits
/// on it would let two holders in.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArtifactLock {
    _file: File,
    path: PathBuf,
}

impl ArtifactLock {
    /// The lock file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The lock file of an artifact file: its path with `.lock` appended.
pub(crate) fn lock_path(artifact_file: &Path) -> PathBuf {
    let mut name = OsString::from(artifact_file.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

fn open_lock_file(path: &Path) -> Result<File, Error> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path).map_err(Error::io("open the lock file", path))
}

impl Storage {
    /// Locks the artifact exclusively, waiting as long as another holder keeps it (Go:
    /// `Lock`). The artifact's directory is created if missing.
    ///
    /// # Errors
    ///
    /// Path errors ([`Error::EmptyPath`] instead of Go's lock file in the working
    /// directory), and [`Error::Io`] if the lock file cannot be opened or locked.
    ///
    /// ```
    /// # use flux_artifact_storage::{Artifact, Storage};
    /// # let dir = tempfile::tempdir()?;
    /// # let options = flux_artifact_config::Options { storage_path: dir.path().into(), ..Default::default() };
    /// # let storage = Storage::new(&options)?;
    /// let artifact = storage.new_artifact_for("Kind", &("ns", "obj"), "v1", "a.tar.gz")?;
    /// let guard = storage.lock(&artifact)?;
    /// assert!(storage.try_lock(&artifact)?.is_none()); // held
    /// drop(guard);
    /// assert!(storage.try_lock(&artifact)?.is_some()); // free again
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn lock(&self, artifact: &Artifact) -> Result<ArtifactLock, Error> {
        let path = self.prepare_lock(artifact)?;
        let file = open_lock_file(&path)?;
        file.lock().map_err(Error::io("lock", &path))?;
        Ok(ArtifactLock { _file: file, path })
    }

    /// Locks the artifact if nobody holds it, else returns `None` at once.
    ///
    /// # Errors
    ///
    /// As [`lock`](Self::lock).
    pub fn try_lock(&self, artifact: &Artifact) -> Result<Option<ArtifactLock>, Error> {
        let path = self.prepare_lock(artifact)?;
        let file = open_lock_file(&path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(ArtifactLock { _file: file, path })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(Error::Io {
                op: "lock",
                path,
                source: e,
            }),
        }
    }

    fn prepare_lock(&self, artifact: &Artifact) -> Result<PathBuf, Error> {
        let path = lock_path(&self.resolve(artifact)?);
        if let Some(dir) = path.parent() {
            create_dir_all_private(dir)?;
        }
        Ok(path)
    }
}

/// Whether a file's lock could be taken without waiting.
pub(crate) enum LockProbe {
    /// There is no such file.
    Absent,
    /// Someone holds the lock.
    Held,
    /// The lock is ours until the file is dropped.
    Acquired(File),
}

/// Tries to lock an existing file (a `.lock` file, or the temporary file of a write).
pub(crate) fn probe_lock(path: &Path) -> std::io::Result<LockProbe> {
    let file = match OpenOptions::new().read(true).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockProbe::Absent),
        Err(e) => return Err(e),
    };
    match file.try_lock() {
        Ok(()) => Ok(LockProbe::Acquired(file)),
        Err(TryLockError::WouldBlock) => Ok(LockProbe::Held),
        Err(TryLockError::Error(e)) => Err(e),
    }
}
