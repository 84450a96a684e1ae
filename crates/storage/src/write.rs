//! Atomic writes: every artifact file is written to a locked temporary file in its own
//! directory and renamed into place, so its final path only ever holds a complete file.

use std::{
    fs::{self, File},
    io::{self, Read, Write},
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use flux_artifact_digest::{Digest, Digester};
use tempfile::NamedTempFile;

use crate::{Artifact, Error, Storage};

/// Suffix of the temporary files of in-progress writes; together with a leading `.` it
/// marks names that are never artifacts (see [`is_temp_file_name`]).
const TEMP_SUFFIX: &str = ".tmp";

/// Whether a file name is that of an in-progress (or abandoned) write: a leading `.`
/// and a `.tmp` suffix, like `.app.tar.gz.Xq3b9z.tmp`.
///
/// Such files are never counted as artifacts by garbage collection, which removes them
/// once their writer is gone, and an artifact server should not serve them. Artifact file
/// names of this form are therefore reserved.
#[must_use]
pub fn is_temp_file_name(name: &str) -> bool {
    name.len() > 1 + TEMP_SUFFIX.len() && name.starts_with('.') && name.ends_with(TEMP_SUFFIX)
}

/// A temporary file beside an artifact's final path. Dropping it removes it; only
/// [`commit`](Self::commit) makes it the artifact.
pub(crate) struct StagedFile {
    temp: NamedTempFile,
}

impl StagedFile {
    /// Creates the temporary file for `target` beside it (and the artifact directory,
    /// mode 0700, if missing).
    pub(crate) fn create(target: &Path) -> Result<Self, Error> {
        let dir = target.parent().ok_or_else(|| Error::Io {
            op: "find the directory of",
            path: target.to_path_buf(),
            source: io::ErrorKind::InvalidInput.into(),
        })?;
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::create_in(dir, &name)
    }

    /// Creates a temporary file named `.<stem>.<random>.tmp` in `dir` (created, mode
    /// 0700, if missing) and locks it, so that garbage collection can tell a live write
    /// from the leftover of a crashed one.
    pub(crate) fn create_in(dir: &Path, stem: &str) -> Result<Self, Error> {
        create_dir_all_private(dir)?;
        let temp = tempfile::Builder::new()
            .prefix(&format!(".{stem}."))
            .suffix(TEMP_SUFFIX)
            .rand_bytes(6)
            .tempfile_in(dir)
            .map_err(Error::io("create a temporary file in", dir))?;
        temp.as_file().lock().map_err(Error::io("lock", temp.path()))?;
        Ok(StagedFile { temp })
    }

    pub(crate) fn file(&mut self) -> &mut File {
        self.temp.as_file_mut()
    }

    pub(crate) fn path(&self) -> &Path {
        self.temp.path()
    }

    /// Sets the file mode (Unix) and, with `fsync`, syncs the content: everything that
    /// can happen before the file is renamed into place.
    pub(crate) fn finish(&self, mode: u32, fsync: bool) -> Result<(), Error> {
        set_mode(self.temp.path(), mode)?;
        if fsync {
            self.temp
                .as_file()
                .sync_all()
                .map_err(Error::io("sync", self.temp.path()))?;
        }
        Ok(())
    }

    /// Renames the file over `target` and, with `fsync`, syncs the directory. Call
    /// [`finish`](Self::finish) first.
    pub(crate) fn persist(self, target: &Path, fsync: bool) -> Result<(), Error> {
        let file = self.temp.persist(target).map_err(|e| Error::Io {
            op: "rename a temporary file to",
            path: target.to_path_buf(),
            source: e.error,
        })?;
        drop(file); // Releases the lock on the now-final file.
        if fsync {
            sync_dir(target.parent().unwrap_or(Path::new(".")))?;
        }
        Ok(())
    }

    /// [`finish`](Self::finish) and [`persist`](Self::persist) in one.
    pub(crate) fn commit(self, target: &Path, mode: u32, fsync: bool) -> Result<(), Error> {
        self.finish(mode, fsync)?;
        self.persist(target, fsync)
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(Error::io("set the mode of", path))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> Result<(), Error> {
    Ok(())
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("sync the directory", dir))
}

#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<(), Error> {
    Ok(())
}

/// `mkdir -p` with mode 0700 for the directories it creates, as the Go SDK does.
pub(crate) fn create_dir_all_private(dir: &Path) -> Result<(), Error> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(Error::io("create the directory", dir))
}

/// Passes writes through to `inner` while digesting and counting them.
pub(crate) struct HashingWriter<W> {
    inner: W,
    digester: Digester,
    written: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W, digester: Digester) -> Self {
        HashingWriter {
            inner,
            digester,
            written: 0,
        }
    }

    pub(crate) fn finish(self) -> (W, Digest, u64) {
        (self.inner, self.digester.digest(), self.written)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.digester.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Records a completed write on the artifact.
pub(crate) fn record_write(artifact: &mut Artifact, digest: Digest, size: u64) {
    artifact.digest = digest.to_string();
    artifact.size = Some(i64::try_from(size).unwrap_or(i64::MAX));
    artifact.last_update_time = Some(now_whole_seconds());
}

/// The current time cut to whole seconds, the precision of `lastUpdateTime` on the wire,
/// so that an artifact equals itself after a JSON round trip.
pub(crate) fn now_whole_seconds() -> SystemTime {
    whole_seconds(SystemTime::now())
}

/// `time` cut to whole seconds (times before 1970 are kept as they are).
pub(crate) fn whole_seconds(time: SystemTime) -> SystemTime {
    match time.duration_since(UNIX_EPOCH) {
        Ok(since) => UNIX_EPOCH + std::time::Duration::from_secs(since.as_secs()),
        Err(_) => time,
    }
}

/// Mode of stored artifact files.
pub(crate) const ARTIFACT_FILE_MODE: u32 = 0o600;

impl Storage {
    /// Writes everything `reader` yields to the artifact's file, atomically, with file
    /// mode `mode`; then sets the artifact's `digest` (with the storage's algorithm),
    /// `size` and `last_update_time` (Go: `AtomicWriteFile`).
    ///
    /// The data goes to a temporary file in the artifact's directory (created if
    /// missing), which is renamed over the artifact's path only once complete, so the
    /// path holds either the old file or the new one, never a part. With
    /// [`with_fsync`](Self::with_fsync) the file and the directory are synced first.
    ///
    /// # Errors
    ///
    /// [`Error::CopySource`] if `reader` fails, [`Error::Io`] if the file cannot be
    /// written or renamed, and path errors ([`Error::EmptyPath`],
    /// [`Error::ResolvePath`]). On any error the artifact and its file are unchanged.
    pub fn atomic_write_file(
        &self,
        artifact: &mut Artifact,
        reader: impl Read,
        mode: u32,
    ) -> Result<(), Error> {
        self.write_artifact(artifact, reader, mode)
    }

    /// Like [`atomic_write_file`](Self::atomic_write_file) with mode 0600 (Go: `Copy`).
    ///
    /// # Errors
    ///
    /// As [`atomic_write_file`](Self::atomic_write_file).
    pub fn copy(&self, artifact: &mut Artifact, reader: impl Read) -> Result<(), Error> {
        self.write_artifact(artifact, reader, ARTIFACT_FILE_MODE)
    }

    /// Copies the file at `path` to the artifact's file, as [`copy`](Self::copy) does
    /// (Go: `CopyFromPath`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `path` if it cannot be opened; otherwise as
    /// [`copy`](Self::copy).
    pub fn copy_from_path(&self, artifact: &mut Artifact, path: impl AsRef<Path>) -> Result<(), Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(Error::io("open", path))?;
        self.copy(artifact, file)
    }

    fn write_artifact(&self, artifact: &mut Artifact, mut reader: impl Read, mode: u32) -> Result<(), Error> {
        let target = self.resolve(artifact)?;
        let mut staged = StagedFile::create(&target)?;
        let temp_path = staged.path().to_path_buf();
        let mut sink = HashingWriter::new(staged.file(), self.digest_algorithm().digester());
        let mut buf = vec![0u8; 128 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::CopySource {
                        destination: target,
                        source,
                    });
                }
            };
            sink.write_all(&buf[..n])
                .map_err(Error::io("write", &temp_path))?;
        }
        let (_, digest, size) = sink.finish();
        staged.commit(&target, mode, self.fsync())?;
        record_write(artifact, digest, size);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_file_names_are_recognised() {
        assert!(is_temp_file_name(".app.tar.gz.Xq3b9z.tmp"));
        assert!(!is_temp_file_name("app.tar.gz"));
        assert!(!is_temp_file_name(".tmp"));
        assert!(!is_temp_file_name("latest.tmp"));
        assert!(!is_temp_file_name(".hidden.tar.gz"));
    }
}
