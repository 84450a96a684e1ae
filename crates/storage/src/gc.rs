//! Garbage collection of old artifacts: [`Storage::garbage_files`] and
//! [`Storage::garbage_collect`].

use std::{
    fs, io,
    path::{Path, PathBuf},
    time::{Duration, Instant, SystemTime},
};

use crate::{
    Artifact, Error, Storage,
    lock::{DirLock, LockProbe, lock_path, probe_lock},
    write::is_temp_file_name,
};

/// How many artifact files one collection considers at most (Go: `GarbageCountLimit`),
/// so that a directory flooded with files cannot stall a reconcile. The files beyond it
/// (in name order) wait for the next collection.
pub const GARBAGE_COUNT_LIMIT: usize = 1000;

/// A temporary file untouched this long, and not locked by a writer, is the leftover
/// of a crashed write. The age check covers the moment between a writer creating its
/// file and locking it.
const TEMP_FILE_GRACE: Duration = Duration::from_secs(60);

/// The operation named in [`Error::StorageRoot`] when a collection is refused.
const COLLECT_OP: &str = "collect garbage in";

/// What a collection would delete.
struct Plan {
    dir: PathBuf,
    /// Artifact files, expired ones first, then the oldest over the retention count.
    artifacts: Vec<PathBuf>,
    /// Temporary files of writes that did not finish.
    abandoned: Vec<PathBuf>,
}

/// An artifact file and its age.
struct Candidate {
    path: PathBuf,
    modified: SystemTime,
}

impl Storage {
    /// The files of the artifact's directory that garbage collection would delete (Go:
    /// `GetGarbageFiles`):
    ///
    /// 1. every artifact file other than the current one whose last modification is
    ///    more than `ttl` ago;
    /// 2. then the oldest others, until at most `max_retained` artifact files (the
    ///    current one included) remain;
    /// 3. then the temporary files of writes that crashed (unlocked and older than a
    ///    minute).
    ///
    /// Artifact files are the regular files directly in the directory, except `.lock`
    /// files and temporary files; symlinks and subdirectories are never touched. Age
    /// is the modification time, ties broken by path, so equal times cannot make a
    /// file escape collection (they do in Go). At most `total_count_limit` files are
    /// considered, the first in name order.
    ///
    /// The current artifact is never garbage. If its file does not exist, as when a
    /// caller addresses the directory with a placeholder name like `*`, the newest file
    /// is taken as current instead, so a collection never empties a directory.
    ///
    /// A missing directory has no garbage. The storage root is no object's directory:
    /// an artifact path without a directory part (`a.tar.gz`, or `../a.tar.gz`, which
    /// resolves to the same file) is refused rather than collected in the root, where
    /// it would take other objects' files for garbage (Go collects there).
    ///
    /// # Errors
    ///
    /// [`Error::StorageRoot`] naming the root if the artifact's directory is the
    /// storage root; other path errors; and [`Error::Io`] if the directory or a file's
    /// metadata cannot be read.
    pub fn garbage_files(
        &self,
        artifact: &Artifact,
        total_count_limit: usize,
        max_retained: usize,
        ttl: Duration,
    ) -> Result<Vec<PathBuf>, Error> {
        let plan = self.plan_collection(artifact, total_count_limit, max_retained, ttl)?;
        Ok(plan.artifacts.into_iter().chain(plan.abandoned).collect())
    }

    /// Deletes the [`garbage_files`](Self::garbage_files) of the artifact's directory,
    /// with the storage's retention TTL and record count and a limit of
    /// [`GARBAGE_COUNT_LIMIT`] files, and returns the deleted files (Go:
    /// `GarbageCollect`).
    ///
    /// The `.lock` file of a deleted artifact goes with it. An artifact whose lock is
    /// held is left alone until a later collection: somebody is using it, such as a
    /// [`StoredArchive`](crate::StoredArchive) not yet published.
    ///
    /// The collection holds the lock of the directory (its `.lock` file) from choosing
    /// the files to deleting them, the lock
    /// [`archive_content_addressed`](Self::archive_content_addressed) takes to decide
    /// whether its result is already stored and to protect it. So a file that a writer
    /// has just found stored, however old, cannot be deleted before the writer has
    /// published it: either the collection ran first, and the writer writes the file
    /// anew, or the writer's protection is in place, and the collection skips the file.
    ///
    /// Runs on the calling thread and stops at `timeout`: when it returns, it has
    /// stopped deleting (the Go version deletes on in the background after its timeout).
    ///
    /// # Errors
    ///
    /// [`Error::StorageRoot`] naming the root, before anything is locked or deleted,
    /// if the artifact's directory is the storage root; [`Error::GcTimeout`] with the
    /// files deleted so far if the deadline passes; [`Error::RemoveFailed`] if some
    /// files could not be deleted; and the errors of
    /// [`garbage_files`](Self::garbage_files).
    pub fn garbage_collect(&self, artifact: &Artifact, timeout: Duration) -> Result<Vec<PathBuf>, Error> {
        let deadline = Instant::now().checked_add(timeout);
        let dir = self.resolve_dir_below_root(artifact, COLLECT_OP)?;
        let _dir_lock = match DirLock::acquire(&dir) {
            Ok(lock) => lock,
            // A missing directory has no garbage.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => {
                return Err(Error::Io {
                    op: "lock the directory",
                    path: dir,
                    source: e,
                });
            }
        };
        let plan = self.plan_collection(
            artifact,
            GARBAGE_COUNT_LIMIT,
            self.retention_records(),
            self.retention_ttl(),
        )?;
        let mut deleted = Vec::new();
        let mut failed = Vec::new();
        let timed_out = || deadline.is_some_and(|d| Instant::now() >= d);
        for path in plan.artifacts {
            if timed_out() {
                return Err(Error::GcTimeout {
                    dir: plan.dir,
                    timeout,
                    deleted,
                });
            }
            match remove_with_lock(&path) {
                Ok(true) => deleted.push(path),
                Ok(false) => {} // In use: next time.
                Err(e) => failed.push((path, e)),
            }
        }
        for path in plan.abandoned {
            if timed_out() {
                return Err(Error::GcTimeout {
                    dir: plan.dir,
                    timeout,
                    deleted,
                });
            }
            match fs::remove_file(&path) {
                Ok(()) => deleted.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => failed.push((path, e)),
            }
        }
        if failed.is_empty() {
            Ok(deleted)
        } else {
            Err(Error::RemoveFailed { deleted, failed })
        }
    }

    fn plan_collection(
        &self,
        artifact: &Artifact,
        limit: usize,
        max_retained: usize,
        ttl: Duration,
    ) -> Result<Plan, Error> {
        let current = self.resolve(artifact)?;
        let dir = self.resolve_dir_below_root(artifact, COLLECT_OP)?;
        let read_error = Error::io("read the directory", &dir);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Plan {
                    dir,
                    artifacts: Vec::new(),
                    abandoned: Vec::new(),
                });
            }
            Err(e) => return Err(read_error(e)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(Error::io("read the directory", &dir))?;
            let kind = entry.file_type().map_err(Error::io("inspect", &entry.path()))?;
            if kind.is_file() {
                names.push(entry.file_name());
            }
        }
        names.sort();

        let now = SystemTime::now();
        let mut candidates = Vec::new();
        let mut abandoned = Vec::new();
        for name in names {
            let text = name.to_string_lossy();
            let path = dir.join(&name);
            if text.ends_with(".lock") {
                continue;
            }
            if is_temp_file_name(&text) {
                if is_abandoned(&path, now) {
                    abandoned.push(path);
                }
                continue;
            }
            if candidates.len() >= limit {
                continue;
            }
            match fs::symlink_metadata(&path).and_then(|m| m.modified()) {
                Ok(modified) => candidates.push(Candidate { path, modified }),
                // Deleted meanwhile: not ours to collect any more.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(Error::Io {
                        op: "inspect",
                        path,
                        source: e,
                    });
                }
            }
        }
        // Oldest first, ties by path: a total order, so equal mtimes cannot collide.
        candidates.sort_by(|a, b| a.modified.cmp(&b.modified).then_with(|| a.path.cmp(&b.path)));

        let keep = if fs::symlink_metadata(&current).is_ok_and(|m| m.file_type().is_file()) {
            Some(current)
        } else {
            candidates.last().map(|newest| newest.path.clone())
        };
        // The kept file remains whether or not it was among the files considered.
        let keep_beyond_limit = keep
            .as_ref()
            .is_some_and(|k| !candidates.iter().any(|c| &c.path == k));
        let (expired, fresh): (Vec<&Candidate>, Vec<&Candidate>) = candidates
            .iter()
            .filter(|c| Some(&c.path) != keep.as_ref())
            .partition(|c| now.duration_since(c.modified).is_ok_and(|age| age > ttl));
        let mut remaining = candidates.len() + usize::from(keep_beyond_limit) - expired.len();
        let mut garbage: Vec<PathBuf> = expired.iter().map(|c| c.path.clone()).collect();
        // Each collection lowers the count once (Go counts expired files twice here and
        // keeps too many).
        for candidate in fresh {
            if remaining <= max_retained {
                break;
            }
            garbage.push(candidate.path.clone());
            remaining -= 1;
        }
        Ok(Plan {
            dir,
            artifacts: garbage,
            abandoned,
        })
    }
}

/// A temporary file whose writer is gone: old enough, and its lock free.
fn is_abandoned(path: &Path, now: SystemTime) -> bool {
    let old_enough = fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .is_ok_and(|modified| {
            now.duration_since(modified)
                .is_ok_and(|age| age > TEMP_FILE_GRACE)
        });
    old_enough && matches!(probe_lock(path), Ok(LockProbe::Acquired(_)))
}

/// Removes an artifact file and its lock file, unless someone holds the lock.
/// `Ok(false)` means it was left alone (in use, or already gone).
fn remove_with_lock(path: &Path) -> io::Result<bool> {
    let lock_file = lock_path(path);
    let guard = match probe_lock(&lock_file)? {
        LockProbe::Held => return Ok(false),
        LockProbe::Absent => None,
        LockProbe::Acquired(file) => Some(file),
    };
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e),
    }
    if guard.is_some() {
        match fs::remove_file(&lock_file) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}
