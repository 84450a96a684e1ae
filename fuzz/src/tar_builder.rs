//! Tar archives described by fuzz input, written byte by byte (so any field can be
//! wrong), and a model of what this crate's `untar` must make of them.
//!
//! The model states the reader's contract: it extracts exactly what Flux's `tar.Untar`
//! (Go's `archive/tar`) extracts, or refuses. It refuses where Go would refuse, and
//! also where readers disagree or Go's reading is lax: an entry with both a PAX path and
//! a GNU long name, an old-style entry that is a directory by its header name but not
//! by its extended name, a file name ending in `/`, an empty name, mode type bits that
//! contradict the type flag, junk in numeric fields, a global header between an
//! extension header and its entry, names Flux's `validRelPath` refuses. For input
//! outside what it states exactly it answers [`Expected::Unknown`]; the independent
//! Go model ([`crate::go_tar`]) still checks every extraction that succeeds.

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
};

use arbitrary::Arbitrary;

use crate::{
    PLANTED,
    go_tar::{self, parse_octal},
};

const BLOCK: usize = 512;

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
    /// A numeric field other than size, mode and mtime, written raw.
    pub other_field: Option<OtherField>,
    pub pax: Vec<PaxRecord>,
    /// A PAX global header (`g`), and where it goes among the entry's headers.
    pub global: Option<(Vec<PaxRecord>, GlobalAt)>,
    /// An earlier PAX header (`x`) with these records, before the one of the entry.
    pub earlier_pax: Option<Vec<PaxRecord>>,
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum GlobalAt {
    /// Before every other header of the entry.
    First,
    /// After the earlier PAX header, before the entry's own extension headers.
    AfterEarlier,
    /// Right before the entry's header, after all its extension headers.
    Last,
}

#[derive(Arbitrary, Debug, Clone)]
pub enum OtherField {
    Uid([u8; 8]),
    Gid([u8; 8]),
    DevMajor([u8; 8]),
    DevMinor([u8; 8]),
    /// GNU atime (offset 345), read only in GNU headers.
    GnuAtime([u8; 12]),
    /// STAR atime (offset 476), read only in STAR headers.
    StarAtime([u8; 12]),
}

impl OtherField {
    fn place(&self) -> (usize, &[u8]) {
        match self {
            OtherField::Uid(f) => (108, f),
            OtherField::Gid(f) => (116, f),
            OtherField::DevMajor(f) => (329, f),
            OtherField::DevMinor(f) => (337, f),
            OtherField::GnuAtime(f) => (345, f),
            OtherField::StarAtime(f) => (476, f),
        }
    }
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
    /// `a..`: a name, but Flux refuses any path containing `../`.
    DotDotSuffix,
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
    /// `ustar\0` with another version than `00`: still USTAR to Go.
    UstarVersion([u8; 2]),
    /// USTAR magic plus the STAR trailer `tar\0`: a 131-byte prefix, then atime and
    /// ctime fields.
    Star,
    /// GNU magic with a USTAR prefix written over the atime and ctime fields (what Go
    /// before 1.8 wrote); Go reads it as a prefix when those fields do not parse.
    GnuWithPrefix,
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
    /// A record of a known key with a value of a chosen shape.
    Keyed(PaxKey, PaxValue),
    /// `GNU.sparse.major=1`: refused.
    Sparse,
    Empty(PaxKey),
    /// Bytes appended to the records as they are: usually malformed.
    Garbage(Vec<u8>),
}

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaxKey {
    Path,
    Size,
    Mtime,
    Atime,
    Ctime,
    Uid,
    Gid,
    Uname,
    Gname,
    Linkpath,
    Comment,
    /// A key with a NUL in it.
    NulKey,
}

impl PaxKey {
    fn key(self) -> &'static [u8] {
        match self {
            PaxKey::Path => b"path",
            PaxKey::Size => b"size",
            PaxKey::Mtime => b"mtime",
            PaxKey::Atime => b"atime",
            PaxKey::Ctime => b"ctime",
            PaxKey::Uid => b"uid",
            PaxKey::Gid => b"gid",
            PaxKey::Uname => b"uname",
            PaxKey::Gname => b"gname",
            PaxKey::Linkpath => b"linkpath",
            PaxKey::Comment => b"comment",
            PaxKey::NulKey => b"SCHILY.x\0y",
        }
    }
}

#[derive(Arbitrary, Debug, Clone)]
pub enum PaxValue {
    Int(i64),
    /// `+n`.
    Plus(u32),
    /// `n.` followed by these bytes (digits make a valid fraction).
    Fraction(i64, Vec<u8>),
    /// Larger than `i64::MAX`.
    Huge,
    Raw(Vec<u8>),
}

impl PaxValue {
    fn bytes(&self) -> Vec<u8> {
        match self {
            PaxValue::Int(n) => n.to_string().into_bytes(),
            PaxValue::Plus(n) => format!("+{n}").into_bytes(),
            PaxValue::Fraction(n, f) => {
                let mut out = format!("{n}.").into_bytes();
                out.extend(f.iter().take(16));
                out
            }
            PaxValue::Huge => b"9223372036854775808".to_vec(),
            PaxValue::Raw(raw) => raw.iter().copied().take(32).collect(),
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
            Part::DotDotSuffix => b"a..".to_vec(),
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
    other_field: Option<OtherField>,
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
            other_field: None,
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
            Magic::Ustar | Magic::UstarVersion(_) | Magic::Star => {
                b[257..263].copy_from_slice(b"ustar\0");
                b[263..265].copy_from_slice(b"00");
                if let Magic::UstarVersion(version) = self.magic {
                    b[263..265].copy_from_slice(&version);
                }
                put(&mut b[345..500], &self.prefix);
                if self.magic == Magic::Star {
                    octal(&mut b[476..488], 0);
                    octal(&mut b[488..500], 0);
                    b[508..512].copy_from_slice(b"tar\0");
                }
            }
            Magic::Gnu => b[257..265].copy_from_slice(b"ustar  \0"),
            Magic::GnuWithPrefix => {
                b[257..265].copy_from_slice(b"ustar  \0");
                put(&mut b[345..500], &self.prefix);
            }
            Magic::V7 => {}
        }
        if let Some(field) = &self.other_field {
            let (at, bytes) = field.place();
            b[at..at + bytes.len()].copy_from_slice(bytes);
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

fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    // "<len> key=value\n", where <len> counts its own digits.
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(format!("{len} ").as_bytes());
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The bytes of `records` (all of them: callers take at most 8 of a fuzzed list).
fn pax_payload(records: &[PaxRecord]) -> Vec<u8> {
    let mut out = Vec::new();
    for record in records {
        match record {
            PaxRecord::Path(name) => pax_record(&mut out, b"path", &name.bytes()),
            PaxRecord::Size(n) => pax_record(&mut out, b"size", n.to_string().as_bytes()),
            PaxRecord::Mtime(t) => pax_record(&mut out, b"mtime", t.to_string().as_bytes()),
            PaxRecord::Linkpath(name) => pax_record(&mut out, b"linkpath", &name.bytes()),
            PaxRecord::Comment(c) => pax_record(&mut out, b"comment", &c[..c.len().min(64)]),
            PaxRecord::Keyed(key, value) => pax_record(&mut out, key.key(), &value.bytes()),
            PaxRecord::Sparse => pax_record(&mut out, b"GNU.sparse.major", b"1"),
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

/// One extension header written before an entry's header, in stream order.
enum Ext {
    Global(Vec<PaxRecord>),
    Pax(Vec<PaxRecord>),
    /// A GNU long name (the payload is the name and a NUL).
    LongName(Vec<u8>),
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

    /// The records of the entry's own PAX header (written only if they make bytes).
    fn own_records(&self) -> Vec<PaxRecord> {
        let mut records = Vec::new();
        match &self.encoding {
            NameEncoding::Header | NameEncoding::Gnu { .. } => {}
            NameEncoding::Pax { .. } => records.push(PaxRecord::Path(self.name.clone())),
            NameEncoding::GnuAndPax { decoy, .. } => records.push(PaxRecord::Path(decoy.clone())),
        }
        match &self.size {
            SizeSpec::Pax => records.push(PaxRecord::Size(self.data().len() as u32)),
            SizeSpec::PaxLie(n) => records.push(PaxRecord::Size(*n)),
            _ => {}
        }
        records.extend(self.pax.iter().take(8).cloned());
        records
    }

    /// The extension headers before the entry's header, in the order written.
    fn extensions(&self) -> Vec<Ext> {
        let mut out = Vec::new();
        let global = |at: GlobalAt| {
            self.global
                .as_ref()
                .filter(|(_, where_)| *where_ == at)
                .map(|(records, _)| Ext::Global(records.iter().take(8).cloned().collect()))
        };
        out.extend(global(GlobalAt::First));
        if let Some(records) = &self.earlier_pax {
            out.push(Ext::Pax(records.iter().take(8).cloned().collect()));
        }
        out.extend(global(GlobalAt::AfterEarlier));
        let own = self.own_records();
        let own = (!pax_payload(&own).is_empty()).then_some(Ext::Pax(own));
        let long = match &self.encoding {
            NameEncoding::Gnu { .. } | NameEncoding::GnuAndPax { .. } => {
                Some(Ext::LongName(self.name.bytes()))
            }
            _ => None,
        };
        if matches!(self.encoding, NameEncoding::GnuAndPax { pax_first: true, .. }) {
            out.extend(own);
            out.extend(long);
        } else {
            out.extend(long);
            out.extend(own);
        }
        out.extend(global(GlobalAt::Last));
        out
    }

    /// The name written in the header (the real one, or a decoy).
    fn header_name(&self) -> Vec<u8> {
        match &self.encoding {
            NameEncoding::Header => self.name.bytes(),
            NameEncoding::Pax { decoy }
            | NameEncoding::Gnu { decoy }
            | NameEncoding::GnuAndPax { decoy, .. } => decoy.bytes(),
        }
    }

    fn header(&self) -> Header {
        let header_name = self.header_name();
        let prefixed = matches!(
            self.magic,
            Magic::Ustar | Magic::UstarVersion(_) | Magic::Star | Magic::GnuWithPrefix
        );
        let (prefix, short) = match ustar_split(&header_name) {
            Some((prefix, short)) if prefixed => (prefix.to_vec(), short.to_vec()),
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
        Header {
            name: short,
            prefix,
            mode: u32::from(self.mode & 0o7777) | self.type_bits.bits(),
            size: self.header_size(),
            mtime,
            type_flag: self.kind.type_flag(),
            link,
            magic: self.magic,
            checksum: self.checksum,
            other_field: self.other_field.clone(),
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        for ext in self.extensions() {
            let (name, type_flag, payload, magic): (&[u8], u8, Vec<u8>, Magic) = match ext {
                Ext::Global(records) => (b"pax_global_header", b'g', pax_payload(&records), Magic::Ustar),
                Ext::Pax(records) => (b"PaxHeaders.0/entry", b'x', pax_payload(&records), Magic::Ustar),
                Ext::LongName(mut name) => {
                    name.push(0);
                    (b"././@LongLink", b'L', name, Magic::Gnu)
                }
            };
            let mut header = Header::simple(name, type_flag, payload.len() as u64);
            header.magic = magic;
            out.extend_from_slice(&header.block());
            push_padded(out, &payload);
        }
        out.extend_from_slice(&self.header().block());
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

/// The kinds of [`UntarError`](flux_artifact_storage::UntarError) the model tells
/// apart; [`Format`](ErrorClass::Format) is `UntarError::Malformed` with its reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    Stream,
    Format(FormatClass),
    TooLarge,
    Name,
    TypeMismatch,
    Symlink,
    Hardlink,
    Unsupported,
    Write,
}

/// The kinds of [`TarFormatError`](flux_artifact_storage::TarFormatError).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormatClass {
    Checksum,
    InvalidField,
    MalformedPax,
    ConflictingNames,
    AmbiguousDirectory,
    GlobalAfterExtension,
    Sparse,
    DataAfterZeroBlock,
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

impl From<FormatClass> for Stop {
    fn from(class: FormatClass) -> Stop {
        Stop::Error(ErrorClass::Format(class))
    }
}

/// The reader's numeric fields: Go's rules (octal or base-256), except that text after
/// a NUL inside the digits is refused rather than ignored.
fn numeric(field: &[u8]) -> Result<i64, Stop> {
    let invalid = || Stop::from(FormatClass::InvalidField);
    if field.first().is_some_and(|b| b & 0x80 == 0) {
        let pad = |b: &u8| *b == b' ' || *b == 0;
        let start = field.iter().position(|b| !pad(b)).unwrap_or(field.len());
        let end = field.iter().rposition(|b| !pad(b)).map_or(start, |i| i + 1);
        if field[start..end].contains(&0) {
            return Err(invalid());
        }
    }
    go_tar::parse_numeric(field).map_err(|()| invalid())
}

/// The header name as the reader sees it: the name field, with the prefix field of
/// USTAR headers (131 bytes in STAR headers).
fn read_header_name(block: &[u8; BLOCK]) -> Vec<u8> {
    let name = go_tar::parse_string(&block[0..100]);
    let prefix = if &block[257..263] != b"ustar\0" {
        &[][..]
    } else if &block[508..512] == b"tar\0" {
        go_tar::parse_string(&block[345..476])
    } else {
        go_tar::parse_string(&block[345..500])
    };
    if prefix.is_empty() {
        name.to_vec()
    } else {
        [prefix, b"/", name].concat()
    }
}

/// Checks the numeric fields of a header block in the reader's order.
fn check_fields(block: &[u8; BLOCK]) -> Result<i64, Stop> {
    let size = numeric(&block[124..136])?;
    if size < 0 {
        return Err(FormatClass::InvalidField.into());
    }
    for range in [100..108, 136..148, 108..116, 116..124] {
        numeric(&block[range])?;
    }
    let magic = &block[257..263];
    let gnu = magic == b"ustar " && &block[263..265] == b" \0";
    if magic == b"ustar\0" || gnu {
        numeric(&block[329..337])?;
        numeric(&block[337..345])?;
    }
    if magic == b"ustar\0" && &block[508..512] == b"tar\0" {
        numeric(&block[476..488])?;
        numeric(&block[488..500])?;
    }
    if gnu {
        for range in [345..357, 357..369] {
            if block[range.start] != 0 {
                numeric(&block[range])?;
            }
        }
    }
    Ok(size)
}

/// The header checksum: octal only, as in Go.
fn check_checksum(block: &[u8; BLOCK]) -> Result<(), Stop> {
    let recorded = parse_octal(&block[148..156]).map_err(|()| Stop::from(FormatClass::InvalidField))?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    if recorded != unsigned && recorded != signed {
        return Err(FormatClass::Checksum.into());
    }
    Ok(())
}

/// What the PAX headers before an entry set, as the reader keeps it: each `x` header
/// replaces the records of the one before.
#[derive(Default)]
struct Pax {
    path: Option<Vec<u8>>,
    size: Option<u64>,
    mtime: bool,
}

/// Applies the records of one PAX header: first the syntax of all of them, then each
/// value in order.
fn model_pax(records: &[PaxRecord]) -> Result<Pax, Stop> {
    // Syntax: garbage is outside the model; keys with a NUL, and NULs in the values of
    // the string keys Go checks, are malformed.
    for record in records {
        match record {
            PaxRecord::Garbage(g) if !g.is_empty() => return Err(Stop::Unknown),
            PaxRecord::Path(name) | PaxRecord::Linkpath(name) if name.bytes().contains(&0) => {
                return Err(FormatClass::MalformedPax.into());
            }
            PaxRecord::Keyed(PaxKey::NulKey, _) | PaxRecord::Empty(PaxKey::NulKey) => {
                return Err(FormatClass::MalformedPax.into());
            }
            PaxRecord::Keyed(PaxKey::Path | PaxKey::Linkpath | PaxKey::Uname | PaxKey::Gname, value)
                if value.bytes().contains(&0) =>
            {
                return Err(FormatClass::MalformedPax.into());
            }
            _ => {}
        }
    }
    let mut pax = Pax::default();
    let invalid = || Stop::from(FormatClass::InvalidField);
    for record in records {
        let (key, value) = match record {
            PaxRecord::Path(name) => (PaxKey::Path, name.bytes()),
            PaxRecord::Size(n) => (PaxKey::Size, n.to_string().into_bytes()),
            PaxRecord::Mtime(t) => (PaxKey::Mtime, t.to_string().into_bytes()),
            PaxRecord::Linkpath(name) => (PaxKey::Linkpath, name.bytes()),
            PaxRecord::Comment(_) | PaxRecord::Garbage(_) => continue,
            PaxRecord::Keyed(key, value) => (*key, value.bytes()),
            PaxRecord::Empty(key) => (*key, Vec::new()),
            PaxRecord::Sparse => return Err(FormatClass::Sparse.into()),
        };
        match key {
            PaxKey::Path => pax.path = Some(value),
            PaxKey::Size => {
                // Digits only (Go also takes a sign), at most `i64::MAX`.
                if !value.iter().all(u8::is_ascii_digit) {
                    return Err(invalid());
                }
                let size = go_tar::parse_int(&value).map_err(|()| invalid())?;
                pax.size = Some(size as u64);
            }
            PaxKey::Mtime | PaxKey::Atime | PaxKey::Ctime => {
                if !go_tar::valid_pax_time(&value) {
                    return Err(invalid());
                }
                pax.mtime |= key == PaxKey::Mtime;
            }
            PaxKey::Uid | PaxKey::Gid => {
                go_tar::parse_int(&value).map_err(|()| invalid())?;
            }
            PaxKey::Uname | PaxKey::Gname | PaxKey::Linkpath | PaxKey::Comment | PaxKey::NulKey => {}
        }
    }
    Ok(pax)
}

/// The syntax check the reader makes of a global header's records (their values do
/// not matter to it).
fn model_global(records: &[PaxRecord]) -> Result<(), Stop> {
    for record in records {
        match record {
            PaxRecord::Garbage(g) if !g.is_empty() => return Err(Stop::Unknown),
            PaxRecord::Path(name) | PaxRecord::Linkpath(name) if name.bytes().contains(&0) => {
                return Err(FormatClass::MalformedPax.into());
            }
            PaxRecord::Keyed(PaxKey::NulKey, _) | PaxRecord::Empty(PaxKey::NulKey) => {
                return Err(FormatClass::MalformedPax.into());
            }
            PaxRecord::Keyed(PaxKey::Path | PaxKey::Linkpath | PaxKey::Uname | PaxKey::Gname, value)
                if value.bytes().contains(&0) =>
            {
                return Err(FormatClass::MalformedPax.into());
            }
            _ => {}
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
            (Ok(_), End::ZeroThenData) => Err(FormatClass::DataAfterZeroBlock.into()),
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
            // Extension headers, in stream order. Each `x` header replaces the one
            // before; a global header is checked, and refused after a pending
            // extension (Go drops those, other readers apply them to the entry).
            let mut pax = Pax::default();
            let mut long: Option<Vec<u8>> = None;
            for ext in entry.extensions() {
                match ext {
                    Ext::Global(records) => {
                        let pending = pax.path.is_some() || pax.size.is_some() || pax.mtime || long.is_some();
                        if pending {
                            return Err(FormatClass::GlobalAfterExtension.into());
                        }
                        model_global(&records)?;
                    }
                    Ext::Pax(records) => pax = model_pax(&records)?,
                    Ext::LongName(name) => long = Some(go_tar::parse_string(&name).to_vec()),
                }
            }

            // The entry's header block.
            let block = entry.header().block();
            check_checksum(&block)?;
            let header_size = check_fields(&block)? as u64;
            let header_name = read_header_name(&block);
            if pax.path.is_some() && long.is_some() {
                return Err(FormatClass::ConflictingNames.into());
            }
            let name = long.or(pax.path).unwrap_or_else(|| header_name.clone());
            let mut type_flag = entry.kind.type_flag();
            if type_flag == 0 {
                // Decided on the header's name; a directory there that the extended
                // name makes a file (as Go reads it) is refused.
                let header_dir = header_name.ends_with(b"/");
                if header_dir && !name.ends_with(b"/") {
                    return Err(FormatClass::AmbiguousDirectory.into());
                }
                type_flag = if header_dir { b'5' } else { b'0' };
            }
            let size = pax.size.unwrap_or(header_size);

            // The data the reader takes must be the data written.
            let data_len = entry.data().len() as u64;
            if go_tar::is_header_only(type_flag) {
                if data_len != 0 {
                    return Err(Stop::Unknown);
                }
            } else if size != data_len {
                return Err(Stop::Unknown);
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
            // File-type bits in the mode that make Go see another kind are refused;
            // a directory flag wins over any bits, as in Go.
            let bits = entry.type_bits;
            let mismatch = match type_flag {
                b'0' | b'7' => !matches!(bits, TypeBits::None | TypeBits::Regular),
                b'2' => bits == TypeBits::Dir,
                _ => false,
            };
            match type_flag {
                b'0' | b'7' if mismatch => return Err(Stop::Error(ErrorClass::TypeMismatch)),
                b'2' if mismatch => return Err(Stop::Error(ErrorClass::TypeMismatch)),
                b'0' | b'7' => {
                    if path.as_os_str().is_empty() || name.ends_with(b"/") {
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
                b'5' => {
                    model.directories += 1;
                    make_dirs(&mut model, &path)?;
                }
                b'2' if self.skip_symlinks => {}
                b'2' => return Err(Stop::Error(ErrorClass::Symlink)),
                b'1' => return Err(Stop::Error(ErrorClass::Hardlink)),
                _ => return Err(Stop::Error(ErrorClass::Unsupported)),
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
    if name.is_empty()
        || name.contains(&0)
        || name.contains(&b'\\')
        || name[0] == b'/'
        || name.windows(3).any(|w| w == b"../")
    {
        return None;
    }
    let mut path = PathBuf::new();
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            // The reader refuses what no file system can create (NAME_MAX).
            part if part.len() > flux_artifact_storage::MAX_NAME_COMPONENT_BYTES => return None,
            part => path.push(std::ffi::OsStr::from_bytes(part)),
        }
    }
    Some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn old_style(name: &[u8]) -> Entry {
        Entry {
            name: Name::Raw(name.to_vec()),
            encoding: NameEncoding::Header,
            kind: Kind::OldFile,
            mode: 0,
            type_bits: TypeBits::None,
            size: SizeSpec::Exact,
            data: Vec::new(),
            mtime: Mtime::Octal(0),
            magic: Magic::Ustar,
            checksum: Checksum::Unsigned,
            other_field: None,
            pax: Vec::new(),
            global: None,
            earlier_pax: None,
        }
    }

    fn archive(entries: Vec<Entry>) -> Archive {
        Archive {
            entries,
            end: End::TwoZeroBlocks,
            compression: Compression::None,
            cap: Cap::Default,
            skip_symlinks: false,
            plant: false,
        }
    }

    #[test]
    fn an_old_style_entry_named_with_a_trailing_slash_is_a_directory() {
        // The input main's CI found: `./A/`, type '\0', mode 0, no data.
        let archive = archive(vec![old_style(b"./A/")]);
        let dir = BTreeMap::from([(PathBuf::from("A"), None)]);
        assert_eq!(
            archive.expected(),
            Expected::Tree(Model {
                nodes: dir.clone(),
                directories: 1,
                ..Model::default()
            })
        );
        assert_eq!(
            go_tar::untar(&archive.tar(), archive.cap.bytes(), false, false),
            go_tar::GoOutcome::Tree(dir)
        );
    }

    #[test]
    fn a_name_component_longer_than_255_bytes_is_a_name_refusal() {
        // The one-hour run's finding: a PAX name with a 300-byte component, which the model
        // took for a file and the file system refused (ENAMETOOLONG).
        let mut long = old_style(&[b'x'; 300]);
        long.kind = Kind::File;
        long.encoding = NameEncoding::Pax {
            decoy: Name::Raw(b"decoy".to_vec()),
        };
        assert_eq!(archive(vec![long]).expected(), Expected::Error(ErrorClass::Name));
        let mut fits = old_style(&[b'x'; 255]);
        fits.kind = Kind::File;
        fits.encoding = NameEncoding::Pax {
            decoy: Name::Raw(b"decoy".to_vec()),
        };
        assert!(matches!(archive(vec![fits]).expected(), Expected::Tree(_)));
    }

    #[test]
    fn an_old_style_entry_without_a_trailing_slash_is_a_file() {
        let archive = archive(vec![old_style(b"f")]);
        let file = BTreeMap::from([(PathBuf::from("f"), Some(Vec::new()))]);
        assert_eq!(
            archive.expected(),
            Expected::Tree(Model {
                nodes: file.clone(),
                files: 1,
                ..Model::default()
            })
        );
        assert_eq!(
            go_tar::untar(&archive.tar(), archive.cap.bytes(), false, false),
            go_tar::GoOutcome::Tree(file)
        );
    }
}
