//! A streaming tar reader for untrusted input: USTAR, GNU and PAX headers, with every
//! extension header (PAX records, GNU long names) capped at 1 MiB as in Go's
//! `archive/tar`, so a hostile header cannot make it allocate without bound.

use std::io::{self, Read};

const BLOCK: usize = 512;
/// Largest PAX or GNU long-name payload accepted (Go: `maxSpecialFileSize`).
const MAX_SPECIAL_SIZE: u64 = 1 << 20;

/// The header of one entry, after applying any extension headers before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryHeader {
    /// Raw name bytes (PAX `path` or GNU long name if present, else prefix + name).
    pub(crate) name: Vec<u8>,
    /// The type flag (`'0'`, `'5'`, `'2'`, …).
    pub(crate) type_flag: u8,
    /// Size of the entry's data.
    pub(crate) size: u64,
    /// Permission bits.
    pub(crate) mode: u32,
    /// Modification time in seconds since the epoch.
    pub(crate) mtime: i64,
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

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
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
        let mut long_name: Option<Vec<u8>> = None;
        let mut pax_path: Option<Vec<u8>> = None;
        let mut pax_size: Option<u64> = None;
        let mut pax_mtime: Option<i64> = None;
        loop {
            let mut block = [0u8; BLOCK];
            if !self.read_block(&mut block)? {
                self.finished = true;
                return if long_name.is_some() || pax_path.is_some() || pax_size.is_some() {
                    Err(invalid("archive ends after an extension header"))
                } else {
                    Ok(None)
                };
            }
            if block.iter().all(|&b| b == 0) {
                // The end marker is two zero blocks; a lone one followed by more data is
                // corruption. A missing second block at end of input is tolerated.
                if self.read_block(&mut block)? && block.iter().any(|&b| b != 0) {
                    return Err(invalid("zero block followed by data"));
                }
                self.finished = true;
                return Ok(None);
            }
            let header = RawHeader::parse(&block)?;
            match header.type_flag {
                b'x' | b'g' | b'L' | b'K' => {
                    if header.size > MAX_SPECIAL_SIZE {
                        return Err(invalid(format!(
                            "extension header of {} bytes exceeds the {MAX_SPECIAL_SIZE} byte limit",
                            header.size
                        )));
                    }
                    self.begin_data(header.size);
                    let mut payload = Vec::new();
                    self.read_to_end(&mut payload)?;
                    self.skip_rest()?;
                    match header.type_flag {
                        b'x' => {
                            for (key, value) in parse_pax_records(&payload)? {
                                match key {
                                    b"path" => pax_path = Some(value.to_vec()),
                                    b"size" => pax_size = Some(parse_decimal(value, "PAX size")?),
                                    b"mtime" => pax_mtime = Some(parse_pax_time(value)?),
                                    k if k.starts_with(b"GNU.sparse.") => {
                                        return Err(invalid("GNU sparse files are not supported"));
                                    }
                                    _ => {}
                                }
                            }
                        }
                        b'L' => long_name = Some(trim_nul(&payload).to_vec()),
                        // Global headers and long link names do not affect extraction.
                        _ => {}
                    }
                }
                _ => {
                    let size = pax_size.unwrap_or(header.size);
                    self.begin_data(size);
                    let name = pax_path.or(long_name).unwrap_or(header.name);
                    return Ok(Some(EntryHeader {
                        name,
                        type_flag: header.type_flag,
                        size,
                        mode: header.mode,
                        mtime: pax_mtime.unwrap_or(header.mtime),
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
                return Err(io::ErrorKind::UnexpectedEof.into());
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
    size: u64,
    mode: u32,
    mtime: i64,
}

impl RawHeader {
    fn parse(block: &[u8; BLOCK]) -> io::Result<RawHeader> {
        verify_checksum(block)?;
        let name = trim_nul(&block[0..100]);
        let ustar = &block[257..263] == b"ustar\0" && &block[263..265] == b"00";
        let prefix = if ustar {
            trim_nul(&block[345..500])
        } else {
            &[][..]
        };
        let full_name = if prefix.is_empty() {
            name.to_vec()
        } else {
            [prefix, b"/", name].concat()
        };
        let size = parse_numeric(&block[124..136], "size")?;
        let size = u64::try_from(size).map_err(|_| invalid("negative entry size"))?;
        let mode = parse_numeric(&block[100..108], "mode")?;
        let mtime = parse_numeric(&block[136..148], "mtime")?;
        let mut type_flag = block[156];
        if type_flag == 0 || type_flag == b'7' {
            // Old-style regular files, and contiguous files, which are regular files.
            type_flag = if full_name.ends_with(b"/") { b'5' } else { b'0' };
        }
        Ok(RawHeader {
            name: full_name,
            type_flag,
            size,
            mode: u32::try_from(mode & 0o7777).unwrap_or(0),
            mtime,
        })
    }
}

fn verify_checksum(block: &[u8; BLOCK]) -> io::Result<()> {
    let recorded = parse_numeric(&block[148..156], "checksum")?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    if recorded != unsigned && recorded != signed {
        return Err(invalid("tar header checksum mismatch"));
    }
    Ok(())
}

/// Octal (padded with spaces or NULs) or, with the high bit set, GNU base-256.
fn parse_numeric(field: &[u8], what: &str) -> io::Result<i64> {
    if let Some(&first) = field.first()
        && first & 0x80 != 0
    {
        // Two's complement, big-endian, below the marker bit of the first byte.
        let invert = if first & 0x40 != 0 { 0xff } else { 0 };
        let mut value: u64 = 0;
        for (i, &b) in field.iter().enumerate() {
            let b = if i == 0 { (b ^ invert) & 0x7f } else { b ^ invert };
            if value >> 56 != 0 {
                return Err(invalid(format!("{what} out of range")));
            }
            value = value << 8 | u64::from(b);
        }
        let value = i64::try_from(value).map_err(|_| invalid(format!("{what} out of range")))?;
        return Ok(if invert == 0xff { !value } else { value });
    }
    let text = field.iter().copied().skip_while(|&b| b == b' ' || b == 0);
    let digits: Vec<u8> = text.take_while(|&b| b != b' ' && b != 0).collect();
    if digits.is_empty() {
        return Ok(0);
    }
    let text = std::str::from_utf8(&digits).map_err(|_| invalid(format!("invalid {what} field")))?;
    i64::from_str_radix(text, 8).map_err(|_| invalid(format!("invalid {what} field {text:?}")))
}

fn trim_nul(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn parse_decimal(value: &[u8], what: &str) -> io::Result<u64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("invalid {what} {:?}", String::from_utf8_lossy(value))))
}

/// Seconds of a PAX time (`1700000000.5`), fraction dropped.
fn parse_pax_time(value: &[u8]) -> io::Result<i64> {
    let seconds = value.split(|&b| b == b'.').next().unwrap_or_default();
    std::str::from_utf8(seconds)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| invalid(format!("invalid PAX mtime {:?}", String::from_utf8_lossy(value))))
}

/// Splits PAX records `"<len> <key>=<value>\n"`.
fn parse_pax_records(mut data: &[u8]) -> io::Result<Vec<(&[u8], &[u8])>> {
    let mut records = Vec::new();
    while !data.is_empty() {
        let space = data
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| invalid("malformed PAX record"))?;
        let len: usize = std::str::from_utf8(&data[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|&len| len > space + 1 && len <= data.len())
            .ok_or_else(|| invalid("malformed PAX record length"))?;
        let (record, rest) = data.split_at(len);
        data = rest;
        let body = record[space + 1..]
            .strip_suffix(b"\n")
            .ok_or_else(|| invalid("PAX record without newline"))?;
        let eq = body
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| invalid("PAX record without '='"))?;
        let (key, value) = (&body[..eq], &body[eq + 1..]);
        if key.is_empty() || (key == b"path" && value.contains(&0)) {
            return Err(invalid("invalid PAX record"));
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

    #[test]
    fn oversized_extension_headers_are_refused_before_reading_them() {
        let data = archive(&[&header(b"x", b'x', MAX_SPECIAL_SIZE + 1)]);
        let err = TarReader::new(data.as_slice()).next_header().unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
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
        for bad in [&b"5 a=b"[..], b"x path=a\n", b"99 path=a\n", b"8 path\n"] {
            assert!(
                parse_pax_records(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
