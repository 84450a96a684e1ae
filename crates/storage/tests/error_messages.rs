//! Error messages name the path or value and the reason once: a wrapped cause is
//! returned by `source()` and not repeated in the message, so printing the chain (as
//! anyhow's `{:#}` does) says everything exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::{error::Error as _, fs};

use common::TestStorage;
use flux_artifact_config::Options;
use flux_artifact_storage::{
    ArchiveEntries, ArchiveSource, Artifact, Error, Storage, UntarError, UntarOptions, untar,
};

/// Every message of the chain, outermost first.
fn chain(error: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut messages = vec![error.to_string()];
    let mut current = error.source();
    while let Some(source) = current {
        messages.push(source.to_string());
        current = source.source();
    }
    messages
}

fn assert_said_once(error: &Error) {
    let messages = chain(error);
    for pair in messages.windows(2) {
        assert!(
            !pair[0].contains(&pair[1]),
            "{error:?}: the message {:?} repeats its source's {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// One error of each variant that has a source (and a few that do not), extraction
/// errors with a cause among them.
fn representative_errors() -> Vec<Error> {
    let t = TestStorage::new();
    let mut errors = Vec::new();

    // Io: a file to copy that is missing.
    let mut a = t.artifact("k/ns/n/a.bin");
    errors.push(t.storage.copy_from_path(&mut a, "/nonexistent/file").unwrap_err());
    // CopySource: a reader that fails.
    errors.push(t.storage.copy(&mut a, FailingReader).unwrap_err());
    // InvalidDigest, wrapping the digest crate's error.
    let bad = Artifact {
        digest: "sha256:abc".into(),
        ..t.artifact("k/ns/n/a.bin")
    };
    errors.push(t.storage.verify_artifact(&bad).unwrap_err());
    // ArchiveSource: an entry whose file is missing.
    let mut entries = ArchiveEntries::new();
    entries.add_file("a", "/nonexistent/file").unwrap();
    errors.push(
        t.storage
            .archive_content_addressed("Kind", &("ns", "n"), ArchiveSource::entries(entries))
            .unwrap_err(),
    );
    // ResolvePath: a symlink loop inside the root.
    std::os::unix::fs::symlink("loop", t.base().join("loop")).unwrap();
    errors.push(
        t.storage
            .verify_artifact(&Artifact {
                digest: bad.digest.replace("abc", &"a".repeat(64)),
                ..t.artifact("loop/x/a.tar.gz")
            })
            .unwrap_err(),
    );
    // Config, InvalidStoragePath, InvalidDir, MissingNamespace, ArchiveEntry.
    errors.push(
        Storage::new(&Options {
            storage_address: "nope".into(),
            ..Options::default()
        })
        .unwrap_err(),
    );
    let file = t.put("file", b"");
    errors.push(
        Storage::new(&Options {
            storage_path: file.clone(),
            ..Options::default()
        })
        .unwrap_err(),
    );
    errors.push(t.storage.archive(&mut a, &file, None).unwrap_err());
    errors.push(
        t.storage
            .new_artifact_for("Kind", &("", "n"), "v1", "a.tar.gz")
            .unwrap_err(),
    );
    errors.push(Error::from(ArchiveEntries::new().add_dir("../x").unwrap_err()));
    // UnextractableName: a file name with a backslash.
    let src = t.base().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("a\\b.yaml"), "").unwrap();
    errors.push(t.storage.archive(&mut a, &src, None).unwrap_err());
    // Untar(Stream): truncated gzip data; Untar(Write): the target is below a file.
    let gzip_head: &[u8] = &[0x1f, 0x8b, 0x08, 0x00, 0x00];
    errors.push(Error::from(
        untar(gzip_head, &t.base().join("out"), &UntarOptions::default()).unwrap_err(),
    ));
    errors.push(Error::from(
        untar(gzip_head, &file.join("out"), &UntarOptions::default()).unwrap_err(),
    ));
    assert!(
        errors.iter().filter(|e| e.source().is_some()).count() >= 7,
        "{errors:#?}"
    );
    let _ = fs::remove_file(t.base().join("loop"));
    errors
}

struct FailingReader;

impl std::io::Read for FailingReader {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("upstream went away"))
    }
}

#[test]
fn no_message_repeats_its_source() {
    for error in representative_errors() {
        assert_said_once(&error);
    }
}

#[test]
fn extraction_errors_keep_their_cause_in_source_only() {
    let t = TestStorage::new();
    let file = t.put("file", b"");
    let gzip_head: &[u8] = &[0x1f, 0x8b, 0x08, 0x00, 0x00];
    let stream = untar(gzip_head, &t.base().join("out"), &UntarOptions::default()).unwrap_err();
    assert!(matches!(stream, UntarError::Stream { .. }), "{stream:?}");
    assert_eq!(stream.to_string(), "cannot read the tar stream");
    assert!(stream.source().is_some());
    let target = file.join("out");
    let write = untar(gzip_head, &target, &UntarOptions::default()).unwrap_err();
    assert!(matches!(write, UntarError::Write { .. }), "{write:?}");
    assert_eq!(write.to_string(), format!("cannot inspect {}", target.display()));
    assert!(write.source().is_some());
}

#[test]
fn the_chain_names_the_path_and_the_reason() {
    let t = TestStorage::new();
    let mut a = t.artifact("k/ns/n/a.bin");
    let err = t.storage.copy_from_path(&mut a, "/nonexistent/file").unwrap_err();
    assert_eq!(
        chain(&err).join(": "),
        "cannot open /nonexistent/file: No such file or directory (os error 2)"
    );
    assert!(err.is_not_found());
}
