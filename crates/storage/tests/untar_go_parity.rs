//! Parser differentials with Go's `archive/tar` found by the `untar_structured` fuzz
//! target (see `fuzz/` and `docs/security.md`, "Fuzzing"): archives that Flux's
//! `tar.Untar` and this crate's `untar` both accept but extract to different trees, or
//! that one refuses and the other extracts. A reviewer who checks an archive with Go
//! tooling would then approve content that differs from what a Rust consumer gets.
//!
//! Each test states Go's behaviour. Where Go and this crate both extract an archive they
//! must agree; where they cannot (Go's reading is ambiguous or contradicts other
//! readers), the archive is refused here, which a consumer sees as an error rather than
//! as a different tree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{fs, path::Path};

use flux_artifact_storage::{UntarOptions, untar};

/// One USTAR header block with a valid checksum.
fn header(name: &[u8], type_flag: u8, size: u64, mode: u32) -> Vec<u8> {
    let mut b = vec![0u8; 512];
    b[..name.len()].copy_from_slice(name);
    b[100..108].copy_from_slice(format!("{mode:07o}\0").as_bytes());
    b[108..116].copy_from_slice(b"0000000\0");
    b[116..124].copy_from_slice(b"0000000\0");
    b[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    b[136..148].copy_from_slice(b"00000000000\0");
    b[156] = type_flag;
    b[257..263].copy_from_slice(b"ustar\0");
    b[263..265].copy_from_slice(b"00");
    let sum: u32 = b
        .iter()
        .enumerate()
        .map(|(i, &x)| if (148..156).contains(&i) { 32 } else { u32::from(x) })
        .sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

/// A header followed by its data, padded to whole blocks.
fn entry(name: &[u8], type_flag: u8, mode: u32, data: &[u8]) -> Vec<u8> {
    let mut out = header(name, type_flag, data.len() as u64, mode);
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    out
}

/// A PAX extended header (`x`) with one record.
fn pax(key: &str, value: &str) -> Vec<u8> {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len != body.len() + len.to_string().len() {
        len = body.len() + len.to_string().len();
    }
    entry(b"PaxHeaders.0/x", b'x', 0o644, format!("{len}{body}").as_bytes())
}

/// A GNU long-name header (`L`).
fn gnu_long_name(name: &str) -> Vec<u8> {
    entry(b"././@LongLink", b'L', 0o644, format!("{name}\0").as_bytes())
}

fn extract(parts: &[Vec<u8>]) -> (tempfile::TempDir, Result<(), String>) {
    let mut tar = parts.concat();
    tar.extend_from_slice(&[0u8; 1024]);
    let dir = tempfile::tempdir().unwrap();
    let result = untar(
        tar.as_slice(),
        &dir.path().join("out"),
        &UntarOptions::default().gzip(false),
    )
    .map(|_| ())
    .map_err(|e| e.to_string());
    (dir, result)
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir.join("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_entry_with_both_a_gnu_long_name_and_a_pax_path_is_refused_where_go_takes_the_gnu_name() {
    // Go applies the PAX records, then the GNU long name over them; Python's tarfile
    // lets the PAX path win. Refusing leaves no tree to disagree about.
    let (dir, result) = extract(&[
        pax("path", "decoy.txt"),
        gnu_long_name("real.txt"),
        entry(b"header.txt", b'0', 0o644, b"data"),
    ]);
    let err = result.unwrap_err();
    assert!(
        err.to_string().contains("both a PAX path and a GNU long name"),
        "{err}"
    );
    assert!(names(dir.path()).is_empty());
}

#[test]
fn only_the_last_pax_header_before_an_entry_applies_as_in_go() {
    // Each `x` header replaces the records of the one before it in Go.
    let (dir, result) = extract(&[
        pax("path", "smuggled.txt"),
        pax("comment", "second header"),
        entry(b"visible.txt", b'0', 0o644, b"data"),
    ]);
    result.unwrap();
    assert_eq!(names(dir.path()), ["visible.txt"]);
}

#[test]
fn file_type_bits_in_the_mode_that_contradict_the_type_flag_are_refused_where_go_makes_a_directory() {
    // Flux switches on `FileInfo().Mode()`, which joins the type flag and the mode's
    // type bits: a '0' entry with mode 040755 is a directory there. We refuse the entry
    // instead of guessing which of the two the writer meant.
    let (dir, result) = extract(&[entry(b"d", b'0', 0o40755, b"")]);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("names another file type"), "{err}");
    assert!(names(dir.path()).is_empty());
}

#[test]
fn file_type_bits_of_a_socket_are_refused_as_in_go() {
    // Mode 0140644 is a socket for Go's FileInfo: Flux refuses the entry.
    let (dir, result) = extract(&[entry(b"s", b'0', 0o140644, b"data")]);
    assert!(result.is_err(), "extracted {:?}", names(dir.path()));
}

#[test]
fn an_old_style_entry_whose_pax_path_ends_with_a_slash_is_refused_where_go_makes_a_directory() {
    // Go turns type '\0' into a directory after applying the PAX path; we decide on
    // the final name too, and refuse a file name that ends with '/'.
    let (dir, result) = extract(&[pax("path", "d/"), entry(b"f", 0, 0o755, b"")]);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("cannot end with '/'"), "{err}");
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_contiguous_file_named_with_a_trailing_slash_is_refused_where_go_writes_a_file() {
    // Go never turns type '7' into a directory: `c/` is a regular file `c` for Flux.
    // A file name that ends with '/' is refused here rather than read either way.
    let (dir, result) = extract(&[entry(b"c/", b'7', 0o644, b"")]);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("cannot end with '/'"), "{err}");
    assert!(names(dir.path()).is_empty());
}

#[test]
fn an_empty_pax_path_is_refused_where_go_keeps_the_header_name() {
    // Go's mergePAX skips empty values and keeps the USTAR field; an empty name is
    // refused here, so no tree differs from Go's.
    let (dir, result) = extract(&[pax("path", ""), entry(b"kept.txt", b'0', 0o644, b"data")]);
    let err = result.unwrap_err();
    assert!(err.to_string().contains("empty name"), "{err}");
    assert!(names(dir.path()).is_empty());
}
