//! `untar` on raw bytes, into a fresh directory that already holds two symlinks out of
//! it (`evil -> ../outside`, `abs -> <abs>/outside`).
//!
//! Input starting with the gzip magic number is read as gzip, anything else as a plain
//! tar stream (so plain tarballs make good seeds). The input length picks the size cap
//! and whether symlinks are skipped, so that every option is exercised.
//!
//! Invariants: no panic, and those of `Scratch::check_invariants`: nothing written
//! outside the destination, only regular files and directories inside it, the planted
//! symlinks untouched, owner access kept, and the bytes on disk within the cap. A
//! successful extraction's summary agrees with the tree on disk, and its tree is the one
//! Flux's `tar.Untar` extracts from the same bytes (the independent Go model,
//! `go_tar`): whatever `untar` accepts, Flux accepts too, with the same result.
#![no_main]

use std::io::Read;

use flux_artifact_fuzz::{Node, Scratch, assert_same_tree_as_go};
use flux_artifact_storage::{UntarOptions, untar};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let gzip = data.starts_with(&[0x1f, 0x8b]);
    let cap = match data.len() % 4 {
        0 => Some(100 << 20),
        1 => Some(1024),
        2 => Some(0),
        _ => None,
    };
    let skip_symlinks = data.len() % 8 >= 4;
    let scratch = Scratch::new();
    scratch.plant_symlinks();
    let options = UntarOptions::default()
        .gzip(gzip)
        .max_size(cap)
        .skip_symlinks(skip_symlinks);
    let result = untar(data, &scratch.out(), &options);
    let tree = scratch.check_invariants(true, cap);
    if let Ok(summary) = result {
        // Duplicates overwrite, so the disk holds at most what the summary counts.
        let files = tree.values().filter(|n| matches!(n, Node::File { .. })).count() as u64;
        let bytes: u64 = tree
            .values()
            .map(|n| match n {
                Node::File { content, .. } => content.len() as u64,
                _ => 0,
            })
            .sum();
        assert!(
            files <= summary.files,
            "{files} files on disk, summary says {}",
            summary.files
        );
        assert!(
            bytes <= summary.bytes,
            "{bytes} bytes on disk, summary says {}",
            summary.bytes
        );
        if let Some(cap) = cap {
            assert!(
                summary.bytes <= cap,
                "summary counts {} bytes over the cap {cap}",
                summary.bytes
            );
        }
        // The same decoder read it, so it decodes again.
        let tar = if gzip {
            let mut tar = Vec::new();
            flate2::read::MultiGzDecoder::new(data)
                .read_to_end(&mut tar)
                .expect("untar decoded this gzip stream");
            tar
        } else {
            data.to_vec()
        };
        assert_same_tree_as_go(&tree, &tar, cap, skip_symlinks, true);
    }
});
