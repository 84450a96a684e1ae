//! Helpers for the builder tests: source trees on disk, generators in a few lines, and
//! the built artifact read back as a map of paths.
#![allow(dead_code, unreachable_pub)]

pub mod cases;

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use artifact_generator::{
    Error,
    api::{CopyOperation, CopyStrategy, OutputArtifact},
    builder::{ArchiveEntry, ArtifactBuilder, ArtifactContent, FileContent},
};

/// Source trees in a temporary directory, one subdirectory per alias.
pub struct Sources {
    pub dir: tempfile::TempDir,
    pub roots: BTreeMap<String, PathBuf>,
}

impl Sources {
    pub fn new(aliases: &[&str]) -> Sources {
        let dir = tempfile::tempdir().unwrap();
        let roots = aliases
            .iter()
            .map(|alias| {
                let root = dir.path().join(alias);
                fs::create_dir_all(&root).unwrap();
                ((*alias).to_owned(), root)
            })
            .collect();
        Sources { dir, roots }
    }

    pub fn root(&self, alias: &str) -> &Path {
        &self.roots[alias]
    }

    /// Writes `content` at `path` in the source `alias`, creating parent directories.
    pub fn file(&self, alias: &str, path: &str, content: &str) -> &Self {
        self.bytes(alias, path, content.as_bytes())
    }

    pub fn bytes(&self, alias: &str, path: &str, content: &[u8]) -> &Self {
        let path = self.root(alias).join(path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, content).unwrap();
        self
    }

    pub fn dir(&self, alias: &str, path: &str) -> &Self {
        fs::create_dir_all(self.root(alias).join(path)).unwrap();
        self
    }
}

/// A copy operation.
pub fn copy(from: &str, to: &str) -> CopyOperation {
    CopyOperation {
        from: from.to_owned(),
        to: to.to_owned(),
        ..CopyOperation::default()
    }
}

pub trait CopyExt {
    fn exclude(self, patterns: &[&str]) -> Self;
    fn strategy(self, strategy: CopyStrategy) -> Self;
}

impl CopyExt for CopyOperation {
    fn exclude(mut self, patterns: &[&str]) -> Self {
        self.exclude = patterns.iter().map(|p| (*p).to_owned()).collect();
        self
    }

    fn strategy(mut self, strategy: CopyStrategy) -> Self {
        self.strategy = Some(strategy);
        self
    }
}

/// An output artifact with these operations.
pub fn artifact(copy: Vec<CopyOperation>) -> OutputArtifact {
    OutputArtifact {
        name: "test-artifact".to_owned(),
        copy,
        ..OutputArtifact::default()
    }
}

pub fn build(artifact: &OutputArtifact, sources: &Sources) -> Result<ArtifactContent, Error> {
    ArtifactBuilder::new(artifact, &sources.roots).build()
}

pub fn build_ok(artifact: &OutputArtifact, sources: &Sources) -> ArtifactContent {
    build(artifact, sources).unwrap_or_else(|e| panic!("build failed: {e}"))
}

pub fn build_err(artifact: &OutputArtifact, sources: &Sources) -> Error {
    match build(artifact, sources) {
        Ok(content) => panic!("build succeeded with {:?}", paths(&content)),
        Err(e) => e,
    }
}

pub fn read_content(content: &FileContent) -> Vec<u8> {
    match content {
        FileContent::Path(path) => fs::read(path).unwrap(),
        FileContent::Bytes(bytes) => bytes.to_vec(),
    }
}

/// The artifact's files and their text.
pub fn files(content: &ArtifactContent) -> BTreeMap<String, String> {
    content
        .entries()
        .iter()
        .filter_map(|e| match e {
            ArchiveEntry::File { path, content, .. } => Some((
                path.to_str().unwrap().to_owned(),
                String::from_utf8(read_content(content)).unwrap(),
            )),
            ArchiveEntry::Directory { .. } => None,
        })
        .collect()
}

/// The artifact's directories.
pub fn dirs(content: &ArtifactContent) -> BTreeSet<String> {
    content
        .entries()
        .iter()
        .filter_map(|e| match e {
            ArchiveEntry::Directory { path } => Some(path.to_str().unwrap().to_owned()),
            ArchiveEntry::File { .. } => None,
        })
        .collect()
}

/// Every entry path, directories with a trailing `/`.
pub fn paths(content: &ArtifactContent) -> Vec<String> {
    content
        .entries()
        .iter()
        .map(|e| match e {
            ArchiveEntry::Directory { path } => format!("{}/", path.display()),
            ArchiveEntry::File { path, .. } => path.display().to_string(),
        })
        .collect()
}

/// Asserts that the artifact holds exactly these files with this text.
#[track_caller]
pub fn assert_files(content: &ArtifactContent, expected: &[(&str, &str)]) {
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect();
    assert_eq!(files(content), expected);
}

/// Asserts that `yaml` means the same as `expected` (go-yaml's `MatchYAML`), read by an
/// independent YAML parser.
#[track_caller]
pub fn assert_yaml_eq(yaml: &str, expected: &str) {
    let actual: serde_yaml_ng::Value = serde_yaml_ng::from_str(yaml).unwrap();
    let expected: serde_yaml_ng::Value = serde_yaml_ng::from_str(expected).unwrap();
    assert_eq!(actual, expected, "got:\n{yaml}");
}

/// A tar entry for [`tarball`].
pub enum Tar<'a> {
    File(&'a str, &'a str),
    Exec(&'a str, &'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    /// A file entry whose name is written as is, bypassing the tar crate's checks.
    RawName(&'a [u8], &'a str),
}

/// A gzipped tarball of `entries`.
pub fn tarball(entries: &[Tar<'_>]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(gz);
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        match entry {
            Tar::File(name, content) | Tar::Exec(name, content) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(if matches!(entry, Tar::Exec(..)) {
                    0o755
                } else {
                    0o644
                });
                header.set_size(content.len() as u64);
                builder
                    .append_data(&mut header, name, content.as_bytes())
                    .unwrap();
            }
            Tar::Dir(name) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder.append_data(&mut header, name, &[][..]).unwrap();
            }
            Tar::Symlink(name, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, name, target).unwrap();
            }
            Tar::RawName(name, content) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                header.set_size(content.len() as u64);
                let field = &mut header.as_old_mut().name;
                field.fill(0);
                field[..name.len()].copy_from_slice(name);
                header.set_cksum();
                builder.append(&header, content.as_bytes()).unwrap();
            }
        }
    }
    let gz = builder.into_inner().unwrap();
    gz.finish().unwrap()
}

/// Writes a gzipped tarball into a source.
pub fn write_tarball(sources: &Sources, alias: &str, path: &str, entries: &[Tar<'_>]) {
    let bytes = tarball(entries);
    let path = sources.root(alias).join(path);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::File::create(path).unwrap().write_all(&bytes).unwrap();
}
