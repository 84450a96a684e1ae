//! `untar` on tar streams assembled from structured input: entries with chosen names,
//! name encodings (USTAR prefix, PAX `path`, GNU long names, decoys), types, modes,
//! sizes (lying ones too), extension records, checksums, endings and gzip framing.
//!
//! Besides the invariants of every extraction (`Scratch::check_invariants`), the result
//! is compared with the model of `tar_builder`: the exact tree and summary when it
//! succeeds, or the kind of error. And every successful extraction must be one Flux's
//! `tar.Untar` makes too, with the same tree, as the independent Go model (`go_tar`)
//! reads the same bytes.
#![no_main]

use flux_artifact_fuzz::{
    Node, Scratch, assert_same_tree_as_go,
    tar_builder::{Archive, ErrorClass, Expected, FormatClass},
};
use flux_artifact_storage::{TarFormatError, UntarError, UntarOptions, untar};
use libfuzzer_sys::fuzz_target;

fn class(error: &UntarError) -> ErrorClass {
    match error {
        UntarError::Stream { .. } | UntarError::NotGzip { .. } => ErrorClass::Stream,
        UntarError::Malformed { reason } => ErrorClass::Format(match reason {
            TarFormatError::Checksum => FormatClass::Checksum,
            TarFormatError::InvalidField { .. } => FormatClass::InvalidField,
            TarFormatError::MalformedPax => FormatClass::MalformedPax,
            TarFormatError::ConflictingNames => FormatClass::ConflictingNames,
            TarFormatError::AmbiguousDirectory => FormatClass::AmbiguousDirectory,
            TarFormatError::GlobalAfterExtension => FormatClass::GlobalAfterExtension,
            TarFormatError::Sparse => FormatClass::Sparse,
            TarFormatError::DataAfterZeroBlock => FormatClass::DataAfterZeroBlock,
            other => panic!("a format error the model does not know: {other:?}"),
        }),
        UntarError::TooLarge { .. } => ErrorClass::TooLarge,
        UntarError::AbsolutePath { .. }
        | UntarError::ParentTraversal { .. }
        | UntarError::InvalidName { .. } => ErrorClass::Name,
        UntarError::TypeMismatch { .. } => ErrorClass::TypeMismatch,
        UntarError::Symlink { .. } => ErrorClass::Symlink,
        UntarError::Hardlink { .. } => ErrorClass::Hardlink,
        UntarError::UnsupportedType { .. } => ErrorClass::Unsupported,
        UntarError::Write { .. } | UntarError::NotADirectory { .. } => ErrorClass::Write,
        other => panic!("an error the model does not know: {other:?}"),
    }
}

fuzz_target!(|archive: Archive| {
    let (bytes, gzip) = archive.bytes();
    let expected = archive.expected();
    let scratch = Scratch::new();
    if archive.plant {
        scratch.plant_symlinks();
    }
    let options = UntarOptions::default()
        .gzip(gzip)
        .max_size(archive.cap.bytes())
        .skip_symlinks(archive.skip_symlinks);
    let result = untar(bytes.as_slice(), &scratch.out(), &options);
    let tree = scratch.check_invariants(archive.plant, archive.cap.bytes());
    if result.is_ok() {
        assert_same_tree_as_go(
            &tree,
            &archive.tar(),
            archive.cap.bytes(),
            archive.skip_symlinks,
            archive.plant,
        );
    }

    match (&expected, &result) {
        (Expected::Unknown, _) => {}
        (Expected::Tree(model), Ok(summary)) => {
            let mut actual = tree.clone();
            if archive.plant {
                for name in flux_artifact_fuzz::PLANTED {
                    actual.remove(std::path::Path::new(name));
                }
            }
            let actual: std::collections::BTreeMap<_, _> = actual
                .into_iter()
                .map(|(path, node)| {
                    let content = match node {
                        Node::File { content, .. } => Some(content),
                        _ => None,
                    };
                    (path, content)
                })
                .collect();
            assert_eq!(actual, model.nodes, "extracted tree differs from the model");
            assert_eq!(
                (summary.files, summary.directories, summary.bytes),
                (model.files, model.directories, model.bytes),
                "summary differs from the model"
            );
        }
        (Expected::Error(want), Err(error)) => {
            assert_eq!(class(error), *want, "wrong kind of error: {error}");
        }
        (Expected::AnyError, Err(_)) => {}
        (expected, result) => panic!("expected {expected:?}, untar returned {result:?}"),
    }
});
