//! `Storage::local_path` (Go's `securejoin` semantics) over a storage root holding
//! directories and symlinks with arbitrary targets: relative, absolute, escaping,
//! dangling, looping.
//!
//! Invariants: an empty path has no local path; any other path resolves inside the
//! root or is refused. A resolved path is below the root, has no `.` or `..` part, and
//! no symlink on its way, so opening it cannot leave the root (its existing part,
//! canonicalized, is still below the root); resolving it again gives itself. Without
//! symlinks the result is the lexical join (`..` stops at the root), which also never
//! leaves the root.
#![no_main]

use std::{
    fs,
    path::{Component, Path, PathBuf},
};

use arbitrary::Arbitrary;
use flux_artifact_config::Options;
use flux_artifact_storage::{Artifact, Storage, fuzzing::lexical_join};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Seg {
    A,
    B,
    C,
}

#[derive(Arbitrary, Debug)]
struct Input {
    dirs: Vec<Vec<Seg>>,
    links: Vec<(Vec<Seg>, String)>,
    path: String,
}

fn location(root: &Path, segs: &[Seg]) -> PathBuf {
    segs.iter().take(4).fold(root.to_path_buf(), |p, s| {
        p.join(match s {
            Seg::A => "a",
            Seg::B => "b",
            Seg::C => "c",
        })
    })
}

fn local_path(storage: &Storage, path: &str) -> Option<PathBuf> {
    let artifact = Artifact {
        path: path.to_owned(),
        ..Artifact::default()
    };
    storage.local_path(&artifact)
}

fuzz_target!(|input: Input| {
    let top = flux_artifact_fuzz::tempdir();
    let root = top.path().join("root");
    fs::create_dir(&root).unwrap();
    fs::create_dir(top.path().join("outside")).unwrap();
    let storage = Storage::new(&Options {
        storage_path: root.clone(),
        ..Options::default()
    })
    .unwrap();
    let root = storage.base_path().to_path_buf();

    for dir in input.dirs.iter().take(6) {
        let _ = fs::create_dir_all(location(&root, dir));
    }
    let mut links = 0;
    for (at, target) in input.links.iter().take(6) {
        if at.is_empty() || target.is_empty() || target.len() > 200 || target.contains('\0') {
            continue;
        }
        let at = location(&root, at);
        if let Some(parent) = at.parent() {
            let _ = fs::create_dir_all(parent);
        }
        if std::os::unix::fs::symlink(target, &at).is_ok() {
            links += 1;
        }
    }

    let path = &input.path;
    let resolved = local_path(&storage, path);
    if path.is_empty() {
        assert_eq!(resolved, None, "an empty path has no local path");
    }
    let lexical = lexical_join(&root, Path::new(path));
    assert!(
        lexical.starts_with(&root),
        "lexical join of {path:?} left the root: {}",
        lexical.display()
    );
    assert!(
        lexical
            .strip_prefix(&root)
            .unwrap()
            .components()
            .all(|c| matches!(c, Component::Normal(_))),
        "lexical join of {path:?} kept a special part: {}",
        lexical.display()
    );
    // A NUL cannot be in a file name, nor can a name be longer than NAME_MAX: the
    // lookup fails and the path is refused, as with Go's securejoin.
    let unnameable = path.contains('\0')
        || root.as_os_str().len() + path.len() >= 4096
        || Path::new(path).components().any(|c| c.as_os_str().len() > 255);
    if path.contains('\0') {
        assert_eq!(resolved, None, "{path:?} has a NUL");
    } else if links == 0 && !path.is_empty() && !(unnameable && resolved.is_none()) {
        let want = (lexical != root).then_some(lexical);
        assert_eq!(resolved, want, "without symlinks, {path:?} resolves lexically");
    }

    let Some(resolved) = resolved else {
        return;
    };
    let relative = resolved
        .strip_prefix(&root)
        .unwrap_or_else(|_| panic!("{path:?} resolved outside the root: {}", resolved.display()));
    assert!(
        !relative.as_os_str().is_empty(),
        "{path:?} resolved to the root itself"
    );
    let mut at = root.clone();
    for component in relative.components() {
        let Component::Normal(name) = component else {
            panic!(
                "{path:?} resolved to {} with a {component:?} part",
                resolved.display()
            );
        };
        at.push(name);
        match fs::symlink_metadata(&at) {
            Ok(meta) => {
                assert!(
                    !meta.file_type().is_symlink(),
                    "{path:?} resolved through the symlink {}",
                    at.display()
                );
                let real = fs::canonicalize(&at).unwrap();
                assert!(
                    real.starts_with(&root),
                    "{} is really {}",
                    at.display(),
                    real.display()
                );
            }
            Err(_) => break,
        }
    }
    let again = local_path(&storage, relative.to_str().unwrap());
    assert_eq!(
        again.as_ref(),
        Some(&resolved),
        "resolving {} again",
        relative.display()
    );
});
