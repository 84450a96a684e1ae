//! Helpers shared by the fuzz targets: filesystem snapshots, the extraction invariants,
//! and a tar writer that can write every header field wrong on purpose.

use std::{
    collections::BTreeMap,
    fs,
    os::unix::fs::{MetadataExt, PermissionsExt},
    path::{Path, PathBuf},
};

pub mod go_match;
pub mod go_tar;
pub mod tar_builder;

/// One filesystem entry, as seen without following symlinks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Dir {
        mode: u32,
    },
    File {
        content: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: PathBuf,
    },
    /// A FIFO, device or socket.
    Other {
        mode: u32,
    },
}

/// Every entry below `dir` (not `dir` itself), keyed by its path relative to `dir`.
/// Symlinks are recorded, never followed.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    walk(dir, Path::new(""), &mut out);
    out
}

fn walk(dir: &Path, relative: &Path, out: &mut BTreeMap<PathBuf, Node>) {
    let Ok(entries) = fs::read_dir(dir.join(relative)) else {
        return;
    };
    for entry in entries {
        let entry = entry.expect("read_dir entry");
        let rel = relative.join(entry.file_name());
        let path = dir.join(&rel);
        let meta = fs::symlink_metadata(&path).expect("lstat");
        let mode = meta.permissions().mode() & 0o7777;
        let kind = meta.file_type();
        let node = if kind.is_symlink() {
            Node::Symlink {
                target: fs::read_link(&path).expect("readlink"),
            }
        } else if kind.is_dir() {
            walk(dir, &rel, out);
            Node::Dir { mode }
        } else if kind.is_file() {
            Node::File {
                content: fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())),
                mode,
            }
        } else {
            Node::Other { mode: meta.mode() }
        };
        out.insert(rel, node);
    }
}

/// A scratch area for one extraction: `top/out` is the destination, `top/outside` an
/// empty directory that planted symlinks point to, `top/canary` a file that must not
/// change. Everything is removed on drop.
pub struct Scratch {
    pub top: tempfile::TempDir,
}

/// The content of the canary file beside every extraction.
pub const CANARY: &[u8] = b"canary: nothing may write here\n";

/// Names of the symlinks [`Scratch::plant_symlinks`] puts in the destination.
pub const PLANTED: [&str; 2] = ["evil", "abs"];

impl Scratch {
    pub fn new() -> Self {
        let top = tempdir();
        fs::create_dir(top.path().join("outside")).expect("mkdir outside");
        fs::write(top.path().join("canary"), CANARY).expect("write canary");
        Scratch { top }
    }

    pub fn out(&self) -> PathBuf {
        self.top.path().join("out")
    }

    pub fn outside(&self) -> PathBuf {
        self.top.path().join("outside")
    }

    /// Creates the destination with two symlinks out of it: `evil -> ../outside`
    /// (relative) and `abs -> <top>/outside` (absolute).
    pub fn plant_symlinks(&self) {
        let out = self.out();
        fs::create_dir(&out).expect("mkdir out");
        std::os::unix::fs::symlink("../outside", out.join(PLANTED[0])).expect("symlink");
        std::os::unix::fs::symlink(self.outside(), out.join(PLANTED[1])).expect("symlink");
    }

    /// The invariants of every extraction, successful or not: nothing outside the
    /// destination changed; inside it there are only directories and regular files
    /// (besides the planted symlinks, unchanged); files are readable and writable by
    /// their owner and directories traversable, so the output can always be removed;
    /// no setuid, setgid or sticky bit (Flux keeps the permission bits only); and the
    /// file bytes on disk stay within `limit`. Returns the destination's tree.
    pub fn check_invariants(&self, planted: bool, limit: Option<u64>) -> BTreeMap<PathBuf, Node> {
        let top = snapshot(self.top.path());
        for (path, node) in &top {
            let mut parts = path.components();
            let first = parts.next().map(|c| c.as_os_str().to_string_lossy().into_owned());
            let inside_out = first.as_deref() == Some("out") && parts.next().is_some();
            match first.as_deref() {
                Some("canary") => assert_eq!(
                    node,
                    &Node::File {
                        content: CANARY.to_vec(),
                        mode: 0o644 & !umask()
                    },
                    "the canary beside the destination changed"
                ),
                Some("outside") if path.components().count() > 1 => {
                    panic!("{} was written outside the destination", path.display())
                }
                Some("outside") => assert!(matches!(node, Node::Dir { .. }), "outside is {node:?}"),
                Some("out") if !inside_out => assert!(matches!(node, Node::Dir { .. }), "out is {node:?}"),
                Some("out") => {}
                _ => panic!("{} was written beside the destination", path.display()),
            }
        }
        let tree = snapshot(&self.out());
        let mut bytes = 0u64;
        for (path, node) in &tree {
            let name = path.to_string_lossy();
            if planted && PLANTED.contains(&name.as_ref()) {
                assert!(
                    matches!(node, Node::Symlink { .. }),
                    "the planted symlink {name} was replaced by {node:?}"
                );
                continue;
            }
            match node {
                Node::Dir { mode } => {
                    assert_eq!(
                        mode & 0o700,
                        0o700,
                        "directory {name} is not rwx for its owner: {mode:o}"
                    );
                    assert!(
                        mode & 0o7000 == 0,
                        "directory {name} has special mode bits: {mode:o}"
                    );
                }
                Node::File { content, mode } => {
                    assert_eq!(
                        mode & 0o600,
                        0o600,
                        "file {name} is not rw for its owner: {mode:o}"
                    );
                    assert!(mode & 0o7000 == 0, "file {name} has special mode bits: {mode:o}");
                    bytes += content.len() as u64;
                }
                Node::Symlink { .. } | Node::Other { .. } => {
                    panic!("{name} was extracted as {node:?}: only files and directories may be written")
                }
            }
        }
        if let Some(limit) = limit {
            assert!(bytes <= limit, "{bytes} bytes on disk, over the limit of {limit}");
        }
        tree
    }
}

/// The parity rule: an archive `untar` accepted must be one Flux's `tar.Untar` accepts,
/// and the two trees must be the same. `tree` is the destination after `untar`
/// succeeded, `tar` the uncompressed stream it read. Input the Go model does not cover
/// (sparse files, paths through the planted symlinks) is not compared.
pub fn assert_same_tree_as_go(
    tree: &BTreeMap<PathBuf, Node>,
    tar: &[u8],
    cap: Option<u64>,
    skip_symlinks: bool,
    planted: bool,
) {
    let ours: BTreeMap<PathBuf, Option<Vec<u8>>> = tree
        .iter()
        .filter(|(path, _)| !(planted && PLANTED.iter().any(|p| path.as_os_str() == *p)))
        .map(|(path, node)| {
            let content = match node {
                Node::File { content, .. } => Some(content.clone()),
                _ => None,
            };
            (path.clone(), content)
        })
        .collect();
    match go_tar::untar(tar, cap, skip_symlinks, planted) {
        go_tar::GoOutcome::Tree(go) => assert_eq!(ours, go, "untar extracted another tree than Flux"),
        go_tar::GoOutcome::Refused(why) => {
            panic!("untar extracted {ours:?} where Flux refuses the archive: {why}")
        }
        go_tar::GoOutcome::Unknown(_) => {}
    }
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

/// A fresh temporary directory, on a tmpfs when there is one (`/dev/shm`).
///
/// The targets create and delete many small files per execution; on a disk-backed
/// file system (ext4 with online discard, say) each unlink can take milliseconds,
/// which slows fuzzing a hundredfold. `$FLUX_FUZZ_TMPDIR` overrides the choice.
pub fn tempdir() -> tempfile::TempDir {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| {
        if let Some(dir) = std::env::var_os("FLUX_FUZZ_TMPDIR") {
            return PathBuf::from(dir);
        }
        let shm = Path::new("/dev/shm");
        let usable = tempfile::Builder::new()
            .prefix("flux-fuzz-probe-")
            .tempdir_in(shm)
            .is_ok();
        if usable {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    });
    tempfile::Builder::new()
        .prefix("flux-fuzz-")
        .tempdir_in(base)
        .expect("temp dir")
}

/// The process umask (read once; fuzz targets do not change it).
pub fn umask() -> u32 {
    static UMASK: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *UMASK.get_or_init(|| {
        let probe = tempfile::tempdir().expect("temp dir");
        let file = probe.path().join("probe");
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
            .expect("create probe");
        // std creates files with 0o666 before the umask.
        let mode = fs::metadata(&file).expect("stat probe").permissions().mode() & 0o777;
        0o666 & !mode
    })
}
