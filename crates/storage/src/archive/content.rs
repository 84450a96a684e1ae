//! [`Storage::archive_content_addressed`]: one call that archives a directory or a list
//! of entries and names the file after its digest.

use std::{
    fmt, fs, io,
    path::{Path, PathBuf},
    sync::Arc,
    time::Instant,
};

use super::{ArchiveEntries, ArchiveFilter, EntryFilter, Tree, check_dir};
use crate::{
    Artifact, ArtifactLock, Error, ObjectKey, Storage,
    lock::{DirLock, lock_shared},
    path::{object_dir, secure_join},
    write::{ARTIFACT_FILE_MODE, StagedFile, whole_seconds},
};

/// What [`Storage::archive_content_addressed`] archives: a directory to walk, or an
/// [`ArchiveEntries`] list, each with an optional filter.
///
/// Both give the same bytes for the same tree: a list archives exactly as the directory
/// it describes would. The source owns what it holds (filters are shared behind an
/// `Arc`), so it can be moved to another thread, as
/// `AsyncStorage` (feature `tokio`) does.
///
/// ```
/// use flux_artifact_storage::{ArchiveEntries, ArchiveSource, source_ignore_filter};
///
/// // A directory, with Flux's default .sourceignore rules.
/// let from_dir = ArchiveSource::dir_with_filter("./manifests", source_ignore_filter(Vec::new(), &[]));
///
/// // A list of entries, with a closure as filter.
/// let mut entries = ArchiveEntries::new();
/// entries.add_bytes("values.yaml", b"replicas: 2\n".to_vec())?;
/// let from_list = ArchiveSource::entries_with_filter(entries, |path: &std::path::Path, _is_dir: bool| {
///     path.extension().is_some_and(|e| e == "md")
/// });
/// # let _ = (from_dir, from_list);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ArchiveSource {
    kind: SourceKind,
}

#[derive(Clone)]
enum SourceKind {
    Dir {
        path: PathBuf,
        filter: Option<Arc<dyn ArchiveFilter + Send + Sync>>,
    },
    Entries {
        entries: ArchiveEntries,
        filter: Option<Arc<dyn EntryFilter + Send + Sync>>,
    },
}

impl fmt::Debug for ArchiveSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            SourceKind::Dir { path, filter } => f
                .debug_struct("ArchiveSource::Dir")
                .field("path", path)
                .field("filtered", &filter.is_some())
                .finish(),
            SourceKind::Entries { entries, filter } => f
                .debug_struct("ArchiveSource::Entries")
                .field("entries", &entries.len())
                .field("filtered", &filter.is_some())
                .finish(),
        }
    }
}

impl ArchiveSource {
    /// The directory at `path`, walked as [`Storage::archive`] walks it, unfiltered.
    #[must_use]
    pub fn dir(path: impl Into<PathBuf>) -> Self {
        ArchiveSource {
            kind: SourceKind::Dir {
                path: path.into(),
                filter: None,
            },
        }
    }

    /// The directory at `path`, leaving out what `filter` excludes, exactly as
    /// [`Storage::archive`] does.
    #[must_use]
    pub fn dir_with_filter(
        path: impl Into<PathBuf>,
        filter: impl ArchiveFilter + Send + Sync + 'static,
    ) -> Self {
        ArchiveSource {
            kind: SourceKind::Dir {
                path: path.into(),
                filter: Some(Arc::new(filter)),
            },
        }
    }

    /// The entries of `entries`, unfiltered.
    #[must_use]
    pub fn entries(entries: ArchiveEntries) -> Self {
        ArchiveSource {
            kind: SourceKind::Entries {
                entries,
                filter: None,
            },
        }
    }

    /// The entries of `entries`, leaving out what `filter` excludes; see
    /// [`EntryFilter`] for what it is asked.
    #[must_use]
    pub fn entries_with_filter(
        entries: ArchiveEntries,
        filter: impl EntryFilter + Send + Sync + 'static,
    ) -> Self {
        ArchiveSource {
            kind: SourceKind::Entries {
                entries,
                filter: Some(Arc::new(filter)),
            },
        }
    }

    fn tree(&self) -> Tree<'_> {
        match &self.kind {
            SourceKind::Dir { path, filter } => Tree::Dir {
                dir: path,
                filter: filter.as_deref().map(|f| f as &dyn ArchiveFilter),
            },
            SourceKind::Entries { entries, filter } => Tree::Entries {
                entries,
                filter: filter.as_deref().map(|f| f as &dyn EntryFilter),
            },
        }
    }

    fn dir_path(&self) -> Option<&Path> {
        match &self.kind {
            SourceKind::Dir { path, .. } => Some(path),
            SourceKind::Entries { .. } => None,
        }
    }
}

/// The result of [`Storage::archive_content_addressed`]: the artifact, whether its file
/// is new, and a shared lock on that file.
///
/// Until this value is dropped, garbage collection and
/// [`remove_all_but_current`](Storage::remove_all_but_current), in this process or
/// another, leave the file alone: keep it until the artifact is published, so that a
/// file found already stored (and maybe old enough to be garbage for a collector that
/// does not know it is about to become current) cannot be deleted in between. Do not
/// take [`Storage::lock`] on the same artifact while holding it: that exclusive lock
/// waits for this shared one.
#[derive(Debug)]
#[must_use = "the artifact is what to publish; dropping this also releases the file's protection from garbage collection"]
pub struct StoredArchive {
    /// The artifact: `path` `<lowercase kind>/<namespace>/<name>/<hex digest>.tar.gz`,
    /// `url`, `digest`, `size`, `last_update_time` (the file's modification time, whole
    /// seconds) and `revision` `latest@<digest>` (change it to the content's own
    /// revision, such as a commit, if there is one).
    pub artifact: Artifact,
    /// Whether this call wrote the file. False when a file with this digest was already
    /// stored, in which case it was kept as it was, modification time included, so the
    /// artifact equals the one returned when it was written.
    pub written: bool,
    /// Keeps garbage collection off the file.
    _protection: ArtifactLock,
}

impl StoredArchive {
    /// The artifact, releasing the file's protection from garbage collection.
    #[must_use]
    pub fn into_artifact(self) -> Artifact {
        self.artifact
    }
}

impl Storage {
    /// Archives `source` as a reproducible `.tar.gz` named after its digest,
    /// `<lowercase kind>/<namespace>/<name>/<hex digest>.tar.gz`, and returns the
    /// [`Artifact`] to publish. This is the archive call a producer should use.
    ///
    /// The tarball is written as by [`archive`](Self::archive) (same bytes for the same
    /// tree, whether walked from a directory or given as [`ArchiveEntries`]) to a
    /// temporary file in the object's directory (`.archive.<random>.tmp`), then:
    ///
    /// - if no file of that name exists, it is renamed into place: the artifact's path
    ///   only ever names a complete file, and one that never changes afterwards, so a
    ///   consumer mid-download never sees it replaced;
    /// - if the file exists, the temporary file is deleted and the stored file kept as
    ///   it is, modification time included: an unchanged result changes nothing on
    ///   disk, and the artifact returned (whose `last_update_time` is the file's
    ///   modification time) equals the one published before, so publishing it again
    ///   changes nothing in the cluster either. [`StoredArchive::written`] tells the
    ///   cases apart.
    ///
    /// The previous versions stay beside the new one until
    /// [`garbage_collect`](Self::garbage_collect) removes them, after the retention
    /// TTL and beyond the retention count.
    ///
    /// # Concurrency
    ///
    /// Since the file name is only known at the end, the lock is on the object's
    /// directory: a lock file `.lock` in it, which this call takes only to decide
    /// between renaming and keeping, and to take a shared lock on the resulting file
    /// that [`StoredArchive`] holds. [`garbage_collect`](Self::garbage_collect) and
    /// [`remove_all_but_current`](Self::remove_all_but_current) hold the directory lock
    /// while they choose and delete, and skip locked files, so they never delete a file
    /// that a writer has just found stored and is about to publish. Concurrent calls for
    /// the same object are safe: with the same content, one writes and the others find
    /// its file. No lock needs to be taken around this call.
    ///
    /// The object's namespace follows the rule of [`ObjectKey`]: empty only for a
    /// [`ClusterScoped`](crate::ClusterScoped) key.
    ///
    /// # Errors
    ///
    /// [`Error::MissingNamespace`] and [`Error::InvalidPathSegment`] for the object key;
    /// for a directory source, [`Error::InvalidDir`] if it is missing, not a directory
    /// or empty, and [`Error::UnextractableName`] naming a file or directory the filter
    /// keeps whose name no consumer can extract (a backslash, say: an entry list
    /// refuses such a path when it is added); [`Error::ArchiveSource`] naming the file
    /// or directory that cannot be read, or that changed size while it was archived;
    /// [`Error::Io`] for failures to write, lock or rename. On error nothing is left
    /// behind but the object's directory, and any file stored before is unchanged.
    ///
    /// ```
    /// use flux_artifact_storage::{ArchiveEntries, ArchiveSource, Storage};
    /// # let dir = tempfile::tempdir()?;
    /// # let options = flux_artifact_config::Options { storage_path: dir.path().into(), ..Default::default() };
    /// let storage = Storage::new(&options)?;
    ///
    /// let mut entries = ArchiveEntries::new();
    /// entries.add_bytes("deploy/app.yaml", b"kind: ConfigMap\n".to_vec())?;
    /// let first = storage.archive_content_addressed("ExternalArtifact", &("apps", "podinfo"), ArchiveSource::entries(entries.clone()))?;
    /// assert!(first.written);
    /// assert_eq!(first.artifact.revision, format!("latest@{}", first.artifact.digest));
    /// let hex = first.artifact.digest.trim_start_matches("sha256:");
    /// assert_eq!(first.artifact.path, format!("externalartifact/apps/podinfo/{hex}.tar.gz"));
    ///
    /// // The same content again: nothing written, the same artifact.
    /// let again = storage.archive_content_addressed("ExternalArtifact", &("apps", "podinfo"), ArchiveSource::entries(entries))?;
    /// assert!(!again.written);
    /// assert_eq!(again.artifact, first.artifact);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn archive_content_addressed(
        &self,
        kind: &str,
        object: &impl ObjectKey,
        source: ArchiveSource,
    ) -> Result<StoredArchive, Error> {
        let relative_dir = object_dir(kind, object)?;
        let dir = self.object_dir_path(&relative_dir)?;
        if let Some(path) = source.dir_path() {
            check_dir(path)?;
        }
        let started = Instant::now();
        let mut staged = StagedFile::create_in(&dir, "archive")?;
        let written = self.write_archive(&mut staged, source.tree())?;
        // Everything slow happens before the directory lock is taken.
        staged.finish(ARTIFACT_FILE_MODE, self.fsync())?;
        let file_name = format!("{}.tar.gz", written.digest.hex());
        let target = dir.join(&file_name);

        let dir_lock = DirLock::acquire(&dir).map_err(Error::io("lock the directory", &dir))?;
        let protection = lock_shared(&target)?;
        let stored = match fs::symlink_metadata(&target) {
            // A file of another size under this name is not this content (a torn
            // write from some other tool, say): replace it.
            Ok(meta) => meta.is_file() && meta.len() == written.size,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(Error::io("inspect", &target)(e)),
        };
        if stored {
            drop(staged);
        } else if let Err(e) = staged.persist(&target, self.fsync()) {
            // No file, so nobody else can hold its lock: do not leave the lock file.
            if fs::symlink_metadata(&target).is_err() {
                drop(protection);
                let _ = fs::remove_file(crate::lock::lock_path(&target));
            }
            return Err(e);
        }
        let modified = fs::symlink_metadata(&target)
            .and_then(|m| m.modified())
            .map_err(Error::io("inspect", &target))?;
        drop(dir_lock);

        self.record_archive(started, &written, !stored);
        let mut artifact = Artifact {
            path: format!("{relative_dir}/{file_name}"),
            revision: format!("latest@{}", written.digest),
            digest: written.digest.to_string(),
            size: Some(i64::try_from(written.size).unwrap_or(i64::MAX)),
            last_update_time: Some(whole_seconds(modified)),
            ..Artifact::default()
        };
        self.set_artifact_url(&mut artifact);
        Ok(StoredArchive {
            artifact,
            written: !stored,
            _protection: protection,
        })
    }

    /// The absolute path of an object's directory (relative to the root, validated).
    pub(crate) fn object_dir_path(&self, relative_dir: &str) -> Result<PathBuf, Error> {
        let dir =
            secure_join(self.base_path(), Path::new(relative_dir)).map_err(|source| Error::ResolvePath {
                path: relative_dir.to_owned(),
                source,
            })?;
        if dir == self.base_path() || !dir.starts_with(self.base_path()) {
            return Err(Error::StorageRoot {
                op: "archive into",
                path: self.base_path().to_path_buf(),
            });
        }
        Ok(dir)
    }
}
