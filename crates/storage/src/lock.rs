//! Advisory locks held with `flock`: per artifact (`<artifact>.lock`, as in the Go SDK)
//! and per object directory (`<dir>/.lock`, for content-addressed writes and garbage
//! collection).

use std::{
    ffi::OsString,
    fs::{File, OpenOptions, TryLockError},
    io,
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

/// Name of the lock file of an object's directory, `<kind>/<namespace>/<name>/.lock`.
///
/// No artifact's own lock file can have this name (that would take an artifact file with
/// an empty name), and it ends in `.lock`, so garbage collection never counts it and the
/// artifact server never serves it. It is also the lock file the Go SDK's `Lock` uses for
/// an artifact whose path names the directory (`<dir>/` + `.lock`).
pub(crate) const DIR_LOCK_FILE: &str = ".lock";

/// An exclusive lock on an object's directory, held until dropped.
///
/// Taken, for a short critical section each, by
/// [`Storage::archive_content_addressed`] (deciding whether its result is new and
/// protecting it for the caller), [`Storage::garbage_collect`] and
/// [`Storage::remove_all_but_current`] (deciding what to delete and deleting it). The
/// lock file is never deleted by this crate, except with the whole directory.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir`, waiting for other holders. Fails with [`io::ErrorKind::NotFound`] if
    /// `dir` does not exist: it is not created.
    pub(crate) fn acquire(dir: &Path) -> io::Result<DirLock> {
        let file = lock_file_options().open(dir.join(DIR_LOCK_FILE))?;
        file.lock()?;
        Ok(DirLock { _file: file })
    }
}

/// The lock file of an artifact file: its path with `.lock` appended.
pub(crate) fn lock_path(artifact_file: &Path) -> PathBuf {
    let mut name = OsString::from(artifact_file.as_os_str());
    name.push(".lock");
    PathBuf::from(name)
}

fn lock_file_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

fn open_lock_file(path: &Path) -> Result<File, Error> {
    lock_file_options()
        .open(path)
        .map_err(Error::io("open the lock file", path))
}

/// Takes a shared lock on an artifact file's `.lock`, waiting while someone holds it
/// exclusively. Garbage collection leaves a file alone while any lock on it is held, so
/// this protects a file its holder is about to publish; several holders may share it.
pub(crate) fn lock_shared(artifact_file: &Path) -> Result<ArtifactLock, Error> {
    let path = lock_path(artifact_file);
    let file = open_lock_file(&path)?;
    file.lock_shared().map_err(Error::io("lock", &path))?;
    Ok(ArtifactLock { _file: file, path })
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
