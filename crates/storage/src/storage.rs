//! [`Storage`]: the storage root, its settings, paths, URLs, verification and removal.

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::Duration,
};

use flux_artifact_config::Options;
use flux_artifact_digest::Algorithm;

use crate::{
    Artifact, DigestMismatch, Error, ObjectKey,
    archive::DEFAULT_COMPRESSION_LEVEL,
    lock::{DIR_LOCK_FILE, DirLock, LockProbe, lock_path, probe_lock},
    path::{check_segment, object_dir, secure_join},
    write::{create_dir_all_private, is_temp_file_name, sync_dir},
};

/// Artifact storage on the local filesystem, rooted at a directory.
///
/// The counterpart of Go's `storage.Storage`. Made from [`Options`] by [`Storage::new`];
/// cheap to clone and safe to share between threads (it holds no open files). All
/// operations are synchronous `std::fs` I/O: from async code, use the
/// `AsyncStorage` handle (feature `tokio`), which runs them on
/// tokio's blocking pool.
///
/// Every artifact path is resolved inside the root ([`local_path`](Self::local_path)),
/// so no operation reads, writes or deletes outside it, whatever the path says.
///
/// # Symlinks
///
/// Symlinks inside the root are resolved as if the root were `/` (links that lead out
/// of it are re-rooted, as Go's `securejoin` does). Where an artifact's path itself
/// names a symlink (like `latest.tar.gz` from [`symlink`](Self::symlink)), a method
/// either follows it to the file it points at, or acts on the link:
///
/// | method | on a symlinked artifact path | as in Go? |
/// |---|---|---|
/// | [`local_path`](Self::local_path) | follows: the target's path | yes |
/// | [`artifact_exist`](Self::artifact_exist) | the link: `false`, a link is not an artifact | no: Go follows a relative link and answers `true` (an absolute one is re-rooted and usually missing) |
/// | [`verify_artifact`](Self::verify_artifact), [`copy_to_path`](Self::copy_to_path) | follows: reads the target | yes |
/// | [`atomic_write_file`](Self::atomic_write_file), [`copy`](Self::copy), [`copy_from_path`](Self::copy_from_path), [`archive`](Self::archive) | follows: replaces the target's file (in the target's directory), the link stays | yes |
/// | [`lock`](Self::lock), [`try_lock`](Self::try_lock) | follows: locks `<target>.lock`, the lock its writers take | yes |
/// | [`mkdir_all`](Self::mkdir_all) | follows: the target's directory | yes |
/// | [`remove`](Self::remove) | the link: removes the link, never the target | no: Go removes the target, so removing `latest` would delete the current artifact |
/// | [`remove_all`](Self::remove_all), [`remove_all_but_current`](Self::remove_all_but_current) | follows: the target's directory, and the target is the current file | yes; links found in the directory are kept (Go too) |
/// | [`garbage_files`](Self::garbage_files), [`garbage_collect`](Self::garbage_collect) | follows: the target's directory, and the target is the current file | yes; links in the directory are never counted or deleted (Go too) |
/// | [`symlink`](Self::symlink) | follows: the new link goes beside the target and points at its file name | no: Go's link holds the target's absolute path, and its URL the path as given (with any `..`); ours is relative and its URL names where the link is |
///
/// Directories on the way to an artifact are always followed, by every method.
#[derive(Debug, Clone)]
pub struct Storage {
    base: PathBuf,
    hostname: String,
    retention_ttl: Duration,
    retention_records: usize,
    digest_algorithm: Algorithm,
    compression_level: u8,
    compression_threads: usize,
    fsync: bool,
    #[cfg(feature = "metrics")]
    metrics: Option<crate::ArchiveMetrics>,
}

impl Storage {
    /// Opens the storage at `options.storage_path` (Go: `storage.New`).
    ///
    /// The directory must exist; it is not created. Its canonical path becomes the
    /// [`base_path`](Self::base_path). The advertised address, retention settings and
    /// digest algorithm come from `options`.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if `options` fail [`Options::validate`] or the advertised
    /// address cannot be derived; [`Error::InvalidStoragePath`] if the storage path is
    /// missing or not a directory.
    pub fn new(options: &Options) -> Result<Storage, Error> {
        options.validate()?;
        let hostname = options.advertised_address()?;
        let path = &options.storage_path;
        let invalid = |reason: String| Error::InvalidStoragePath {
            path: path.clone(),
            reason,
        };
        let meta = fs::metadata(path).map_err(|e| invalid(e.to_string()))?;
        if !meta.is_dir() {
            return Err(invalid("not a directory".into()));
        }
        let base = fs::canonicalize(path).map_err(|e| invalid(e.to_string()))?;
        Ok(Storage {
            base,
            hostname,
            retention_ttl: options.artifact_retention_ttl,
            retention_records: options.artifact_retention_records,
            digest_algorithm: options.artifact_digest_algo,
            compression_level: DEFAULT_COMPRESSION_LEVEL,
            compression_threads: default_compression_threads(),
            fsync: true,
            #[cfg(feature = "metrics")]
            metrics: None,
        })
    }

    /// Sets whether writes sync the file and its directory before they return (default:
    /// on). Off trades durability across a power loss for speed; atomicity is kept.
    #[must_use]
    pub fn with_fsync(mut self, fsync: bool) -> Self {
        self.fsync = fsync;
        self
    }

    /// Sets the gzip level of [`archive`](Self::archive), 0 (stored) to 9; higher values
    /// are clamped to 9. The default, 6, is part of every artifact's identity: a
    /// different level gives different bytes, hence a different digest, for the same
    /// tree.
    #[must_use]
    pub fn with_compression_level(mut self, level: u8) -> Self {
        self.compression_level = level.min(9);
        self
    }

    /// Sets how many threads [`archive`](Self::archive) compresses on (default: the
    /// available cores, at most 4; 1 compresses on the calling thread). The archive's
    /// bytes are the same for any value: blocks are cut at fixed offsets.
    #[must_use]
    pub fn with_compression_threads(mut self, threads: usize) -> Self {
        self.compression_threads = threads.max(1);
        self
    }

    /// Sets the digest algorithm of written artifacts.
    ///
    /// # Errors
    ///
    /// [`Error::UnverifiableAlgorithm`] for sha1 and the SHA-3 variants, which Flux's
    /// consumers cannot verify.
    pub fn with_digest_algorithm(mut self, algorithm: Algorithm) -> Result<Self, Error> {
        if !algorithm.is_verifiable_by_flux() {
            return Err(Error::UnverifiableAlgorithm { algorithm });
        }
        self.digest_algorithm = algorithm;
        Ok(self)
    }

    /// The storage root (canonical).
    #[must_use]
    pub fn base_path(&self) -> &Path {
        &self.base
    }

    /// The advertised address used in artifact URLs: `host:port`, or a base URL with
    /// scheme.
    #[must_use]
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Age after which [`garbage_collect`](Self::garbage_collect) deletes an artifact
    /// other than the current one.
    #[must_use]
    pub fn retention_ttl(&self) -> Duration {
        self.retention_ttl
    }

    /// How many artifacts per directory garbage collection keeps at most.
    #[must_use]
    pub fn retention_records(&self) -> usize {
        self.retention_records
    }

    /// The algorithm of the digests this storage computes.
    #[must_use]
    pub fn digest_algorithm(&self) -> Algorithm {
        self.digest_algorithm
    }

    /// The gzip level of [`archive`](Self::archive).
    #[must_use]
    pub fn compression_level(&self) -> u8 {
        self.compression_level
    }

    /// How many threads [`archive`](Self::archive) compresses on.
    #[must_use]
    pub fn compression_threads(&self) -> usize {
        self.compression_threads
    }

    /// Whether writes are synced to disk before they return.
    #[must_use]
    pub fn fsync(&self) -> bool {
        self.fsync
    }

    /// Counts every archive ([`archive`](Self::archive) and
    /// [`archive_content_addressed`](Self::archive_content_addressed)) in `metrics`:
    /// duration, bytes in and out, written or found stored. Clones of the storage made
    /// afterwards count into the same metrics.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn with_metrics(mut self, metrics: crate::ArchiveMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// The metrics archives are counted in, if any.
    #[cfg(feature = "metrics")]
    #[must_use]
    pub fn metrics(&self) -> Option<&crate::ArchiveMetrics> {
        self.metrics.as_ref()
    }

    /// A new artifact for an object: `path` from [`artifact_path`](crate::artifact_path),
    /// `revision`, and the `url` from the advertised address (Go: `NewArtifactFor`). The
    /// digest, size and time are set when the file is written.
    ///
    /// For an archive, prefer
    /// [`archive_content_addressed`](Self::archive_content_addressed), which makes the
    /// artifact itself, named after its digest.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPathSegment`] if the kind, namespace, name or file name would not
    /// be a single path component, and [`Error::MissingNamespace`] for an empty
    /// namespace, unless the key is [`ClusterScoped`](crate::ClusterScoped) (Go takes an
    /// empty namespace as cluster-scoped, silently).
    ///
    /// ```
    /// # use flux_artifact_storage::Storage;
    /// # let dir = tempfile::tempdir()?;
    /// # let options = flux_artifact_config::Options { storage_path: dir.path().into(), ..Default::default() };
    /// let storage = Storage::new(&options)?;
    /// let artifact = storage.new_artifact_for(
    ///     "GitRepository",
    ///     &("test-namespace", "test-resource"),
    ///     "main@sha1:abcd1234",
    ///     "source.tar.gz",
    /// )?;
    /// assert_eq!(artifact.path, "gitrepository/test-namespace/test-resource/source.tar.gz");
    /// assert_eq!(
    ///     artifact.url,
    ///     "http://localhost:9090/gitrepository/test-namespace/test-resource/source.tar.gz"
    /// );
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new_artifact_for(
        &self,
        kind: &str,
        object: &impl ObjectKey,
        revision: &str,
        file_name: &str,
    ) -> Result<Artifact, Error> {
        check_segment("file name", file_name)?;
        let dir = object_dir(kind, object)?;
        let mut artifact = Artifact {
            path: format!("{dir}/{file_name}"),
            revision: revision.to_owned(),
            ..Artifact::default()
        };
        self.set_artifact_url(&mut artifact);
        Ok(artifact)
    }

    /// Sets the artifact's `url` from its `path` and the advertised address (Go:
    /// `SetArtifactURL`): `http://<address>/<path>`, or `<address>/<path>` when the
    /// address already is a URL with `http://` or `https://`. Leading slashes of the
    /// path and trailing slashes of the address are dropped. An empty path leaves the
    /// URL unchanged.
    pub fn set_artifact_url(&self, artifact: &mut Artifact) {
        if artifact.path.is_empty() {
            return;
        }
        artifact.url = self.url_for(&artifact.path);
    }

    /// The URL of a storage-relative path.
    pub(crate) fn url_for(&self, path: &str) -> String {
        let path = path.trim_start_matches('/');
        let host = self.hostname.trim_end_matches('/');
        if host.starts_with("http://") || host.starts_with("https://") {
            format!("{host}/{path}")
        } else {
            format!("http://{host}/{path}")
        }
    }

    /// Replaces the scheme and host of `url` with the advertised address, keeping its
    /// path and query (Go: `SetHostname`, which returns `""` on error and ignores a
    /// scheme in the address).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidUrl`] if `url` is not absolute (`scheme://host/…`).
    pub fn set_hostname(&self, url: &str) -> Result<String, Error> {
        let invalid = |reason| Error::InvalidUrl {
            url: url.to_owned(),
            reason,
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| invalid("missing scheme"))?;
        if scheme.is_empty()
            || !scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        {
            return Err(invalid("invalid scheme"));
        }
        let path_start = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if path_start == 0 {
            return Err(invalid("missing host"));
        }
        let tail = &rest[path_start..];
        let host = self.hostname.trim_end_matches('/');
        if host.starts_with("http://") || host.starts_with("https://") {
            Ok(format!("{host}{tail}"))
        } else {
            Ok(format!("{scheme}://{host}{tail}"))
        }
    }

    /// The artifact's file on the local filesystem, inside the storage root (Go:
    /// `LocalPath`); `None` for an empty path or one that cannot be resolved (a symlink
    /// loop).
    ///
    /// Resolution follows Go's `securejoin`: `..` stops at the root, an absolute path is
    /// taken as relative to the root, and symlinks inside the root are resolved as if
    /// the root were `/`, so `../../etc/passwd` is `<root>/etc/passwd`.
    #[must_use]
    pub fn local_path(&self, artifact: &Artifact) -> Option<PathBuf> {
        self.resolve(artifact).ok()
    }

    /// [`local_path`](Self::local_path) with the reason when there is none. A path that
    /// resolves to the storage root itself names no artifact.
    pub(crate) fn resolve(&self, artifact: &Artifact) -> Result<PathBuf, Error> {
        if artifact.path.is_empty() {
            return Err(Error::EmptyPath);
        }
        let path =
            secure_join(&self.base, Path::new(&artifact.path)).map_err(|source| Error::ResolvePath {
                path: artifact.path.clone(),
                source,
            })?;
        if path == self.base {
            return Err(Error::StorageRoot { op: "address", path });
        }
        Ok(path)
    }

    /// The artifact's path with its directories resolved but its last component taken
    /// as it is, for operations on the entry itself (`lstat` semantics): a symlink
    /// there is a symlink, not the file it points to.
    fn resolve_entry(&self, artifact: &Artifact) -> Result<PathBuf, Error> {
        let path = Path::new(&artifact.path);
        match (path.parent(), path.file_name()) {
            (Some(parent), Some(name)) => {
                let dir = secure_join(&self.base, parent).map_err(|source| Error::ResolvePath {
                    path: artifact.path.clone(),
                    source,
                })?;
                Ok(dir.join(name))
            }
            _ => self.resolve(artifact),
        }
    }

    /// The directory of the artifact's file.
    pub(crate) fn resolve_dir(&self, artifact: &Artifact) -> Result<PathBuf, Error> {
        let path = self.resolve(artifact)?;
        Ok(path.parent().unwrap_or(&self.base).to_path_buf())
    }

    /// The directory of the artifact's file, for an operation that removes its content:
    /// refused when it is the storage root, which would wipe every artifact (or, for
    /// garbage collection, take other objects' files for garbage).
    pub(crate) fn resolve_dir_below_root(
        &self,
        artifact: &Artifact,
        op: &'static str,
    ) -> Result<PathBuf, Error> {
        let dir = self.resolve_dir(artifact)?;
        if dir == self.base || !dir.starts_with(&self.base) {
            return Err(Error::StorageRoot {
                op,
                path: self.base.clone(),
            });
        }
        Ok(dir)
    }

    /// Whether the artifact's path names a regular file (Go: `ArtifactExist`). A
    /// symlink, even to a file, does not count.
    #[must_use]
    pub fn artifact_exist(&self, artifact: &Artifact) -> bool {
        self.resolve_entry(artifact)
            .ok()
            .and_then(|path| fs::symlink_metadata(path).ok())
            .is_some_and(|meta| meta.file_type().is_file())
    }

    /// Checks the artifact's file against its digest (Go: `VerifyArtifact`).
    ///
    /// # Errors
    ///
    /// In the order checked: [`Error::NoDigest`], [`Error::InvalidDigest`],
    /// [`Error::NotFound`] (or [`Error::Io`] if the file cannot be read), and
    /// [`Error::DigestMismatch`] with both digests.
    pub fn verify_artifact(&self, artifact: &Artifact) -> Result<(), Error> {
        if artifact.digest.is_empty() {
            return Err(Error::NoDigest {
                path: artifact.path.clone(),
            });
        }
        let expected = artifact.parsed_digest().map_err(|source| Error::InvalidDigest {
            digest: artifact.digest.clone(),
            source,
        })?;
        let path = self.resolve(artifact)?;
        let file = fs::File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path: path.clone() },
            _ => Error::Io {
                op: "open",
                path: path.clone(),
                source: e,
            },
        })?;
        let actual = expected
            .algorithm()
            .digest_reader(file)
            .map_err(Error::io("read", &path))?;
        if actual != expected {
            return Err(Error::DigestMismatch(Box::new(DigestMismatch {
                path,
                expected,
                actual,
            })));
        }
        Ok(())
    }

    /// Creates the artifact's directory and its parents with mode 0700 (Go:
    /// `MkdirAll`). Writes create it too, so this is only needed before
    /// [`lock`](Self::lock) on a new directory or for files written by other means.
    ///
    /// # Errors
    ///
    /// Path errors, and [`Error::Io`] if a directory cannot be created.
    pub fn mkdir_all(&self, artifact: &Artifact) -> Result<(), Error> {
        let dir = self.resolve_dir(artifact)?;
        create_dir_all_private(&dir)
    }

    /// Removes the artifact's file (Go: `Remove`). If the path names a symlink, the
    /// symlink is removed, not the file it points to (Go removes the target).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if there is no such file, [`Error::Io`] if it cannot be
    /// removed, and path errors.
    pub fn remove(&self, artifact: &Artifact) -> Result<(), Error> {
        let path = self.resolve_entry(artifact)?;
        fs::remove_file(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path },
            _ => Error::Io {
                op: "remove",
                path,
                source: e,
            },
        })
    }

    /// Removes the artifact's directory and everything in it (Go: `RemoveAll`),
    /// returning the directory if it existed; a missing directory is not an error.
    ///
    /// # Errors
    ///
    /// [`Error::StorageRoot`] if the artifact's directory would be the storage root
    /// (a path without a directory part), [`Error::Io`] if removal fails, and path
    /// errors.
    pub fn remove_all(&self, artifact: &Artifact) -> Result<Option<PathBuf>, Error> {
        let dir = self.resolve_dir_below_root(artifact, "remove")?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(Some(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                op: "remove the directory",
                path: dir,
                source: e,
            }),
        }
    }

    /// Removes the storage directory of an object, `<lowercase kind>/<namespace>/<name>`
    /// with everything in it, returning the directory if it existed. This is the cleanup
    /// a producer owes when the object its artifacts were made for is deleted: the owner
    /// reference deletes the `ExternalArtifact`, not the files.
    ///
    /// Only namespaced objects are accepted: in the Go SDK's layout a cluster-scoped
    /// object's directory is `<kind>/<name>`, which is also where the artifacts of every
    /// object in the namespace of that name live, so removing it could wipe unrelated
    /// artifacts.
    ///
    /// Call it once the object is gone and nothing reconciles it any more: a write into
    /// the directory at the same time may fail, or recreate the directory after it.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPathSegment`] if the kind, namespace or name is `.`, `..`, or
    /// contains `/`, `\` or NUL, or the key is [`ClusterScoped`](crate::ClusterScoped)
    /// (for the reason above); [`Error::MissingNamespace`] for an empty namespace;
    /// [`Error::Io`] if removal fails.
    ///
    /// ```
    /// # use flux_artifact_storage::Storage;
    /// # let dir = tempfile::tempdir()?;
    /// # let options = flux_artifact_config::Options { storage_path: dir.path().into(), ..Default::default() };
    /// let storage = Storage::new(&options)?;
    /// let mut artifact = storage.new_artifact_for("ExternalArtifact", &("apps", "podinfo"), "v1", "a.tar.gz")?;
    /// storage.copy(&mut artifact, &b"content"[..])?;
    ///
    /// let removed = storage.remove_object_storage("ExternalArtifact", &("apps", "podinfo"))?;
    /// assert_eq!(removed, Some(dir.path().canonicalize()?.join("externalartifact/apps/podinfo")));
    /// assert!(!storage.artifact_exist(&artifact));
    /// assert_eq!(storage.remove_object_storage("ExternalArtifact", &("apps", "podinfo"))?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn remove_object_storage(
        &self,
        kind: &str,
        object: &impl ObjectKey,
    ) -> Result<Option<PathBuf>, Error> {
        if object.is_cluster_scoped() {
            return Err(Error::InvalidPathSegment {
                segment: "namespace",
                value: String::new(),
                reason: "must not be empty: a cluster-scoped object's directory <kind>/<name> \
                         is also the directory of a namespace's artifacts",
            });
        }
        let relative = object_dir(kind, object)?;
        let dir = secure_join(&self.base, Path::new(&relative)).map_err(|source| Error::ResolvePath {
            path: relative.clone(),
            source,
        })?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(Some(dir)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::Io {
                op: "remove the directory",
                path: dir,
                source: e,
            }),
        }
    }

    /// Removes every file in the artifact's directory tree except the artifact's own
    /// file and its `.lock`, keeping directories and symlinks (Go:
    /// `RemoveAllButCurrent`, which also deletes the current lock file and so breaks
    /// the lock of whoever holds it). Returns the removed files in walk order.
    ///
    /// Unlike Go, files somebody is using are kept too: a locked temporary file (a write
    /// in progress), a file whose `.lock` is held (by [`lock`](Self::lock), or by a
    /// [`StoredArchive`](crate::StoredArchive) about to be published) and a held
    /// `.lock` itself, and the directory lock file `.lock` of
    /// [`archive_content_addressed`](Self::archive_content_addressed), whose directory
    /// lock is held meanwhile.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the directory cannot be read (a missing directory included), and
    /// [`Error::RemoveFailed`] listing what was and was not removed if some removals
    /// fail.
    pub fn remove_all_but_current(&self, artifact: &Artifact) -> Result<Vec<PathBuf>, Error> {
        let current = self.resolve(artifact)?;
        let dir = self.resolve_dir_below_root(artifact, "clean")?;
        let current_lock = lock_path(&current);
        let _dir_lock = match DirLock::acquire(&dir) {
            Ok(lock) => lock,
            Err(e) => {
                let op = if e.kind() == io::ErrorKind::NotFound {
                    "read"
                } else {
                    "lock the directory"
                };
                return Err(Error::Io {
                    op,
                    path: dir,
                    source: e,
                });
            }
        };
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        let walker = walkdir::WalkDir::new(&dir).sort_by_file_name();
        for entry in walker {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(&dir).to_path_buf();
                Error::Io {
                    op: "read",
                    path,
                    source: e.into(),
                }
            })?;
            let kind = entry.file_type();
            if kind.is_dir()
                || kind.is_symlink()
                || entry.path() == current
                || entry.path() == current_lock
                || entry.file_name() == DIR_LOCK_FILE
                || in_use(entry.path())
            {
                continue;
            }
            match fs::remove_file(entry.path()) {
                Ok(()) => deleted.push(entry.into_path()),
                Err(e) => failed.push((entry.into_path(), e)),
            }
        }
        if failed.is_empty() {
            Ok(deleted)
        } else {
            Err(Error::RemoveFailed { deleted, failed })
        }
    }

    /// Points a symlink named `link_name` in the artifact's directory at the artifact's
    /// file, replacing any previous link atomically, and returns the link's URL (Go:
    /// `Symlink`). The link is relative (the file's name), so it stays valid if the
    /// storage root moves; the URL follows the same rule as
    /// [`set_artifact_url`](Self::set_artifact_url), with the link's resolved path
    /// inside the root: `../../k/ns/n/a.tar.gz` gives `…/k/ns/n/<link_name>`, never a
    /// URL with `..` in it (Go builds it from the path as given).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPathSegment`] if `link_name` is not a plain file name,
    /// [`Error::Io`] if the link cannot be made, and path errors.
    pub fn symlink(&self, artifact: &Artifact, link_name: &str) -> Result<String, Error> {
        check_segment("link name", link_name)?;
        let target = self.resolve(artifact)?;
        let dir = self.resolve_dir(artifact)?;
        let file_name = target.file_name().ok_or(Error::EmptyPath)?;
        let link = dir.join(link_name);
        let staging = dir.join(format!(".{link_name}.link.tmp"));
        match fs::remove_file(&staging) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::Io {
                    op: "remove",
                    path: staging,
                    source: e,
                });
            }
        }
        make_symlink(Path::new(file_name), &staging)?;
        fs::rename(&staging, &link).map_err(Error::io("rename a symlink to", &link))?;
        if self.fsync {
            sync_dir(&dir)?;
        }
        Ok(self.url_for(&self.url_path(artifact, &link)?))
    }

    /// The storage-relative, `/`-separated form of a resolved path inside the root, for
    /// URLs: built from where a file is, not from what an artifact path says (which may
    /// hold `..` or symlinked directories).
    fn url_path(&self, artifact: &Artifact, resolved: &Path) -> Result<String, Error> {
        let not_in_root = |reason: &str| Error::ResolvePath {
            path: artifact.path.clone(),
            source: io::Error::new(io::ErrorKind::InvalidData, reason.to_owned()),
        };
        let relative = resolved
            .strip_prefix(&self.base)
            .map_err(|_| not_in_root("resolves outside the storage root"))?;
        let parts: Option<Vec<&str>> = relative.iter().map(|part| part.to_str()).collect();
        Ok(parts
            .ok_or_else(|| not_in_root("resolves to a path that is not UTF-8"))?
            .join("/"))
    }
}

/// Whether a file is held by somebody: a lock file that is locked, a temporary file
/// whose writer holds it, or a file whose `.lock` is locked. An unreadable lock counts
/// as held: when in doubt, keep.
fn in_use(path: &Path) -> bool {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let probed = if name.ends_with(".lock") || is_temp_file_name(&name) {
        probe_lock(path)
    } else {
        probe_lock(&lock_path(path))
    };
    !matches!(probed, Ok(LockProbe::Absent | LockProbe::Acquired(_)))
}

/// The available cores (which honours cgroup CPU quotas), at most 4: past that,
/// compression outruns reading and hashing, and each worker costs memory.
fn default_compression_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

#[cfg(unix)]
fn make_symlink(target: &Path, link: &Path) -> Result<(), Error> {
    std::os::unix::fs::symlink(target, link).map_err(Error::io("create the symlink", link))
}

#[cfg(windows)]
fn make_symlink(target: &Path, link: &Path) -> Result<(), Error> {
    std::os::windows::fs::symlink_file(target, link).map_err(Error::io("create the symlink", link))
}
