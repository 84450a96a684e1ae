//! [`Storage::copy_to_path`]: part of a stored artifact, extracted to a directory.

use std::{
    fs::{self, File},
    io::{self, Read},
    path::{Path, PathBuf},
};

use flux_artifact_digest::{Digest, Digester};

use crate::{Artifact, DigestMismatch, Error, Storage, UntarOptions, path::lexical_join, untar};

impl Storage {
    /// Extracts the artifact's tarball, or the part of it under `sub_path`, to
    /// `to_path` (Go: `CopyToPath`).
    ///
    /// With an empty `sub_path` the whole tree becomes `to_path`; with a directory
    /// (`src/utils`) its content does; with a file (`README.md`) `to_path` becomes that
    /// file. `sub_path` cannot climb out of the tree (`..` stops at its root). The
    /// parent of `to_path` is created if missing; `to_path` itself must not be a
    /// non-empty directory.
    ///
    /// Only the entries on the way to `sub_path` are extracted, into a temporary
    /// directory beside `to_path` that is renamed into place when complete, so a
    /// failure leaves `to_path` untouched. If the artifact has a digest, the tarball is
    /// verified against it while it is read, and nothing is moved into place on a
    /// mismatch. Symlinks in the tarball are refused; there is no size cap, as in Go
    /// (the tarball is one of this storage's own).
    ///
    /// # Errors
    ///
    /// [`Error::NotFound`] if the artifact's file is missing, [`Error::InvalidDigest`]
    /// or [`Error::DigestMismatch`] for a digest problem, [`Error::Untar`] for a bad
    /// tarball, [`Error::SubPathNotFound`], and [`Error::Io`] for filesystem failures.
    pub fn copy_to_path(
        &self,
        artifact: &Artifact,
        sub_path: &str,
        to_path: impl AsRef<Path>,
    ) -> Result<(), Error> {
        let to_path = to_path.as_ref();
        let source = self.resolve(artifact)?;
        let expected: Option<Digest> = if artifact.digest.is_empty() {
            None
        } else {
            Some(artifact.parsed_digest().map_err(|source| Error::InvalidDigest {
                digest: artifact.digest.clone(),
                source,
            })?)
        };
        let file = File::open(&source).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound { path: source.clone() },
            _ => Error::Io {
                op: "open",
                path: source.clone(),
                source: e,
            },
        })?;

        let parent = match to_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&parent).map_err(Error::io("create the directory", &parent))?;
        let staging = tempfile::Builder::new()
            .prefix(".flux-extract-")
            .tempdir_in(&parent)
            .map_err(Error::io("create a temporary directory in", &parent))?;
        let unpack = staging.path().join("unpack");

        let wanted = lexical_join(Path::new(""), Path::new(sub_path));
        let filter_target = wanted.clone();
        let options = UntarOptions::default()
            .max_size(None)
            .filter(move |entry, _| !(entry.starts_with(&filter_target) || filter_target.starts_with(entry)));
        let mut reader = DigestingReader {
            inner: file,
            digester: expected.map(|d| d.algorithm().digester()),
        };
        untar(&mut reader, &unpack, &options)?;
        io::copy(&mut reader, &mut io::sink()).map_err(Error::io("read", &source))?;
        if let (Some(expected), Some(digester)) = (expected, reader.digester) {
            let actual = digester.digest();
            if actual != expected {
                return Err(Error::DigestMismatch(Box::new(DigestMismatch {
                    path: source,
                    expected,
                    actual,
                })));
            }
        }

        let from = lexical_join(&unpack, &wanted);
        if fs::symlink_metadata(&from).is_err() {
            return Err(Error::SubPathNotFound {
                sub_path: sub_path.to_owned(),
                artifact: artifact.path.clone(),
            });
        }
        fs::rename(&from, to_path).map_err(Error::io("move the extracted files to", to_path))
    }
}

/// Digests what passes through it.
struct DigestingReader<R> {
    inner: R,
    digester: Option<Digester>,
}

impl<R: Read> Read for DigestingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(digester) = &mut self.digester {
            digester.update(&buf[..n]);
        }
        Ok(n)
    }
}
