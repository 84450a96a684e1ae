//! Tar streams built byte by byte, so that tests can write what well-behaved writers
//! refuse: lying sizes, bad checksums, conflicting extension headers, odd type flags.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write;

use flate2::{Compression, write::GzEncoder};

pub(crate) const BLOCK: usize = 512;

/// One header block, USTAR by default: mode 0644, owner 0:0, mtime 1_700_000_000.
#[derive(Clone)]
pub(crate) struct Header {
    block: [u8; BLOCK],
    checksum: Option<u32>,
}

impl Header {
    pub(crate) fn new(name: &[u8], type_flag: u8) -> Self {
        let mut header = Header {
            block: [0u8; BLOCK],
            checksum: None,
        };
        header.block[..name.len()].copy_from_slice(name);
        header.block[156] = type_flag;
        header.block[257..263].copy_from_slice(b"ustar\0");
        header.block[263..265].copy_from_slice(b"00");
        header
            .octal(108..116, 0)
            .octal(116..124, 0)
            .mode(0o644)
            .size(0)
            .mtime(1_700_000_000)
    }

    fn octal(mut self, range: std::ops::Range<usize>, value: u64) -> Self {
        let width = range.len() - 1;
        let text = format!("{value:0width$o}\0");
        assert_eq!(text.len(), range.len(), "{value:o} does not fit");
        self.block[range].copy_from_slice(text.as_bytes());
        self
    }

    pub(crate) fn size(self, size: u64) -> Self {
        self.octal(124..136, size)
    }

    /// The size in GNU base-256, for sizes octal cannot hold.
    pub(crate) fn size_base256(mut self, size: u64) -> Self {
        self.block[124..136].fill(0);
        self.block[124] = 0x80;
        self.block[128..136].copy_from_slice(&size.to_be_bytes());
        self
    }

    /// The whole mode field, file-type bits included.
    pub(crate) fn mode(self, mode: u32) -> Self {
        self.octal(100..108, u64::from(mode))
    }

    pub(crate) fn mtime(self, mtime: u64) -> Self {
        self.octal(136..148, mtime)
    }

    /// Writes raw bytes into a field, e.g. a size with junk between its digits.
    pub(crate) fn raw_field(mut self, offset: usize, bytes: &[u8]) -> Self {
        self.block[offset..offset + bytes.len()].copy_from_slice(bytes);
        self
    }

    /// The USTAR prefix field (joined to the name with `/`).
    pub(crate) fn prefix(mut self, prefix: &[u8]) -> Self {
        self.block[345..345 + prefix.len()].copy_from_slice(prefix);
        self
    }

    /// Old-style (V7) header: no USTAR magic, so no prefix field.
    pub(crate) fn v7(mut self) -> Self {
        self.block[257..265].fill(0);
        self
    }

    /// Records a checksum other than the right one.
    pub(crate) fn checksum(mut self, checksum: u32) -> Self {
        self.checksum = Some(checksum);
        self
    }

    pub(crate) fn bytes(&self) -> [u8; BLOCK] {
        let mut block = self.block;
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        let sum = self.checksum.unwrap_or(sum);
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        block
    }
}

/// A tar stream under construction.
#[derive(Default)]
pub(crate) struct Tar {
    out: Vec<u8>,
}

impl Tar {
    pub(crate) fn new() -> Self {
        Tar::default()
    }

    /// A header followed by `data`, padded to the block size.
    pub(crate) fn entry(mut self, header: Header, data: &[u8]) -> Self {
        self.out.extend_from_slice(&header.bytes());
        self.out.extend_from_slice(data);
        self.pad()
    }

    pub(crate) fn file(self, name: &str, data: &[u8]) -> Self {
        let header = Header::new(name.as_bytes(), b'0').size(data.len() as u64);
        self.entry(header, data)
    }

    pub(crate) fn dir(self, name: &str) -> Self {
        self.entry(Header::new(name.as_bytes(), b'5').mode(0o755), b"")
    }

    /// A PAX extended header for the next entry.
    pub(crate) fn pax(self, records: &[(&str, &[u8])]) -> Self {
        let payload = pax_records(records);
        let header = Header::new(b"PaxHeaders.0/entry", b'x').size(payload.len() as u64);
        self.entry(header, &payload)
    }

    /// A GNU long-name header for the next entry.
    pub(crate) fn gnu_long_name(self, name: &[u8]) -> Self {
        let mut payload = name.to_vec();
        payload.push(0);
        let header = Header::new(b"././@LongLink", b'L').size(payload.len() as u64);
        self.entry(header, &payload)
    }

    pub(crate) fn raw(mut self, bytes: &[u8]) -> Self {
        self.out.extend_from_slice(bytes);
        self
    }

    pub(crate) fn pad(mut self) -> Self {
        self.out.resize(self.out.len().div_ceil(BLOCK) * BLOCK, 0);
        self
    }

    /// The stream with its end marker (two zero blocks).
    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.extend_from_slice(&[0u8; 2 * BLOCK]);
        self.out
    }

    /// The stream as it is, without an end marker.
    pub(crate) fn unfinished(self) -> Vec<u8> {
        self.out
    }
}

/// PAX records, each `"<len> <key>=<value>\n"` with the length counting itself.
pub(crate) fn pax_records(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let body = key.len() + value.len() + 3; // space, '=', newline
        let mut len = body + 1;
        while len != body + len.to_string().len() {
            len = body + len.to_string().len();
        }
        out.extend_from_slice(format!("{len} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(data).unwrap();
    encoder.finish().unwrap()
}

/// A raw header with the given fields.
pub(crate) fn header(name: &str, type_flag: u8, size: u64, mode: u32, mtime: u64) -> [u8; BLOCK] {
    Header::new(name.as_bytes(), type_flag)
        .size(size)
        .mode(mode)
        .mtime(mtime)
        .bytes()
}

/// A tar stream of (name, type, content) entries: directories 0755, others 0644.
pub(crate) fn tar_of(entries: &[(&str, u8, &[u8])]) -> Vec<u8> {
    let mut tar = Tar::new();
    for (name, type_flag, content) in entries {
        let mode = if *type_flag == b'5' { 0o755 } else { 0o644 };
        let header = Header::new(name.as_bytes(), *type_flag)
            .size(content.len() as u64)
            .mode(mode);
        tar = tar.entry(header, content);
    }
    tar.finish()
}

/// A `python3` whose `tarfile` has extraction filters (3.12, and 3.8.17+ backports),
/// to compare extractions with an independent reader; `None` if there is none.
pub(crate) fn python3() -> Option<&'static str> {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import tarfile; tarfile.data_filter"])
        .output()
        .ok()?;
    probe.status.success().then_some("python3")
}
