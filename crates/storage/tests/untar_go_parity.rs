//! Parser differentials with Go's `archive/tar` found by the `untar_structured` fuzz
//! target and while writing its model of Go's reader (see `fuzz/` and
//! `docs/security.md`, "Fuzzing"): archives that Flux's `tar.Untar` and this crate's
//! `untar` both accept but extract to different trees, or that one refuses and the
//! other extracts. A reviewer who checks an archive with Go tooling would then approve
//! content that differs from what a Rust consumer gets.
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

/// A header block changed by `edit`, with its checksum recomputed.
fn edited(block: Vec<u8>, edit: impl FnOnce(&mut [u8])) -> Vec<u8> {
    let mut b = block;
    edit(&mut b);
    b[148..156].fill(b' ');
    let sum: u32 = b.iter().map(|&x| u32::from(x)).sum();
    b[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    b
}

fn extract(parts: &[Vec<u8>]) -> (tempfile::TempDir, Result<(), String>) {
    extract_with(parts, UntarOptions::default())
}

fn extract_with(parts: &[Vec<u8>], options: UntarOptions) -> (tempfile::TempDir, Result<(), String>) {
    let mut tar = parts.concat();
    tar.extend_from_slice(&[0u8; 1024]);
    let dir = tempfile::tempdir().unwrap();
    let result = untar(tar.as_slice(), &dir.path().join("out"), &options.gzip(false))
        .map(|_| ())
        .map_err(|e| e.to_string());
    (dir, result)
}

/// Asserts that `parts` are refused with a message containing `reason`, leaving
/// nothing behind.
fn assert_refused(parts: &[Vec<u8>], reason: &str) {
    let (dir, result) = extract(parts);
    match result {
        Err(err) => assert!(err.contains(reason), "{err}"),
        Ok(()) => panic!("extracted {:?}", names(dir.path())),
    }
    assert!(names(dir.path()).is_empty());
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
fn an_old_style_entry_named_with_a_trailing_slash_is_a_directory_as_in_go() {
    // Type '\0' (a V7 regular file) whose name ends with '/' is a directory to Go, even
    // with mode 0 and no data; the fuzz model once took it for a refused file name.
    let (dir, result) = extract(&[entry(b"./A/", 0, 0, b"")]);
    result.unwrap();
    assert!(dir.path().join("out/A").is_dir());
    assert_eq!(names(dir.path()), ["A"]);
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

#[test]
fn an_old_style_entry_that_is_a_directory_by_its_header_name_only_is_refused_where_go_writes_a_file() {
    // Go decides type '\0' on the final name (a file `f`), Python's tarfile on the
    // header's (a directory): refused, so that neither reading wins.
    let reason = "directory by its header name only";
    assert_refused(&[pax("path", "f"), entry(b"d/", 0, 0o755, b"")], reason);
    assert_refused(&[gnu_long_name("f"), entry(b"d/", 0, 0o755, b"")], reason);
}

#[test]
fn a_nul_in_a_pax_string_field_or_key_is_refused_as_in_go() {
    for key in ["linkpath", "uname", "gname"] {
        assert_refused(
            &[pax(key, "a\0b"), entry(b"f", b'0', 0o644, b"x")],
            "malformed PAX record",
        );
    }
    assert_refused(
        &[pax("SCHILY.xattr.a\0b", "v"), entry(b"f", b'0', 0o644, b"x")],
        "malformed PAX record",
    );
}

#[test]
fn pax_numbers_go_cannot_parse_are_refused() {
    for (key, value) in [
        ("uid", "x"),
        ("gid", "1.5"),
        ("atime", "1.x"),
        ("ctime", "--1"),
        ("mtime", "5.5e3"),
    ] {
        assert_refused(&[pax(key, value), entry(b"f", b'0', 0o644, b"x")], "invalid PAX");
    }
}

#[test]
fn a_pax_size_beyond_go_s_int64_is_refused_even_without_a_cap() {
    // Go's strconv.ParseInt fails; without a cap the directory would be extracted.
    let (dir, result) = extract_with(
        &[pax("size", "9223372036854775808"), entry(b"d", b'5', 0o755, b"")],
        UntarOptions::default().max_size(None),
    );
    let err = result.unwrap_err();
    assert!(err.contains("invalid PAX size"), "{err}");
    assert!(names(dir.path()).is_empty());
}

#[test]
fn a_malformed_global_header_is_refused_as_in_go() {
    assert_refused(
        &[
            entry(b"pax_global_header", b'g', 0o644, b"not a record"),
            entry(b"f", b'0', 0o644, b"x"),
        ],
        "malformed PAX record",
    );
}

#[test]
fn a_global_header_between_an_extension_header_and_its_entry_is_refused_where_go_drops_the_extension() {
    // Go returns the global header as an entry and forgets the PAX path before it
    // (`visible.txt`); Python applies it to the next entry (`smuggled.txt`).
    assert_refused(
        &[
            pax("path", "smuggled.txt"),
            entry(b"pax_global_header", b'g', 0o644, b"13 comment=x\n"),
            entry(b"visible.txt", b'0', 0o644, b"data"),
        ],
        "global header separates",
    );
}

#[test]
fn junk_in_the_uid_gid_and_device_fields_is_refused_as_in_go() {
    for (offset, field) in [(108, "uid"), (116, "gid"), (329, "devmajor"), (337, "devminor")] {
        let junk = edited(header(b"f", b'0', 1, 0o644), |b| {
            b[offset..offset + 8].copy_from_slice(b"12 34\0\0\0");
        });
        let mut file = junk;
        file.extend_from_slice(b"x");
        file.resize(1024, 0);
        assert_refused(&[file], &format!("invalid {field} field"));
    }
}

#[test]
fn a_base256_checksum_is_refused_as_in_go() {
    // Go reads the checksum as octal only.
    let mut block = header(b"f", b'0', 0, 0o644);
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&x| u32::from(x)).sum();
    block[148..156].fill(0);
    block[148] = 0x80;
    block[152..156].copy_from_slice(&sum.to_be_bytes());
    assert_refused(&[block], "invalid checksum field");
}

#[test]
fn a_ustar_header_of_another_version_keeps_its_prefix_as_in_go() {
    // Go recognises USTAR by its magic alone, and reads the prefix field.
    let block = edited(header(b"f.txt", b'0', 4, 0o644), |b| {
        b[263..265].copy_from_slice(b"\0\0");
        b[345..346].copy_from_slice(b"p");
    });
    let mut data = b"data".to_vec();
    data.resize(512, 0);
    let (dir, result) = extract(&[block, data]);
    result.unwrap();
    assert_eq!(fs::read(dir.path().join("out/p/f.txt")).unwrap(), b"data");
}

#[test]
fn a_star_header_has_a_131_byte_prefix_as_in_go() {
    // With the trailer `tar\0`, Go reads a 131-byte prefix, then the atime and ctime
    // fields: a prefix that fills its field does not run into them.
    let prefix = [b'p'; 131];
    let block = edited(header(b"f.txt", b'0', 0, 0o644), |b| {
        b[345..476].copy_from_slice(&prefix);
        b[476..488].copy_from_slice(b"00000000000\0");
        b[488..500].copy_from_slice(b"00000000000\0");
        b[508..512].copy_from_slice(b"tar\0");
    });
    let (dir, result) = extract(&[block]);
    result.unwrap();
    assert_eq!(names(dir.path()), [String::from_utf8(prefix.to_vec()).unwrap()]);
}

#[test]
fn a_gnu_header_with_unparsable_times_is_refused_where_go_reads_them_as_a_prefix() {
    // Go before 1.8 wrote a USTAR prefix over the GNU atime and ctime fields; Go still
    // reads it as a prefix when those fields do not parse (`p/f.txt`).
    let block = edited(header(b"f.txt", b'0', 0, 0o644), |b| {
        b[257..265].copy_from_slice(b"ustar  \0");
        b[345..346].copy_from_slice(b"p");
    });
    assert_refused(&[block], "invalid atime field");
}

#[test]
fn names_with_dot_dot_slash_inside_them_are_refused_as_flux_does() {
    // Flux's validRelPath refuses any name containing `../`, not only `..` components.
    assert_refused(&[entry(b"a../b", b'0', 0o644, b"x")], "which Flux refuses");
}
