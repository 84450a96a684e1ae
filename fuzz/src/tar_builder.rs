//! Tar archives described by fuzz input, written byte by byte (so any field can be
//! wrong), and a model of what Flux's `tar.Untar` (Go's `archive/tar`) plus this
//! crate's stricter rules make of them.
//!
//! The model covers what it can state exactly: names, types, sizes, the size cap,
//! extension headers and conflicts between entries. For input outside that, or that
//! touches a known open difference from Go (see [`Divergence`]), it answers
//! [`Expected::Unknown`] and only the general invariants apply.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
};

use arbitrary::Arbitrary;

use crate::PLANTED;

const BLOCK: usize = 512;

/// The [`Divergence`]s still open: inputs that touch one are not held to Go's
/// behaviour (they are reported in `docs/security.md`, "Fuzzing", with reproducers in
/// `crates/storage/tests/untar_go_parity.rs`). Remove each one once it is fixed.
///
/// `FLUX_FUZZ_EXPECT_GO=all` (or a comma-separated list of names, such as
/// `HeaderOnlySize,ModeTypeBits`) holds inputs to Go's behaviour anyway, to check a fix.
pub const OPEN_DIVERGENCES: &[Divergence] = &[
    Divergence::HeaderOnlySize,
    Divergence::GnuNameOverPaxPath,
    Divergence::LastPaxHeaderOnly,
    Divergence::ModeTypeBits,
    Divergence::OldTypeFlagName,
    Divergence::EmptyPaxValue,
];

/// Whether inputs touching `divergence` are held to Go's behaviour.
fn expect_go(divergence: Divergence) -> bool {
    static ENV: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    let env = ENV.get_or_init(|| std::env::var("FLUX_FUZZ_EXPECT_GO").ok());
    match env.as_deref() {
        Some("all") => true,
        Some(list)
            if list
                .split(',')
                .any(|name| name.trim() == format!("{divergence:?}")) =>
        {
            true
        }
        _ => !OPEN_DIVERGENCES.contains(&divergence),
    }
}

/// Known differences between this crate's tar reader and Go's `archive/tar`, where
/// both accept an archive but extract different trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Divergence {
    /// A header-only entry (link, device, directory, FIFO) with a non-zero size:
    /// Go reads no data for it, this reader does (issue 12, defect 2).
    HeaderOnlySize,
    /// A GNU long name and a PAX `path` for the same entry: Go takes the GNU name.
    GnuNameOverPaxPath,
    /// Several PAX `x` headers before one entry: Go uses the last only.
    LastPaxHeaderOnly,
    /// File-type bits in the mode field (`0o40000` directory, `0o120000` symlink, …):
    /// Go's `FileInfo().Mode()`, which Flux switches on, honours them.
    ModeTypeBits,
    /// Type `'\0'` with a trailing `/` only in the PAX or GNU name, or type `'7'`
    /// with a trailing `/`: Go decides directory-or-file on the final name, and
    /// never turns a `'7'` into a directory.
    OldTypeFlagName,
    /// A PAX record with an empty value: Go deletes the key (PAX semantics).
    EmptyPaxValue,
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Archive {
    pub entries: Vec<Entry>,
    pub end: End,
    pub compression: Compression,
    pub cap: Cap,
    pub skip_symlinks: bool,
    pub plant: bool,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Cap {
    Unlimited,
    Zero,
    Small,
    Default,
}

impl Cap {
    pub fn bytes(self) -> Option<u64> {
        match self {
            Cap::Unlimited => None,
            Cap::Zero => Some(0),
            Cap::Small => Some(700),
            Cap::Default => Some(100 << 20),
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum End {
    TwoZeroBlocks,
    OneZeroBlock,
    Nothing,
    /// One zero block, then a block that is not zero: corruption.
    ZeroThenData,
    /// The end marker, then bytes that are not tar (tolerated up to 1 MiB).
    TrailingGarbage(Vec<u8>),
    /// The stream cut `n` bytes before its end.
    Truncated(u16),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Compression {
    None,
    Gzip,
    /// Two gzip members, split at this offset of the tar stream.
    TwoMembers(u16),
    /// A wrong CRC in the gzip trailer.
    BadCrc,
    /// The gzip stream cut short.
    Truncated(u16),
}

#[derive(Arbitrary, Debug, Clone)]
pub struct Entry {
    pub name: Name,
    pub encoding: NameEncoding,
    pub kind: Kind,
    /// Permission and special bits (the low 12 bits are used).
    pub mode: u16,
    pub type_bits: TypeBits,
    pub size: SizeSpec,
    pub data: Vec<u8>,
    pub mtime: Mtime,
    pub magic: Magic,
    pub checksum: Checksum,
    pub pax: Vec<PaxRecord>,
    /// A PAX global header (`g`) before the entry.
    pub global: Option<Vec<PaxRecord>>,
    /// An earlier PAX header (`x`) with these records, before the one of the entry.
    pub earlier_pax: Option<Vec<PaxRecord>>,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Name {
    Parts {
        parts: Vec<Part>,
        dot_slash: bool,
        trailing_slash: bool,
    },
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Part {
    A,
    B,
    Dir,
    Unicode,
    /// A component of this many bytes (1 to 255).
    Long(u8),
    /// `evil` or `abs`, the symlinks planted in the destination.
    Planted(bool),
    Dot,
    DotDot,
    Backslash,
    Nul,
    Empty,
    Raw(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum NameEncoding {
    /// The name and (USTAR) prefix fields, truncated if it does not fit.
    Header,
    /// A PAX `path` record; the header holds a decoy.
    Pax { decoy: Name },
    /// A GNU long-name (`L`) entry; the header holds a decoy.
    Gnu { decoy: Name },
    /// Both, with the PAX `path` a decoy: Go takes the GNU name.
    GnuAndPax { decoy: Name, pax_first: bool },
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Kind {
    File,
    /// Type `'\0'`: a file, or a directory if the name ends with `/`.
    OldFile,
    /// Type `'7'`, contiguous file.
    Contiguous,
    Dir,
    Symlink(Name),
    Hardlink(Name),
    Char,
    Block,
    Fifo,
    GnuSparse,
    Other(u8),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeBits {
    None,
    Regular,
    Dir,
    Symlink,
    Fifo,
    Char,
    Block,
    Socket,
}

impl TypeBits {
    fn bits(self) -> u32 {
        match self {
            TypeBits::None => 0,
            TypeBits::Regular => 0o100000,
            TypeBits::Dir => 0o40000,
            TypeBits::Symlink => 0o120000,
            TypeBits::Fifo => 0o10000,
            TypeBits::Char => 0o20000,
            TypeBits::Block => 0o60000,
            TypeBits::Socket => 0o140000,
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum SizeSpec {
    /// The data's length, in octal.
    Exact,
    /// The data's length, GNU base-256.
    Base256,
    /// Header size 0, the real one in a PAX `size` record.
    Pax,
    /// A size that need not match the data.
    Lie(u32),
    /// A PAX `size` that need not match the data.
    PaxLie(u32),
    /// A raw size field.
    Raw([u8; 12]),
}

#[derive(Arbitrary, Debug, Clone)]
pub enum Mtime {
    Octal(u32),
    NegativeBase256(u32),
    Raw([u8; 12]),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Magic {
    Ustar,
    Gnu,
    V7,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    Unsigned,
    Signed,
    Wrong,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum PaxRecord {
    Path(Name),
    Size(u32),
    Mtime(i64),
    Linkpath(Name),
    Comment(Vec<u8>),
    /// `GNU.sparse.major=1`: refused.
    Sparse,
    Empty(PaxKey),
    /// Bytes appended to the records as they are: usually malformed.
    Garbage(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum PaxKey {
    Path,
    Size,
    Mtime,
    Comment,
}

impl PaxKey {
    fn key(self) -> &'static str {
        match self {
            PaxKey::Path => "path",
            PaxKey::Size => "size",
            PaxKey::Mtime => "mtime",
            PaxKey::Comment => "comment",
        }
    }
}

impl Name {
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Name::Raw(raw) => raw.iter().copied().take(400).collect(),
            Name::Parts {
                parts,
                dot_slash,
                trailing_slash,
            } => {
                let mut out = Vec::new();
                if *dot_slash {
                    out.extend_from_slice(b"./");
                }
                for (i, part) in parts.iter().take(8).enumerate() {
                    if i > 0 {
                        out.push(b'/');
                    }
                    out.extend_from_slice(&part.bytes());
                }
                if *trailing_slash {
                    out.push(b'/');
                }
                out
            }
        }
    }
}

impl Part {
    fn bytes(&self) -> Vec<u8> {
        match self {
            Part::A => b"a".to_vec(),
            Part::B => b"b.txt".to_vec(),
            Part::Dir => b"dir".to_vec(),
            Part::Unicode => "ünï".as_bytes().to_vec(),
            Part::Long(n) => vec![b'l'; usize::from((*n).max(1))],
            Part::Planted(abs) => PLANTED[usize::from(*abs)].as_bytes().to_vec(),
            Part::Dot => b".".to_vec(),
            Part::DotDot => b"..".to_vec(),
            Part::Backslash => b"a\\b".to_vec(),
            Part::Nul => b"a\0b".to_vec(),
            Part::Empty => Vec::new(),
            Part::Raw(raw) => raw.iter().copied().take(64).collect(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Writing

fn put(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
}

fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    if text.len() <= width {
        put(field, text.as_bytes());
        field[width] = 0;
    } else {
        base256(field, value as i64);
    }
}

fn base256(field: &mut [u8], value: i64) {
    let bytes = value.to_be_bytes();
    let fill = if value < 0 { 0xff } else { 0 };
    for b in field.iter_mut() {
        *b = fill;
    }
    let n = field.len();
    field[n - 8..].copy_from_slice(&bytes);
    field[0] |= 0x80;
}

/// The fields of one header block, before the checksum.
struct Header {
    name: Vec<u8>,
    prefix: Vec<u8>,
    mode: u32,
    size: [u8; 12],
    mtime: [u8; 12],
    type_flag: u8,
    link: Vec<u8>,
    magic: Magic,
    checksum: Checksum,
}

impl Header {
    fn simple(name: &[u8], type_flag: u8, size: u64) -> Header {
        let mut size_field = [0u8; 12];
        octal(&mut size_field, size);
        let mut mtime = [0u8; 12];
        octal(&mut mtime, 0);
        Header {
            name: name.to_vec(),
            prefix: Vec::new(),
            mode: 0o644,
            size: size_field,
            mtime,
            type_flag,
            link: Vec::new(),
            magic: Magic::Ustar,
            checksum: Checksum::Unsigned,
        }
    }

    fn block(&self) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        put(&mut b[0..100], &self.name);
        octal(&mut b[100..108], u64::from(self.mode));
        octal(&mut b[108..116], 0);
        octal(&mut b[116..124], 0);
        b[124..136].copy_from_slice(&self.size);
        b[136..148].copy_from_slice(&self.mtime);
        b[156] = self.type_flag;
        put(&mut b[157..257], &self.link);
        match self.magic {
            Magic::Ustar => {
                b[257..263].copy_from_slice(b"ustar\0");
                b[263..265].copy_from_slice(b"00");
                put(&mut b[345..500], &self.prefix);
            }
            Magic::Gnu => b[257..265].copy_from_slice(b"ustar  \0"),
            Magic::V7 => {}
        }
        let (mut unsigned, mut signed) = (0u32, 0i32);
        for (i, &x) in b.iter().enumerate() {
            let x = if (148..156).contains(&i) { b' ' } else { x };
            unsigned += u32::from(x);
            signed += i32::from(x as i8);
        }
        let sum = match self.checksum {
            Checksum::Unsigned => unsigned as i64,
            Checksum::Signed => i64::from(signed),
            Checksum::Wrong => unsigned as i64 + 1,
        };
        if sum >= 0 {
            put(&mut b[148..156], format!("{sum:06o}\0 ").as_bytes());
        } else {
            base256(&mut b[148..156], sum);
        }
        b
    }
}

fn push_padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(BLOCK) * BLOCK, 0);
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    // "<len> key=value\n", where <len> counts its own digits.
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} {key}=").as_bytes());
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn pax_payload(records: &[PaxRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records.iter().take(8) {
        match record {
            PaxRecord::Path(name) => pax_record(&mut out, "path", &name.bytes()),
            PaxRecord::Size(n) => pax_record(&mut out, "size", n.to_string().as_bytes()),
            PaxRecord::Mtime(t) => pax_record(&mut out, "mtime", t.to_string().as_bytes()),
            PaxRecord::Linkpath(name) => pax_record(&mut out, "linkpath", &name.bytes()),
            PaxRecord::Comment(c) => pax_record(&mut out, "comment", &c[..c.len().min(64)]),
            PaxRecord::Sparse => pax_record(&mut out, "GNU.sparse.major", b"1"),
            PaxRecord::Empty(key) => pax_record(&mut out, key.key(), b""),
            PaxRecord::Garbage(g) => out.extend_from_slice(&g[..g.len().min(64)]),
        }
    }
    out
}

/// Splits a name into USTAR prefix and name at a `/` if it fits, as tar writers do.
fn ustar_split(name: &[u8]) -> Option<(&[u8], &[u8])> {
    if name.len() <= 100 {
        return None;
    }
    (0..name.len()).rev().find_map(|i| {
        (name[i] == b'/' && i <= 155 && name.len() - i - 1 <= 100 && i > 0)
            .then(|| (&name[..i], &name[i + 1..]))
    })
}

impl Kind {
    fn type_flag(&self) -> u8 {
        match self {
            Kind::File => b'0',
            Kind::OldFile => 0,
            Kind::Contiguous => b'7',
            Kind::Dir => b'5',
            Kind::Symlink(_) => b'2',
            Kind::Hardlink(_) => b'1',
            Kind::Char => b'3',
            Kind::Block => b'4',
            Kind::Fifo => b'6',
            Kind::GnuSparse => b'S',
            // Keep the extension types out: they are written by the encodings.
            Kind::Other(t) if b"xgLK".contains(t) => b'V',
            Kind::Other(t) => *t,
        }
    }
}

impl Entry {
    fn data(&self) -> &[u8] {
        &self.data[..self.data.len().min(2048)]
    }

    fn header_size(&self) -> [u8; 12] {
        let mut field = [0u8; 12];
        let len = self.data().len() as u64;
        match &self.size {
            SizeSpec::Exact => octal(&mut field, len),
            SizeSpec::Base256 => base256(&mut field, len as i64),
            SizeSpec::Pax | SizeSpec::PaxLie(_) => octal(&mut field, 0),
            SizeSpec::Lie(n) => octal(&mut field, u64::from(*n)),
            SizeSpec::Raw(raw) => field = *raw,
        }
        field
    }

    /// Whether the entry gets a PAX header of its own (not all records write bytes).
    fn own_pax_written(&self) -> bool {
        matches!(
            self.encoding,
            NameEncoding::Pax { .. } | NameEncoding::GnuAndPax { .. }
        ) || matches!(self.size, SizeSpec::Pax | SizeSpec::PaxLie(_))
            || !pax_payload(&self.pax).is_empty()
    }

    fn write(&self, out: &mut Vec<u8>) {
        let name = self.name.bytes();
        if let Some(records) = &self.global {
            let payload = pax_payload(records);
            out.extend_from_slice(&Header::simple(b"pax_global_header", b'g', payload.len() as u64).block());
            push_padded(out, &payload);
        }
        if let Some(records) = &self.earlier_pax {
            let payload = pax_payload(records);
            out.extend_from_slice(
                &Header::simple(b"PaxHeaders.0/earlier", b'x', payload.len() as u64).block(),
            );
            push_padded(out, &payload);
        }
        let mut records = Vec::new();
        let (header_name, gnu_name) = match &self.encoding {
            NameEncoding::Header => (name.clone(), None),
            NameEncoding::Pax { decoy } => {
                pax_record(&mut records, "path", &name);
                (decoy.bytes(), None)
            }
            NameEncoding::Gnu { decoy } => (decoy.bytes(), Some(name.clone())),
            NameEncoding::GnuAndPax { decoy, .. } => {
                pax_record(&mut records, "path", &decoy.bytes());
                (decoy.bytes(), Some(name.clone()))
            }
        };
        match &self.size {
            SizeSpec::Pax => pax_record(&mut records, "size", self.data().len().to_string().as_bytes()),
            SizeSpec::PaxLie(n) => pax_record(&mut records, "size", n.to_string().as_bytes()),
            _ => {}
        }
        records.extend_from_slice(&pax_payload(&self.pax));
        let pax_first = matches!(self.encoding, NameEncoding::GnuAndPax { pax_first: true, .. });
        let write_pax = |out: &mut Vec<u8>| {
            if !records.is_empty() {
                out.extend_from_slice(
                    &Header::simple(b"PaxHeaders.0/entry", b'x', records.len() as u64).block(),
                );
                push_padded(out, &records);
            }
        };
        if pax_first {
            write_pax(out);
        }
        if let Some(gnu) = &gnu_name {
            let mut payload = gnu.clone();
            payload.push(0);
            let mut header = Header::simple(b"././@LongLink", b'L', payload.len() as u64);
            header.magic = Magic::Gnu;
            out.extend_from_slice(&header.block());
            push_padded(out, &payload);
        }
        if !pax_first {
            write_pax(out);
        }
        let (prefix, short) = match (self.magic, ustar_split(&header_name)) {
            (Magic::Ustar, Some((prefix, short))) => (prefix.to_vec(), short.to_vec()),
            _ => (Vec::new(), header_name.clone()),
        };
        let mut mtime = [0u8; 12];
        match &self.mtime {
            Mtime::Octal(t) => octal(&mut mtime, u64::from(*t)),
            Mtime::NegativeBase256(t) => base256(&mut mtime, -i64::from(*t) - 1),
            Mtime::Raw(raw) => mtime = *raw,
        }
        let link = match &self.kind {
            Kind::Symlink(target) | Kind::Hardlink(target) => target.bytes(),
            _ => Vec::new(),
        };
        let header = Header {
            name: short,
            prefix,
            mode: u32::from(self.mode & 0o7777) | self.type_bits.bits(),
            size: self.header_size(),
            mtime,
            type_flag: self.kind.type_flag(),
            link,
            magic: self.magic,
            checksum: self.checksum,
        };
        out.extend_from_slice(&header.block());
        if !self.data().is_empty() {
            push_padded(out, self.data());
        }
    }
}

impl Archive {
    /// The uncompressed tar stream.
    pub fn tar(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in self.entries.iter().take(12) {
            entry.write(&mut out);
        }
        match &self.end {
            End::TwoZeroBlocks => out.extend_from_slice(&[0u8; 2 * BLOCK]),
            End::OneZeroBlock => out.extend_from_slice(&[0u8; BLOCK]),
            End::Nothing => {}
            End::ZeroThenData => {
                out.extend_from_slice(&[0u8; BLOCK]);
                out.extend_from_slice(&Header::simple(b"after-the-end", b'0', 0).block());
            }
            End::TrailingGarbage(garbage) => {
                out.extend_from_slice(&[0u8; 2 * BLOCK]);
                out.extend_from_slice(&garbage[..garbage.len().min(1024)]);
            }
            End::Truncated(n) => {
                let n = usize::from(*n).min(out.len());
                out.truncate(out.len() - n);
            }
        }
        out
    }

    /// The bytes given to `untar`, and whether they are gzipped.
    pub fn bytes(&self) -> (Vec<u8>, bool) {
        let tar = self.tar();
        let gzip = |data: &[u8]| {
            let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(data).expect("gzip in memory");
            encoder.finish().expect("gzip in memory")
        };
        match &self.compression {
            Compression::None => (tar, false),
            Compression::Gzip => (gzip(&tar), true),
            Compression::TwoMembers(at) => {
                let at = usize::from(*at).min(tar.len());
                let mut out = gzip(&tar[..at]);
                out.extend_from_slice(&gzip(&tar[at..]));
                (out, true)
            }
            Compression::BadCrc => {
                let mut out = gzip(&tar);
                let crc = out.len() - 8;
                out[crc] ^= 0x01;
                (out, true)
            }
            Compression::Truncated(n) => {
                let mut out = gzip(&tar);
                let n = usize::from(*n).clamp(1, out.len());
                out.truncate(out.len() - n);
                (out, true)
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// The model

/// What `untar` must do with an archive.
#[derive(Debug, PartialEq, Eq)]
pub enum Expected {
    /// Succeed, leaving exactly this tree (planted symlinks aside).
    Tree(Model),
    /// Fail with this kind of error.
    Error(ErrorClass),
    /// Fail, with any error.
    AnyError,
    /// Outside the model: only the general invariants apply.
    Unknown,
}

/// The kinds of [`UntarError`](flux_artifact_storage::UntarError) the model tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Stream,
    TooLarge,
    Name,
    Symlink,
    Hardlink,
    Unsupported,
    Write,
}

/// The tree an extraction leaves, with what its summary counts.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Model {
    pub nodes: BTreeMap<PathBuf, Option<Vec<u8>>>,
    pub files: u64,
    pub directories: u64,
    pub bytes: u64,
}

enum Stop {
    Error(ErrorClass),
    Unknown,
}

/// Reads the name the way a tar reader does: NUL ends each field.
fn field(bytes: &[u8], len: usize) -> Vec<u8> {
    let bytes = &bytes[..bytes.len().min(len)];
    bytes.iter().copied().take_while(|&b| b != 0).collect()
}

/// The name a reader sees in the header block the writer made of `name`.
fn header_name(name: &[u8], magic: Magic) -> Vec<u8> {
    match (magic, ustar_split(name)) {
        (Magic::Ustar, Some((prefix, short))) => {
            let (prefix, short) = (field(prefix, 155), field(short, 100));
            if prefix.is_empty() {
                short
            } else {
                [&prefix[..], b"/", &short[..]].concat()
            }
        }
        _ => field(name, 100),
    }
}

/// What the records of one PAX header set, or why they stop the extraction.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    size: Option<u64>,
    touched_empty: bool,
}

/// Applies records as the reader does; `records` are those the writer wrote (it writes
/// at most 8 of an entry's list, plus the ones its encoding needs).
fn model_pax(records: &[PaxRecord], pax: &mut Pax) -> Result<(), Stop> {
    for record in records {
        match record {
            PaxRecord::Path(name) => {
                let name = name.bytes();
                if name.contains(&0) {
                    return Err(Stop::Error(ErrorClass::Stream));
                }
                if name.is_empty() {
                    pax.touched_empty = true;
                }
                pax.path = Some(name);
            }
            PaxRecord::Size(n) => pax.size = Some(u64::from(*n)),
            PaxRecord::Mtime(_) | PaxRecord::Linkpath(_) | PaxRecord::Comment(_) => {}
            PaxRecord::Sparse => return Err(Stop::Error(ErrorClass::Stream)),
            PaxRecord::Empty(_) => {
                pax.touched_empty = true;
                return Err(Stop::Unknown);
            }
            PaxRecord::Garbage(g) if g.is_empty() => {}
            PaxRecord::Garbage(_) => return Err(Stop::Unknown),
        }
    }
    Ok(())
}

impl Archive {
    /// What `untar` must do with [`bytes`](Self::bytes), given whether the
    /// destination holds the planted symlinks.
    pub fn expected(&self) -> Expected {
        let stream_ok = match &self.compression {
            Compression::None | Compression::Gzip | Compression::TwoMembers(_) => true,
            Compression::BadCrc | Compression::Truncated(_) => false,
        };
        let outcome = self.model_entries();
        let outcome = match (outcome, &self.end) {
            // Cut anywhere, possibly before the entry that fails the model.
            (_, End::Truncated(n)) if *n > 0 => Err(Stop::Unknown),
            (Err(stop), _) => Err(stop),
            (Ok(_), End::ZeroThenData) => Err(Stop::Error(ErrorClass::Stream)),
            (Ok(model), _) => Ok(model),
        };
        match (outcome, stream_ok) {
            (Ok(model), true) => Expected::Tree(model),
            (Ok(_), false) => Expected::Error(ErrorClass::Stream),
            (Err(Stop::Error(class)), true) => Expected::Error(class),
            // A corrupt gzip stream may fail before the entry that fails the model.
            (Err(Stop::Error(_)), false) => Expected::AnyError,
            (Err(Stop::Unknown), _) => Expected::Unknown,
        }
    }

    fn model_entries(&self) -> Result<Model, Stop> {
        let mut model = Model::default();
        let mut declared: u64 = 0;
        let cap = self.cap.bytes();
        for entry in self.entries.iter().take(12) {
            let divergence = |d: Divergence| if expect_go(d) { Ok(()) } else { Err(Stop::Unknown) };
            if entry.checksum == Checksum::Wrong {
                return Err(Stop::Error(ErrorClass::Stream));
            }
            // Extension headers, as Go applies them: only the last `x` header counts,
            // and a GNU long name beats a PAX path.
            let mut pax = Pax::default();
            if let Some(earlier) = &entry.earlier_pax {
                let mut first = Pax::default();
                model_pax(&earlier[..earlier.len().min(8)], &mut first)?;
                if entry.own_pax_written() {
                    if first.path.is_some() || first.size.is_some() {
                        divergence(Divergence::LastPaxHeaderOnly)?;
                    }
                } else {
                    // The earlier header is the last one.
                    pax = first;
                }
            }
            // Global headers change nothing here (Go hands them to Flux as entries of
            // their own, which this crate deliberately does not); Go refuses malformed
            // ones, the reader here skips them unparsed.
            if let Some(global) = &entry.global {
                let malformed = global.iter().take(8).any(|r| match r {
                    PaxRecord::Garbage(g) => !g.is_empty(),
                    PaxRecord::Path(n) | PaxRecord::Linkpath(n) => n.bytes().contains(&0),
                    _ => false,
                });
                if malformed {
                    return Err(Stop::Unknown);
                }
            }
            let mut own_records = Vec::new();
            let real_name = entry.name.bytes();
            let mut gnu_name = None;
            match &entry.encoding {
                NameEncoding::Header => {}
                NameEncoding::Pax { .. } => own_records.push(PaxRecord::Path(entry.name.clone())),
                NameEncoding::Gnu { .. } => gnu_name = Some(real_name.clone()),
                NameEncoding::GnuAndPax { decoy, .. } => {
                    own_records.push(PaxRecord::Path(decoy.clone()));
                    gnu_name = Some(real_name.clone());
                }
            }
            match &entry.size {
                SizeSpec::Pax => own_records.push(PaxRecord::Size(entry.data().len() as u32)),
                SizeSpec::PaxLie(n) => own_records.push(PaxRecord::Size(*n)),
                _ => {}
            }
            own_records.extend(entry.pax.iter().take(8).cloned());
            model_pax(&own_records, &mut pax)?;
            if pax.touched_empty {
                divergence(Divergence::EmptyPaxValue)?;
            }
            let header_name_bytes = match &entry.encoding {
                NameEncoding::Header => real_name.clone(),
                NameEncoding::Pax { decoy }
                | NameEncoding::Gnu { decoy }
                | NameEncoding::GnuAndPax { decoy, .. } => decoy.bytes(),
            };
            let header_name = header_name(&header_name_bytes, entry.magic);
            let gnu_name = gnu_name.map(|n| field(&n, usize::MAX));
            if let (Some(gnu), Some(path)) = (&gnu_name, &pax.path)
                && gnu != path
                && !gnu.is_empty()
            {
                divergence(Divergence::GnuNameOverPaxPath)?;
            }
            // Go: the GNU name if non-empty, else the PAX path, else the header's.
            let name = match (&gnu_name, &pax.path) {
                (Some(gnu), _) if !gnu.is_empty() => gnu.clone(),
                (_, Some(path)) => path.clone(),
                _ => header_name.clone(),
            };
            if gnu_name.as_ref().is_some_and(Vec::is_empty) && pax.path.is_none() {
                // An empty GNU name: Go falls back to the header's, as does the reader.
                return Err(Stop::Unknown);
            }

            // Sizes.
            let data_len = entry.data().len() as u64;
            let header_size = match &entry.size {
                SizeSpec::Exact | SizeSpec::Base256 => data_len,
                SizeSpec::Pax | SizeSpec::PaxLie(_) => 0,
                SizeSpec::Lie(n) => u64::from(*n),
                SizeSpec::Raw(_) => return Err(Stop::Unknown),
            };
            let size = pax.size.unwrap_or(header_size);
            if !matches!(entry.mtime, Mtime::Octal(_) | Mtime::NegativeBase256(_)) {
                return Err(Stop::Unknown);
            }

            // The type, as Go and Flux decide it.
            let mut type_flag = entry.kind.type_flag();
            if type_flag == 0 {
                let header_says_dir = header_name.ends_with(b"/");
                let go_says_dir = name.ends_with(b"/");
                if header_says_dir != go_says_dir {
                    divergence(Divergence::OldTypeFlagName)?;
                }
                type_flag = if go_says_dir { b'5' } else { b'0' };
            }
            if type_flag == b'7' && header_name.ends_with(b"/") {
                divergence(Divergence::OldTypeFlagName)?;
            }
            // Go reads no data for header-only types, whatever their size says.
            let header_only = matches!(type_flag, b'1'..=b'6');
            if header_only {
                if data_len != 0 {
                    return Err(Stop::Unknown);
                }
                if size != 0 {
                    divergence(Divergence::HeaderOnlySize)?;
                }
            } else if size != data_len {
                // The data blocks written are not what the reader will take.
                return Err(Stop::Unknown);
            }
            if !matches!(entry.type_bits, TypeBits::None | TypeBits::Regular) {
                divergence(Divergence::ModeTypeBits)?;
            }

            declared = declared.saturating_add(size);
            if cap.is_some_and(|cap| declared > cap) {
                return Err(Stop::Error(ErrorClass::TooLarge));
            }
            let Some(path) = clean(&name) else {
                return Err(Stop::Error(ErrorClass::Name));
            };
            let planted = path
                .components()
                .next()
                .is_some_and(|c| PLANTED.iter().any(|p| c.as_os_str() == *p));
            if self.plant && planted {
                return Err(Stop::Unknown);
            }
            // Hard links, sparse files and unknown types are refused here (Go would
            // extract them as regular files); otherwise the decision is Flux's, on
            // `FileInfo().Mode()`, which joins the type flag and the mode's type bits.
            match type_flag {
                b'1' => return Err(Stop::Error(ErrorClass::Hardlink)),
                b'0' | b'7' | b'2'..=b'6' => {}
                _ => return Err(Stop::Error(ErrorClass::Unsupported)),
            }
            let bits = entry.type_bits;
            let is_dir = type_flag == b'5' || bits == TypeBits::Dir;
            let is_symlink = type_flag == b'2' || bits == TypeBits::Symlink;
            let is_regular =
                matches!(type_flag, b'0' | b'7') && matches!(bits, TypeBits::None | TypeBits::Regular);
            let kind = if is_regular {
                Some(true)
            } else if is_dir {
                Some(false)
            } else if is_symlink && self.skip_symlinks {
                None
            } else if is_symlink {
                return Err(Stop::Error(ErrorClass::Symlink));
            } else {
                return Err(Stop::Error(ErrorClass::Unsupported));
            };
            match kind {
                None => {}
                Some(false) => {
                    model.directories += 1;
                    make_dirs(&mut model, &path)?;
                }
                Some(true) => {
                    if path.as_os_str().is_empty() {
                        return Err(Stop::Error(ErrorClass::Name));
                    }
                    if let Some(parent) = path.parent() {
                        make_dirs(&mut model, parent)?;
                    }
                    if let Some(None) = model.nodes.get(&path) {
                        return Err(Stop::Error(ErrorClass::Write));
                    }
                    model.nodes.insert(path, Some(entry.data().to_vec()));
                    model.files += 1;
                    model.bytes += data_len;
                }
            }
        }
        Ok(model)
    }
}

fn make_dirs(model: &mut Model, path: &Path) -> Result<(), Stop> {
    let mut at = PathBuf::new();
    for part in path.components() {
        at.push(part);
        match model.nodes.get(&at) {
            Some(Some(_)) => return Err(Stop::Error(ErrorClass::Write)),
            Some(None) => {}
            None => {
                model.nodes.insert(at.clone(), None);
            }
        }
    }
    Ok(())
}

/// The rules of this crate's `untar` for names (stricter than Flux's): `None` if
/// refused, else the path without `.` and empty components.
fn clean(name: &[u8]) -> Option<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if name.is_empty() || name.contains(&0) || name.contains(&b'\\') || name[0] == b'/' {
        return None;
    }
    let mut path = PathBuf::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            part => path.push(std::ffi::OsStr::from_bytes(part)),
        }
    }
    Some(path)
}
