//! From a built [`ArtifactContent`] to a stored artifact: the entry list the SDK archives,
//! and the content-addressed archive call.

use flux_artifact::{
    kube::ExternalArtifact,
    storage::{
        self, ArchiveEntries, ArchiveEntryError, ArchiveSource, AsyncStorage, SourceIgnoreFilter, Storage,
        StoredArchive, source_ignore_filter,
    },
};
use kube::Resource;

use super::{ArchiveEntry, ArtifactContent, FileContent};
use crate::error::Error;

/// The filter every generated artifact is archived with: Flux's default `.sourceignore`
/// rules, as source-watcher's `Archive(staging, SourceIgnoreFilter(nil, nil))` applies
/// them. It is the one place that decides what is left out; [`ArtifactContent::entries`]
/// lists what it keeps, and the archive holds that list.
pub(crate) fn default_filter() -> SourceIgnoreFilter {
    source_ignore_filter(Vec::new(), &[])
}

impl ArtifactContent {
    /// The artifact as an archive source for the SDK: every directory and file the copy
    /// operations produced, as an [`ArchiveEntries`] list (files of the source trees and
    /// of the scratch directory by path, Merge results as bytes), filtered with Flux's
    /// default `.sourceignore` rules: exactly [`entries`](Self::entries).
    ///
    /// Archived, it gives exactly the bytes (hence the digest) of source-watcher's way:
    /// [`materialise`](Self::materialise) into a staging directory, then archive that
    /// directory with [`source_ignore_filter`]`(Vec::new(), &[])`. The filter was
    /// applied once, to the whole tree, when the entries were listed, entry by entry as
    /// the archive of the staging directory applies it; the archive does not apply it
    /// again. That gives the same archive because a list implies no directory beyond
    /// the kept entries' parents, and with Flux's default rules every parent of a kept
    /// entry is kept (they only exclude, and what excludes a directory excludes what is
    /// below it). Should a tree break that, the list carries the filter too.
    ///
    /// Files are read when the archive is written, so keep the content (which owns the
    /// scratch directory of extracted files) until then; [`store`](Self::store) does.
    ///
    /// # Errors
    ///
    /// [`ArchiveEntryError`] if a path of the tree is not a valid archive path. The
    /// builder produces none (its paths come from file names, tarball entries that the
    /// safe untar accepted, and `to` fields refused when they hold `..` or NUL), so this
    /// is a guard rather than an expected outcome.
    pub fn archive_source(&self) -> Result<ArchiveSource, ArchiveEntryError> {
        let mut list = ArchiveEntries::new();
        for entry in &self.entries {
            match entry {
                ArchiveEntry::Directory { path } => list.add_dir(path)?,
                ArchiveEntry::File {
                    path,
                    content: FileContent::Path(source),
                    ..
                } => list.add_file(path, source.clone())?,
                ArchiveEntry::File {
                    path,
                    content: FileContent::Bytes(bytes),
                    executable: true,
                    ..
                } => list.add_executable_bytes(path, bytes.clone())?,
                ArchiveEntry::File {
                    path,
                    content: FileContent::Bytes(bytes),
                    executable: false,
                    ..
                } => list.add_bytes(path, bytes.clone())?,
            };
        }
        Ok(if self.entries_need_filter {
            ArchiveSource::entries_with_filter(list, default_filter())
        } else {
            ArchiveSource::entries(list)
        })
    }

    /// Archives the artifact into `storage` as the artifact of the `ExternalArtifact`
    /// `namespace/name`: a reproducible `.tar.gz` named after its digest,
    /// `externalartifact/<namespace>/<name>/<hex digest>.tar.gz`, through
    /// [`Storage::archive_content_addressed`] of [`archive_source`](Self::archive_source).
    ///
    /// Plain copies stream from the source trees into the archive, and the digest is
    /// computed in the same pass; nothing is staged. Building the same content again
    /// finds the stored file and writes nothing ([`StoredArchive::written`] is false).
    ///
    /// The returned artifact's `revision` is `latest@<digest>`: set the revision the
    /// generator asks for before publishing. Keep the [`StoredArchive`] until the
    /// artifact is published: it protects the file from garbage collection.
    ///
    /// # Errors
    ///
    /// [`Error::Store`] (kind `io`, retryable) naming the artifact, with the SDK's
    /// [`storage::Error`] as its [`source`](std::error::Error::source): a source file
    /// that cannot be read or changed while it was archived
    /// ([`storage::Error::ArchiveSource`]), an invalid namespace or name, or a failure
    /// to write the storage. Nothing is left at an artifact path on error.
    ///
    /// ```
    /// use std::{collections::BTreeMap, fs};
    /// use artifact_generator::{api::{CopyOperation, OutputArtifact}, builder::ArtifactBuilder};
    /// use flux_artifact::{config::Options, storage::Storage};
    ///
    /// # let repo = tempfile::tempdir()?;
    /// # fs::create_dir_all(repo.path().join("deploy"))?;
    /// # fs::write(repo.path().join("deploy/app.yaml"), "kind: Deployment\n")?;
    /// # let root = tempfile::tempdir()?;
    /// let storage = Storage::new(&Options { storage_path: root.path().into(), ..Options::default() })?;
    /// let artifact = OutputArtifact {
    ///     name: "app".into(),
    ///     copy: vec![CopyOperation { from: "@repo/deploy/**".into(), to: "@artifact/".into(), ..CopyOperation::default() }],
    ///     ..OutputArtifact::default()
    /// };
    /// let sources = BTreeMap::from([("repo".to_owned(), repo.path().to_path_buf())]);
    /// let content = ArtifactBuilder::new(&artifact, &sources).build()?;
    ///
    /// let stored = content.store(&storage, "apps", &artifact.name)?;
    /// assert!(stored.written);
    /// assert!(stored.artifact.path.starts_with("externalartifact/apps/app/"));
    /// assert_eq!(stored.artifact.revision, format!("latest@{}", stored.artifact.digest));
    ///
    /// // The same content again: found stored, nothing written.
    /// let again = content.store(&storage, "apps", &artifact.name)?;
    /// assert!(!again.written);
    /// assert_eq!(again.artifact, stored.artifact);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn store(&self, storage: &Storage, namespace: &str, name: &str) -> Result<StoredArchive, Error> {
        let failed = |source: storage::Error| Error::Store {
            object: format!("{namespace}/{name}"),
            source,
        };
        let source = self.archive_source().map_err(|e| failed(e.into()))?;
        storage
            .archive_content_addressed(&ExternalArtifact::kind(&()), &(namespace, name), source)
            .map_err(failed)
    }

    /// [`store`](Self::store) for async code: the build's files are read, compressed and
    /// written on tokio's blocking pool, never on the runtime's worker threads.
    ///
    /// It takes the content by value and moves it to the blocking task, so the scratch
    /// directory of extracted files lives until the archive is written, even if this
    /// future is dropped. Take [`file_count`](Self::file_count) and
    /// [`content_size`](Self::content_size) before, if they are needed.
    ///
    /// # Cancellation
    ///
    /// Dropping the future does not stop the archive: it runs to its end unobserved,
    /// and then removes the scratch directory. Its file is complete or absent, never
    /// partial; storing the same content again finds it, and garbage collection removes
    /// it if it is never published.
    ///
    /// # Errors
    ///
    /// As [`store`](Self::store); a blocking task that panicked or was cancelled by a
    /// runtime shutdown is [`Error::Store`] with [`storage::Error::BlockingTask`] as its
    /// source.
    pub async fn store_async(
        self,
        storage: &AsyncStorage,
        namespace: &str,
        name: &str,
    ) -> Result<StoredArchive, Error> {
        let storage = storage.storage().clone();
        let (namespace, name) = (namespace.to_owned(), name.to_owned());
        let object = format!("{namespace}/{name}");
        tokio::task::spawn_blocking(move || self.store(&storage, &namespace, &name))
            .await
            .map_err(|source| Error::Store {
                object,
                source: storage::Error::BlockingTask { op: "store", source },
            })?
    }
}
