//! [`AsyncStorage`]: the storage operations for async code, each run once on tokio's
//! blocking pool.

use std::{io::Read, path::PathBuf, sync::Arc, time::Duration};

use crate::{ArchiveFilter, ArchiveSource, Artifact, ArtifactLock, Error, ObjectKey, Storage, StoredArchive};

/// A [`Storage`] for async code (feature `tokio`): the same operations, each run on
/// tokio's blocking pool so that file I/O, compression and lock waits never stall the
/// runtime's worker threads.
///
/// Cheap to clone (a [`Storage`] is a few settings). Every method clones what the
/// operation needs and moves it to the blocking task, so callers pass references as to
/// the synchronous calls; methods that update an [`Artifact`] write it back only when
/// the operation succeeded. A blocking task that panics (a panicking filter, say) or is
/// cancelled by a runtime shutdown is [`Error::BlockingTask`]: one `?`, no join error to
/// unwrap. Operations that need a lock take it inside the blocking task and hold it
/// there: [`archive_content_addressed`](Self::archive_content_addressed) and
/// [`garbage_collect`](Self::garbage_collect) lock the object's directory as their
/// synchronous counterparts do.
///
/// # Cancellation
///
/// Dropping one of these futures (a `select!`, a timeout, a reconcile aborted) does
/// **not** stop the blocking work: it runs to its end, unobserved. What that means:
///
/// - files are never partial: a write goes to a temporary file that is renamed into
///   place only when complete, so the artifact's path holds the complete new file
///   afterwards, or the previous one, or nothing, never a part;
/// - the [`Artifact`] passed by `&mut` is left unchanged, even if the file was
///   written: write the artifact again, or re-archive (content-addressed, that finds the
///   file and writes nothing);
/// - locks taken by the operation are released when the blocking work ends, not when
///   the future is dropped; a guard from [`lock`](Self::lock) or a [`StoredArchive`]
///   that was not handed over because the future was dropped is released then too.
///
/// ```
/// use flux_artifact_storage::{ArchiveEntries, ArchiveSource, AsyncStorage, Storage};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let options = flux_artifact_config::Options { storage_path: dir.path().into(), ..Default::default() };
/// let storage = AsyncStorage::new(Storage::new(&options)?);
///
/// let mut entries = ArchiveEntries::new();
/// entries.add_bytes("app.yaml", b"kind: ConfigMap\n".to_vec())?;
/// let stored = storage
///     .archive_content_addressed("ExternalArtifact", &("apps", "podinfo"), ArchiveSource::entries(entries))
///     .await?;
/// // ... publish stored.artifact, then:
/// storage.verify_artifact(&stored.artifact).await?;
/// let deleted = storage.garbage_collect(&stored.artifact, std::time::Duration::from_secs(30)).await?;
/// assert!(deleted.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct AsyncStorage {
    storage: Storage,
}

impl From<Storage> for AsyncStorage {
    fn from(storage: Storage) -> Self {
        AsyncStorage::new(storage)
    }
}

/// An owned copy of an [`ObjectKey`], to move to a blocking task.
struct OwnedKey {
    namespace: String,
    name: String,
    cluster_scoped: bool,
}

impl OwnedKey {
    fn of(key: &(impl ObjectKey + ?Sized)) -> Self {
        OwnedKey {
            namespace: key.namespace().to_owned(),
            name: key.name().to_owned(),
            cluster_scoped: key.is_cluster_scoped(),
        }
    }
}

impl ObjectKey for OwnedKey {
    fn namespace(&self) -> &str {
        &self.namespace
    }

    fn name(&self) -> &str {
        &self.name
    }

    fn is_cluster_scoped(&self) -> bool {
        self.cluster_scoped
    }
}

impl AsyncStorage {
    /// The async handle of `storage`.
    #[must_use]
    pub fn new(storage: Storage) -> Self {
        AsyncStorage { storage }
    }

    /// The synchronous storage, for its settings and non-blocking calls
    /// ([`new_artifact_for`](Storage::new_artifact_for),
    /// [`local_path`](Storage::local_path), …).
    #[must_use]
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Runs `f` on the blocking pool with a clone of the storage.
    async fn run<T, F>(&self, op: &'static str, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&Storage) -> Result<T, Error> + Send + 'static,
    {
        let storage = self.storage.clone();
        tokio::task::spawn_blocking(move || f(&storage))
            .await
            .map_err(|source| Error::BlockingTask { op, source })?
    }

    /// Runs an operation that updates an artifact on a copy of it, and writes the copy
    /// back only on success.
    async fn update<F>(&self, op: &'static str, artifact: &mut Artifact, f: F) -> Result<(), Error>
    where
        F: FnOnce(&Storage, &mut Artifact) -> Result<(), Error> + Send + 'static,
    {
        let mut copy = artifact.clone();
        let updated = self
            .run(op, move |storage| {
                f(storage, &mut copy)?;
                Ok(copy)
            })
            .await?;
        *artifact = updated;
        Ok(())
    }

    /// [`Storage::archive_content_addressed`]: archives `source` as
    /// `<kind>/<namespace>/<name>/<hex digest>.tar.gz`, taking the object directory's
    /// lock inside the blocking task.
    ///
    /// # Errors
    ///
    /// As [`Storage::archive_content_addressed`], and [`Error::BlockingTask`].
    pub async fn archive_content_addressed(
        &self,
        kind: &str,
        object: &(impl ObjectKey + Sync),
        source: ArchiveSource,
    ) -> Result<StoredArchive, Error> {
        let kind = kind.to_owned();
        let key = OwnedKey::of(object);
        self.run("archive_content_addressed", move |storage| {
            storage.archive_content_addressed(&kind, &key, source)
        })
        .await
    }

    /// [`Storage::archive`]: archives the directory `dir` at the artifact's path. As with
    /// the synchronous call, hold the artifact's [`lock`](Self::lock) around it if other
    /// writers may write the same artifact.
    ///
    /// # Errors
    ///
    /// As [`Storage::archive`], and [`Error::BlockingTask`].
    pub async fn archive(
        &self,
        artifact: &mut Artifact,
        dir: impl Into<PathBuf>,
        filter: Option<Arc<dyn ArchiveFilter + Send + Sync>>,
    ) -> Result<(), Error> {
        let dir = dir.into();
        self.update("archive", artifact, move |storage, artifact| {
            storage.archive(artifact, &dir, filter.as_deref().map(|f| f as &dyn ArchiveFilter))
        })
        .await
    }

    /// [`Storage::copy`]: writes what `reader` yields to the artifact's file.
    ///
    /// # Errors
    ///
    /// As [`Storage::copy`], and [`Error::BlockingTask`].
    pub async fn copy(
        &self,
        artifact: &mut Artifact,
        reader: impl Read + Send + 'static,
    ) -> Result<(), Error> {
        self.update("copy", artifact, move |storage, artifact| {
            storage.copy(artifact, reader)
        })
        .await
    }

    /// [`Storage::copy_from_path`]: copies the file at `path` to the artifact's file.
    ///
    /// # Errors
    ///
    /// As [`Storage::copy_from_path`], and [`Error::BlockingTask`].
    pub async fn copy_from_path(
        &self,
        artifact: &mut Artifact,
        path: impl Into<PathBuf>,
    ) -> Result<(), Error> {
        let path = path.into();
        self.update("copy_from_path", artifact, move |storage, artifact| {
            storage.copy_from_path(artifact, &path)
        })
        .await
    }

    /// [`Storage::atomic_write_file`]: writes what `reader` yields to the artifact's file
    /// with mode `mode`.
    ///
    /// # Errors
    ///
    /// As [`Storage::atomic_write_file`], and [`Error::BlockingTask`].
    pub async fn atomic_write_file(
        &self,
        artifact: &mut Artifact,
        reader: impl Read + Send + 'static,
        mode: u32,
    ) -> Result<(), Error> {
        self.update("atomic_write_file", artifact, move |storage, artifact| {
            storage.atomic_write_file(artifact, reader, mode)
        })
        .await
    }

    /// [`Storage::verify_artifact`]: checks the artifact's file against its digest.
    ///
    /// # Errors
    ///
    /// As [`Storage::verify_artifact`], and [`Error::BlockingTask`].
    pub async fn verify_artifact(&self, artifact: &Artifact) -> Result<(), Error> {
        let artifact = artifact.clone();
        self.run("verify_artifact", move |storage| {
            storage.verify_artifact(&artifact)
        })
        .await
    }

    /// [`Storage::artifact_exist`]: whether the artifact's path names a regular file.
    ///
    /// # Errors
    ///
    /// [`Error::BlockingTask`] only.
    pub async fn artifact_exist(&self, artifact: &Artifact) -> Result<bool, Error> {
        let artifact = artifact.clone();
        self.run("artifact_exist", move |storage| {
            Ok(storage.artifact_exist(&artifact))
        })
        .await
    }

    /// [`Storage::garbage_collect`]: deletes the old artifacts of the artifact's
    /// directory, holding the directory's lock inside the blocking task; stops at
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// As [`Storage::garbage_collect`], and [`Error::BlockingTask`].
    pub async fn garbage_collect(
        &self,
        artifact: &Artifact,
        timeout: Duration,
    ) -> Result<Vec<PathBuf>, Error> {
        let artifact = artifact.clone();
        self.run("garbage_collect", move |storage| {
            storage.garbage_collect(&artifact, timeout)
        })
        .await
    }

    /// [`Storage::remove`]: removes the artifact's file.
    ///
    /// # Errors
    ///
    /// As [`Storage::remove`], and [`Error::BlockingTask`].
    pub async fn remove(&self, artifact: &Artifact) -> Result<(), Error> {
        let artifact = artifact.clone();
        self.run("remove", move |storage| storage.remove(&artifact)).await
    }

    /// [`Storage::remove_all`]: removes the artifact's directory, returning it if it
    /// existed.
    ///
    /// # Errors
    ///
    /// As [`Storage::remove_all`], and [`Error::BlockingTask`].
    pub async fn remove_all(&self, artifact: &Artifact) -> Result<Option<PathBuf>, Error> {
        let artifact = artifact.clone();
        self.run("remove_all", move |storage| storage.remove_all(&artifact))
            .await
    }

    /// [`Storage::remove_object_storage`]: removes the storage directory of an object,
    /// returning it if it existed.
    ///
    /// # Errors
    ///
    /// As [`Storage::remove_object_storage`], and [`Error::BlockingTask`].
    pub async fn remove_object_storage(
        &self,
        kind: &str,
        object: &(impl ObjectKey + Sync),
    ) -> Result<Option<PathBuf>, Error> {
        let kind = kind.to_owned();
        let key = OwnedKey::of(object);
        self.run("remove_object_storage", move |storage| {
            storage.remove_object_storage(&kind, &key)
        })
        .await
    }

    /// [`Storage::remove_all_but_current`]: removes every file of the artifact's
    /// directory but the artifact's own and what is in use.
    ///
    /// # Errors
    ///
    /// As [`Storage::remove_all_but_current`], and [`Error::BlockingTask`].
    pub async fn remove_all_but_current(&self, artifact: &Artifact) -> Result<Vec<PathBuf>, Error> {
        let artifact = artifact.clone();
        self.run("remove_all_but_current", move |storage| {
            storage.remove_all_but_current(&artifact)
        })
        .await
    }

    /// [`Storage::lock`]: locks the artifact exclusively, waiting (on the blocking pool)
    /// as long as another holder keeps it. The guard is `Send` and may be held across
    /// `.await`s; the lock is released when it is dropped. If this future is dropped
    /// before the lock is acquired, the lock is released as soon as it is.
    ///
    /// # Errors
    ///
    /// As [`Storage::lock`], and [`Error::BlockingTask`].
    pub async fn lock(&self, artifact: &Artifact) -> Result<ArtifactLock, Error> {
        let artifact = artifact.clone();
        self.run("lock", move |storage| storage.lock(&artifact)).await
    }

    /// [`Storage::try_lock`]: locks the artifact if nobody holds it, else `None`.
    ///
    /// # Errors
    ///
    /// As [`Storage::try_lock`], and [`Error::BlockingTask`].
    pub async fn try_lock(&self, artifact: &Artifact) -> Result<Option<ArtifactLock>, Error> {
        let artifact = artifact.clone();
        self.run("try_lock", move |storage| storage.try_lock(&artifact))
            .await
    }

    /// [`Storage::copy_to_path`]: extracts the artifact, or its part under `sub_path`,
    /// to `to_path`.
    ///
    /// # Errors
    ///
    /// As [`Storage::copy_to_path`], and [`Error::BlockingTask`].
    pub async fn copy_to_path(
        &self,
        artifact: &Artifact,
        sub_path: &str,
        to_path: impl Into<PathBuf>,
    ) -> Result<(), Error> {
        let artifact = artifact.clone();
        let sub_path = sub_path.to_owned();
        let to_path = to_path.into();
        self.run("copy_to_path", move |storage| {
            storage.copy_to_path(&artifact, &sub_path, &to_path)
        })
        .await
    }

    /// [`Storage::mkdir_all`]: creates the artifact's directory.
    ///
    /// # Errors
    ///
    /// As [`Storage::mkdir_all`], and [`Error::BlockingTask`].
    pub async fn mkdir_all(&self, artifact: &Artifact) -> Result<(), Error> {
        let artifact = artifact.clone();
        self.run("mkdir_all", move |storage| storage.mkdir_all(&artifact))
            .await
    }
}
