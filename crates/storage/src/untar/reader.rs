//! A streaming tar reader for untrusted input: USTAR, GNU and PAX headers, with every
//! extension header (PAX records, GNU long names) capped at 1 MiB as in Go's
//! `archive/tar`, so a hostile header cannot make it allocate without bound.
//!
//! Which entries carry data follows Go's `archive/tar` (and Python's `tarfile`): hard
//! links, symlinks, character and block devices, directories and FIFOs are header-only,
//! whatever their size field says; every other type carries `size` bytes. A reader
//! that disagrees would see a different tree in the same bytes than Flux does.

use std::io::{self, Read};

use super::error::TarFormatError;

const BLOCK: usize = 512;
/// Largest PAX or GNU long-name payload accepted (Go: `maxSpecialFileSize`).
pub(crate) const MAX_SPECIAL_SIZE: u64 = 1 << 20;

/// The header of one entry, after applying any extension headers before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    /// Raw name bytes (PAX `path` or GNU long name if present, else prefix + name).
    pub(crate) name: Vec<u8>,
    /// The type flag (`'0'`, `'5'`, `'2'`, …); an old-style `'\0'` is `'0'`, or `'5'`
    /// when the name ends with `/`, as in Go.
    pub(crate) type_flag: u8,
    /// The size the headers declare (PAX `size` if present), even for an entry that
    /// carries no data: it is what Flux counts towards its extraction cap.
    pub(crate) size: u64,
    /// The whole mode field: permission bits, and possibly file-type bits (`0o040000`
    /// …) that Go's `FileInfo` reads.
    pub(crate) mode: i64,
    /// Modification time in seconds since the epoch.
    pub(crate) mtime: i64,
}

/// Whether entries of this type are only a header, with no data after it, as Go's
/// `archive/tar` decides (`isHeaderOnlyType`).
pub(crate) fn is_header_only(type_flag: u8) -> bool {
    matches!(type_flag, b'1'..=b'6')
}

/// Reads entries one after the other; the data of an entry is read through [`Read`]
/// until the next call to [`next_header`](Self::next_header), which skips what is left.
pub(crate) struct TarReader<R> {
    inner: R,
    /// Data bytes of the current entry not read yet.
    remaining: u64,
    /// Zero padding after the current entry's data.
    padding: u64,
    finished: bool,
}

/// An `io::Error` carrying a [`TarFormatError`], which `untar` reports as such.
fn malformed(error: TarFormatError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

fn invalid_field(field: &'static str) -> io::Error {
    malformed(TarFormatError::InvalidField { field })
}

/// The extension headers met before an entry. Each PAX header replaces the records of
/// the one before it, and each long name the long name before it, as in Go.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    pax_path: Option<Vec<u8>>,
    pax_size: Option<u64>,
    pax_mtime: Option<i64>,
}

impl Extensions {
    fn is_empty(&self) -> bool {
        self.long_name.is_none()
            && self.pax_path.is_none()
            && self.pax_size.is_none()
            && self.pax_mtime.is_none()
    }

    fn apply_pax(&mut self, payload: &[u8]) -> io::Result<()> {
        self.pax_path = None;
        self.pax_size = None;
        self.pax_mtime = None;
        for (key, value) in parse_pax_records(payload)? {
            match key {
                b"path" => self.pax_path = Some(value.to_vec()),
                b"size" => {
                    self.pax_size = Some(parse_decimal(value).ok_or_else(|| invalid_field("PAX size"))?)
                }
                b"mtime" => {
                    self.pax_mtime = Some(parse_pax_time(value).ok_or_else(|| invalid_field("PAX mtime"))?)
                }
                // Not used here, but Go refuses an archive whose values do not parse.
                b"atime" | b"ctime" => {
                    parse_pax_time(value).ok_or_else(|| invalid_field("PAX time"))?;
                }
                b"uid" | b"gid" => {
                    parse_signed_decimal(value).ok_or_else(|| invalid_field("PAX uid or gid"))?;
                }
                k if k.starts_with(b"GNU.sparse.") => return Err(malformed(TarFormatError::Sparse)),
                _ => {}
            }
        }
        Ok(())
    }

    /// The entry's name. Go lets a GNU long name win over a PAX path, Python's
    /// `tarfile` the header that comes first: an entry with both is refused, so that
    /// no reader can see another name than ours.
    fn name(&mut self, header_name: Vec<u8>) -> io::Result<Vec<u8>> {
        match (self.pax_path.take(), self.long_name.take()) {
            (Some(_), Some(_)) => Err(malformed(TarFormatError::ConflictingNames)),
            (Some(name), None) | (None, Some(name)) => Ok(name),
            (None, None) => Ok(header_name),
        }
    }
}

impl<R: Read> TarReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        TarReader {
            inner,
            remaining: 0,
            padding: 0,
            finished: false,
        }
    }

    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// The next entry's header, or `None` at the end of the archive (two zero blocks,
    /// or the end of input at a block boundary).
    pub(crate) fn next_header(&mut self) -> io::Result<Option<EntryHeader>> {
        if self.finished {
            return Ok(None);
        }
        self.skip_rest()?;
        let mut extensions = Extensions::default();
        loop {
            let mut block = [0u8; BLOCK];
            if !self.read_block(&mut block)? {
                self.finished = true;
                return if extensions.is_empty() {
                    Ok(None)
                } else {
                    Err(malformed(TarFormatError::DanglingExtension))
                };
            }
            if block.iter().all(|&b| b == 0) {
                // The end marker is two zero blocks; a lone one followed by more data is
                // corruption. A missing second block at end of input is tolerated.
                if self.read_block(&mut block)? && block.iter().any(|&b| b != 0) {
                    return Err(malformed(TarFormatError::DataAfterZeroBlock));
                }
                self.finished = true;
                return Ok(None);
            }
            let header = RawHeader::parse(&block)?;
            match header.type_flag {
                b'x' | b'g' | b'L' | b'K' => {
                    // Go drops the extension headers before a global header, other
                    // readers apply them to the entry after it.
                    if header.type_flag == b'g' && !extensions.is_empty() {
                        return Err(malformed(TarFormatError::GlobalAfterExtension));
                    }
                    if header.size > MAX_SPECIAL_SIZE {
                        return Err(malformed(TarFormatError::ExtensionTooLarge {
                            size: header.size,
                            limit: MAX_SPECIAL_SIZE,
                        }));
                    }
                    self.begin_data(header.size);
                    let mut payload = Vec::new();
                    self.read_to_end(&mut payload)?;
                    self.skip_rest()?;
                    match header.type_flag {
                        b'x' => extensions.apply_pax(&payload)?,
                        b'L' => extensions.long_name = Some(trim_nul(&payload).to_vec()),
                        // Global headers do not affect extraction, but Go refuses the
                        // archive when their records are malformed.
                        b'g' => {
                            parse_pax_records(&payload)?;
                        }
                        // Long link names do not affect extraction.
                        _ => {}
                    }
                }
                _ => {
                    let name = extensions.name(header.name)?;
                    // Go decides an old-style entry on its final name, Python on the
                    // header's: a directory by the header's name only is refused.
                    if header.old_style_dir && !name.ends_with(b"/") {
                        return Err(malformed(TarFormatError::AmbiguousDirectory));
                    }
                    let size = extensions.pax_size.unwrap_or(header.size);
                    self.begin_data(if is_header_only(header.type_flag) { 0 } else { size });
                    return Ok(Some(EntryHeader {
                        name,
                        type_flag: header.type_flag,
                        size,
                        mode: header.mode,
                        mtime: extensions.pax_mtime.unwrap_or(header.mtime),
                    }));
                }
            }
        }
    }

    fn begin_data(&mut self, size: u64) {
        self.remaining = size;
        self.padding = (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64;
    }

    /// Discards the unread data and padding of the current entry.
    fn skip_rest(&mut self) -> io::Result<()> {
        let skip = self.remaining + self.padding;
        if skip > 0 {
            let copied = io::copy(&mut (&mut self.inner).take(skip), &mut io::sink())?;
            if copied != skip {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "tar entry data ends early",
                ));
            }
        }
        self.remaining = 0;
        self.padding = 0;
        Ok(())
    }

    /// Reads one block; `false` at a clean end of input, an error at a partial block.
    fn read_block(&mut self, block: &mut [u8; BLOCK]) -> io::Result<bool> {
        let mut filled = 0;
        while filled < BLOCK {
            match self.inner.read(&mut block[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "truncated tar header",
                    ));
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl<R: Read> Read for TarReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "tar entry data ends early",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// The fields of one header block.
struct RawHeader {
    name: Vec<u8>,
    type_flag: u8,
    /// An old-style (`'\0'`) entry that its header's name makes a directory.
    old_style_dir: bool,
    size: u64,
    mode: i64,
    mtime: i64,
}

impl RawHeader {
    /// Reads a block as Go's `archive/tar` does: the format from the magic (USTAR by
    /// `ustar\0` whatever the version, STAR by its trailer, GNU by `ustar  \0`),
    /// the prefix of USTAR (155 bytes) and STAR (131 bytes) headers, and every numeric
    /// field the format has, so that an archive Go refuses is refused here too.
    fn parse(block: &[u8; BLOCK]) -> io::Result<RawHeader> {
        verify_checksum(block)?;
        let ustar = &block[257..263] == b"ustar\0";
        let star = ustar && &block[508..512] == b"tar\0";
        let gnu = &block[257..263] == b"ustar " && &block[263..265] == b" \0";
        let name = trim_nul(&block[0..100]);
        let prefix = match (ustar, star) {
            (true, false) => trim_nul(&block[345..500]),
            (true, true) => trim_nul(&block[345..476]),
            _ => &[][..],
        };
        let full_name = if prefix.is_empty() {
            name.to_vec()
        } else {
            [prefix, b"/", name].concat()
        };
        let size = parse_numeric(&block[124..136], "size")?;
        let size = u64::try_from(size).map_err(|_| invalid_field("size"))?;
        let mode = parse_numeric(&block[100..108], "mode")?;
        let mtime = parse_numeric(&block[136..148], "mtime")?;
        parse_numeric(&block[108..116], "uid")?;
        parse_numeric(&block[116..124], "gid")?;
        if ustar || gnu {
            parse_numeric(&block[329..337], "devmajor")?;
            parse_numeric(&block[337..345], "devminor")?;
        }
        if star {
            parse_numeric(&block[476..488], "atime")?;
            parse_numeric(&block[488..500], "ctime")?;
        }
        if gnu {
            // Go reads unparsable GNU times as a USTAR prefix (what Go before 1.8
            // wrote there), which would give the entry another name.
            for (range, field) in [(345..357, "atime"), (357..369, "ctime")] {
                if block[range.start] != 0 {
                    parse_numeric(&block[range], field)?;
                }
            }
        }
        let mut type_flag = block[156];
        let old_style_dir = type_flag == 0 && full_name.ends_with(b"/");
        if type_flag == 0 {
            // Old-style regular files; a trailing slash made them directories (Go and
            // Python agree). Contiguous files (`'7'`) stay what they are.
            type_flag = if old_style_dir { b'5' } else { b'0' };
        }
        Ok(RawHeader {
            name: full_name,
            type_flag,
            old_style_dir,
            size,
            mode,
            mtime,
        })
    }
}

fn verify_checksum(block: &[u8; BLOCK]) -> io::Result<()> {
    // Octal only: Go does not read a base-256 checksum.
    let recorded = parse_octal(&block[148..156], "checksum")?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    if recorded != unsigned && recorded != signed {
        return Err(malformed(TarFormatError::Checksum));
    }
    Ok(())
}

/// Octal, padded with spaces or NULs on either side, or, with the high bit set, GNU
/// base-256. As in Go, anything else inside the digits (`"12 34"`) is an error, not
/// the end of the number.
fn parse_numeric(field: &[u8], what: &'static str) -> io::Result<i64> {
    if let Some(&first) = field.first()
        && first & 0x80 != 0
    {
        // Two's complement, big-endian, below the marker bit of the first byte.
        let invert = if first & 0x40 != 0 { 0xff } else { 0 };
        let mut value: u64 = 0;
        for (i, &b) in field.iter().enumerate() {
            let b = if i == 0 { (b ^ invert) & 0x7f } else { b ^ invert };
            if value >> 56 != 0 {
                return Err(invalid_field(what));
            }
            value = value << 8 | u64::from(b);
        }
        let value = i64::try_from(value).map_err(|_| invalid_field(what))?;
        return Ok(if invert == 0xff { !value } else { value });
    }
    parse_octal(field, what)
}

/// Octal, padded with spaces or NULs on either side; empty is 0.
fn parse_octal(field: &[u8], what: &'static str) -> io::Result<i64> {
    let padding = |b: &u8| *b == b' ' || *b == 0;
    let start = field.iter().position(|b| !padding(b)).unwrap_or(field.len());
    let end = field.iter().rposition(|b| !padding(b)).map_or(start, |i| i + 1);
    let digits = &field[start..end];
    if digits.is_empty() {
        return Ok(0);
    }
    if !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err(invalid_field(what));
    }
    let text = std::str::from_utf8(digits).map_err(|_| invalid_field(what))?;
    i64::from_str_radix(text, 8).map_err(|_| invalid_field(what))
}

fn trim_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

/// Decimal digits, at most `i64::MAX` (Go reads sizes as `int64`).
fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n: i64 = std::str::from_utf8(value).ok()?.parse().ok()?;
    u64::try_from(n).ok()
}

/// A decimal `i64` with an optional sign, as Go's `strconv.ParseInt`.
fn parse_signed_decimal(value: &[u8]) -> Option<i64> {
    std::str::from_utf8(value).ok()?.parse().ok()
}

/// Seconds of a PAX time (`1700000000.5`, `-10.5`); the fraction, dropped, must be
/// digits.
fn parse_pax_time(value: &[u8]) -> Option<i64> {
    let mut parts = value.splitn(2, |&b| b == b'.');
    let seconds = parse_signed_decimal(parts.next().unwrap_or_default())?;
    parts
        .next()
        .is_none_or(|fraction| fraction.iter().all(u8::is_ascii_digit))
        .then_some(seconds)
}

/// Splits PAX records `"<len> <key>=<value>\n"`.
fn parse_pax_records(mut data: &[u8]) -> io::Result<Vec<(&[u8], &[u8])>> {
    let bad = || malformed(TarFormatError::MalformedPax);
    let mut records = Vec::new();
    while !data.is_empty() {
        let space = data.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .filter(|&len| len > space + 1 && len <= data.len())
            .ok_or_else(bad)?;
        let (record, rest) = data.split_at(len);
        data = rest;
        let body = record[space + 1..].strip_suffix(b"\n").ok_or_else(bad)?;
        let eq = body.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let (key, value) = (&body[..eq], &body[eq + 1..]);
        // Go's rules: no NUL in a key, nor in the value of a key that replaces a
        // header string field.
        let nul_value = matches!(key, b"path" | b"linkpath" | b"uname" | b"gname") && value.contains(&0);
        if key.is_empty() || key.contains(&0) || nul_value {
            return Err(bad());
        }
        records.push((key, value));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(name: &[u8], type_flag: u8, size: u64) -> [u8; BLOCK] {
        let mut b = [0u8; BLOCK];
        b[..name.len()].copy_from_slice(name);
        b[100..108].copy_from_slice(b"0000644\0");
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

    fn archive(parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        for part in parts {
            out.extend_from_slice(part);
            let pad = (BLOCK - part.len() % BLOCK) % BLOCK;
            out.extend(std::iter::repeat_n(0, pad));
        }
        out.extend_from_slice(&[0u8; 2 * BLOCK]);
        out
    }

    #[test]
    fn reads_names_sizes_and_data() {
        let data = archive(&[&header(b"a.txt", b'0', 5), b"hello", &header(b"d", b'5', 0)]);
        let mut reader = TarReader::new(data.as_slice());
        let first = reader.next_header().unwrap().unwrap();
        assert_eq!(
            (first.name.as_slice(), first.type_flag, first.size),
            (&b"a.txt"[..], b'0', 5)
        );
        let mut content = String::new();
        reader.read_to_string(&mut content).unwrap();
        assert_eq!(content, "hello");
        let second = reader.next_header().unwrap().unwrap();
        assert_eq!(second.type_flag, b'5');
        assert!(reader.next_header().unwrap().is_none());
    }

    #[test]
    fn pax_path_overrides_the_header_name() {
        let records = b"20 path=\xc3\xbc/long.txt\n";
        let data = archive(&[
            &header(b"PaxHeaders.0/x", b'x', records.len() as u64),
            records,
            &header(b"x", b'0', 0),
        ]);
        let mut reader = TarReader::new(data.as_slice());
        assert_eq!(
            reader.next_header().unwrap().unwrap().name,
            "ü/long.txt".as_bytes()
        );
    }

    fn format_error(err: &io::Error) -> Option<&TarFormatError> {
        err.get_ref().and_then(|e| e.downcast_ref())
    }

    #[test]
    fn oversized_extension_headers_are_refused_before_reading_them() {
        // Nothing but the header: reading the payload would hit the end of input.
        let data = header(b"x", b'x', MAX_SPECIAL_SIZE + 1);
        let err = TarReader::new(data.as_slice()).next_header().unwrap_err();
        assert_eq!(
            format_error(&err),
            Some(&TarFormatError::ExtensionTooLarge {
                size: MAX_SPECIAL_SIZE + 1,
                limit: MAX_SPECIAL_SIZE
            }),
            "{err}"
        );
    }

    #[test]
    fn header_only_types_carry_no_data_whatever_their_size_says() {
        for type_flag in *b"123456" {
            let hidden = header(b"hidden", b'0', 0);
            let data = archive(&[&header(b"entry", type_flag, 512), &hidden]);
            let mut reader = TarReader::new(data.as_slice());
            let first = reader.next_header().unwrap().unwrap();
            assert_eq!((first.type_flag, first.size), (type_flag, 512));
            let second = reader.next_header().unwrap().unwrap();
            assert_eq!(second.name, b"hidden", "type {}", type_flag as char);
        }
    }

    #[test]
    fn regular_contiguous_and_unknown_types_carry_data() {
        for type_flag in *b"07Z" {
            let data = archive(&[&header(b"entry", type_flag, 5), b"hello"]);
            let mut reader = TarReader::new(data.as_slice());
            reader.next_header().unwrap().unwrap();
            let mut content = Vec::new();
            reader.read_to_end(&mut content).unwrap();
            assert_eq!(content, b"hello", "type {}", type_flag as char);
        }
    }

    #[test]
    fn an_old_style_entry_with_a_trailing_slash_is_a_header_only_directory() {
        let data = archive(&[&header(b"d/", 0, 512), &header(b"next", b'0', 0)]);
        let mut reader = TarReader::new(data.as_slice());
        assert_eq!(reader.next_header().unwrap().unwrap().type_flag, b'5');
        assert_eq!(reader.next_header().unwrap().unwrap().name, b"next");
    }

    #[test]
    fn a_pax_size_overrides_the_header_size() {
        let records = b"12 size=700\n";
        let data = archive(&[
            &header(b"PaxHeaders.0/x", b'x', records.len() as u64),
            records,
            &header(b"x", b'0', 3),
            &[7u8; 700],
        ]);
        let mut reader = TarReader::new(data.as_slice());
        assert_eq!(reader.next_header().unwrap().unwrap().size, 700);
        let mut content = Vec::new();
        reader.read_to_end(&mut content).unwrap();
        assert_eq!(content.len(), 700);
    }

    #[test]
    fn each_pax_header_replaces_the_records_of_the_one_before() {
        let path = b"14 path=first\n";
        let mtime = b"12 mtime=10\n";
        let data = archive(&[
            &header(b"P/1", b'x', path.len() as u64),
            path,
            &header(b"P/2", b'x', mtime.len() as u64),
            mtime,
            &header(b"plain", b'0', 0),
        ]);
        let entry = TarReader::new(data.as_slice()).next_header().unwrap().unwrap();
        assert_eq!((entry.name.as_slice(), entry.mtime), (&b"plain"[..], 10));
    }

    #[test]
    fn a_pax_path_and_a_gnu_long_name_together_are_refused() {
        let path = b"12 path=pax\n";
        let data = archive(&[
            &header(b"P/1", b'x', path.len() as u64),
            path,
            &header(b"././@LongLink", b'L', 4),
            b"gnu\0",
            &header(b"short", b'0', 0),
        ]);
        let err = TarReader::new(data.as_slice()).next_header().unwrap_err();
        assert_eq!(
            format_error(&err),
            Some(&TarFormatError::ConflictingNames),
            "{err}"
        );
    }

    #[test]
    fn numeric_fields_with_junk_between_digits_are_refused() {
        assert_eq!(parse_numeric(b" 0000012\0", "size").unwrap(), 10);
        assert_eq!(parse_numeric(b"\0\0\0\0", "size").unwrap(), 0);
        for bad in [&b"12 34\0"[..], b"12\x0034", b"0000009\0", b"-12"] {
            let err = parse_numeric(bad, "size").unwrap_err();
            assert_eq!(
                format_error(&err),
                Some(&TarFormatError::InvalidField { field: "size" })
            );
        }
    }

    #[test]
    fn a_corrupt_checksum_is_an_error() {
        let mut h = header(b"a", b'0', 0);
        h[0] = b'b';
        let data = archive(&[&h]);
        assert!(TarReader::new(data.as_slice()).next_header().is_err());
    }

    #[test]
    fn truncated_data_is_an_error() {
        let mut data = header(b"a", b'0', 100).to_vec();
        data.extend_from_slice(b"short");
        let mut reader = TarReader::new(data.as_slice());
        reader.next_header().unwrap();
        let mut sink = Vec::new();
        assert_eq!(
            reader.read_to_end(&mut sink).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn base256_sizes_are_understood() {
        let mut field = [0u8; 12];
        field[0] = 0x80;
        field[11] = 0x10;
        field[10] = 0x02;
        assert_eq!(parse_numeric(&field, "size").unwrap(), 0x0210);
    }

    #[test]
    fn malformed_pax_records_are_errors() {
        for bad in [
            &b"5 a=b"[..],
            b"x path=a\n",
            b"99 path=a\n",
            b"8 path\n",
            b"+9 path=a\n",
        ] {
            let err = parse_pax_records(bad).unwrap_err();
            assert_eq!(
                format_error(&err),
                Some(&TarFormatError::MalformedPax),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
