//! A tar writer that emits exactly the bytes Go's `archive/tar` writes for the headers
//! the Go SDK's `Archive` produces: USTAR where it can encode the entry (with the prefix
//! field for long names), PAX records for non-ASCII or unsplittable names and for files
//! of 8 GiB or more, all numbers zero-padded octal, mtime 0, no owner names.
//!
//! Byte-for-byte equality of the uncompressed stream with Go is tested against the
//! golden stream in `shared/testdata/go-tar-golden`.

use std::io::{self, Read, Write};

const BLOCK: usize = 512;
const NAME_LEN: usize = 100;
const PREFIX_LEN: usize = 155;
/// Largest size a 12-byte octal field can hold (11 digits): 8 GiB - 1.
const MAX_OCTAL_SIZE: u64 = (1 << 33) - 1;

/// The kind of a tar entry this writer emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryType {
    File,
    Dir,
}

impl EntryType {
    fn flag(self) -> u8 {
        match self {
            EntryType::File => b'0',
            EntryType::Dir => b'5',
        }
    }
}

/// A failure while copying file content: reading the source or writing the archive.
#[derive(Debug)]
pub(crate) enum ContentError {
    Read(io::Error),
    Write(io::Error),
}

/// Writes tar entries to `W`.
pub(crate) struct TarWriter<W: Write> {
    inner: W,
}

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        TarWriter { inner }
    }

    /// Writes the header of an entry named `name` (slash-separated, relative). For a
    /// file, exactly `size` bytes of content must follow through [`Self::write_content`].
    pub(crate) fn write_header(
        &mut self,
        name: &[u8],
        kind: EntryType,
        mode: u32,
        size: u64,
    ) -> io::Result<()> {
        let ascii = name.iter().all(|&b| b != 0 && b < 0x80);
        let split = if ascii && name.len() > NAME_LEN {
            split_ustar_path(name)
        } else {
            None
        };
        let pax_path = !ascii || (name.len() > NAME_LEN && split.is_none());
        let pax_size = size > MAX_OCTAL_SIZE;

        let mut header = [0u8; BLOCK];
        if !pax_path && !pax_size {
            let (prefix, short_name) = split.unwrap_or((&[], name));
            put_string(&mut header[0..100], short_name);
            fill_numbers(&mut header, kind, mode, size);
            put_string(&mut header[345..500], prefix);
            finish_header(&mut header);
            return self.inner.write_all(&header);
        }

        let mut records = Vec::new();
        // The entry header of a PAX entry has no prefix field, so a name that only fits
        // by splitting needs the record too. (Go omits it when the name is splittable
        // and only the size forced PAX, and loses the name's head; this is the one place
        // where the stream deliberately differs from Go's.)
        if pax_path || name.len() > NAME_LEN {
            push_pax_record(&mut records, "path", name);
        }
        if pax_size {
            push_pax_record(&mut records, "size", size.to_string().as_bytes());
        }
        self.write_pax_header(name, &records)?;

        put_string(&mut header[0..100], &to_ascii(name));
        fill_numbers(&mut header, kind, mode, if pax_size { 0 } else { size });
        finish_header(&mut header);
        self.inner.write_all(&header)
    }

    /// Copies exactly `size` bytes of file content from `reader`, then the zero padding
    /// to the block boundary. Fails if the reader ends early or has more to give, which
    /// means the file changed while it was archived.
    pub(crate) fn write_content(
        &mut self,
        reader: &mut impl Read,
        size: u64,
        buf: &mut [u8],
    ) -> Result<(), ContentError> {
        let mut remaining = size;
        while remaining > 0 {
            let want = buf.len().min(usize::try_from(remaining).unwrap_or(usize::MAX));
            let n = match reader.read(&mut buf[..want]) {
                Ok(0) => {
                    return Err(ContentError::Read(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("file shrank while being archived: {remaining} of {size} bytes missing"),
                    )));
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(ContentError::Read(e)),
            };
            self.inner.write_all(&buf[..n]).map_err(ContentError::Write)?;
            remaining -= n as u64;
        }
        loop {
            match reader.read(&mut buf[..1]) {
                Ok(0) => break,
                Ok(_) => {
                    return Err(ContentError::Read(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("file grew while being archived beyond its {size} bytes"),
                    )));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ContentError::Read(e)),
            }
        }
        self.pad(size).map_err(ContentError::Write)
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&[0u8; 2 * BLOCK])?;
        Ok(self.inner)
    }

    fn write_pax_header(&mut self, name: &[u8], records: &[u8]) -> io::Result<()> {
        let split_at = name.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
        let (dir, file) = name.split_at(split_at);
        let mut pax_name = to_ascii(&[dir, b"PaxHeaders.0/", file].concat());
        pax_name.truncate(NAME_LEN);
        while pax_name.last() == Some(&b'/') {
            pax_name.pop();
        }

        let mut header = [0u8; BLOCK];
        put_string(&mut header[0..100], &pax_name);
        put_octal(&mut header[100..108], 0);
        put_octal(&mut header[108..116], 0);
        put_octal(&mut header[116..124], 0);
        put_octal(&mut header[124..136], records.len() as u64);
        put_octal(&mut header[136..148], 0);
        header[156] = b'x';
        finish_header(&mut header);
        self.inner.write_all(&header)?;
        self.inner.write_all(records)?;
        self.pad(records.len() as u64)
    }

    fn pad(&mut self, size: u64) -> io::Result<()> {
        let rem = (size % BLOCK as u64) as usize;
        if rem != 0 {
            self.inner.write_all(&[0u8; BLOCK][..BLOCK - rem])?;
        }
        Ok(())
    }
}

/// The numeric and type fields of an entry header.
fn fill_numbers(header: &mut [u8; BLOCK], kind: EntryType, mode: u32, size: u64) {
    put_octal(&mut header[100..108], u64::from(mode));
    put_octal(&mut header[108..116], 0); // uid
    put_octal(&mut header[116..124], 0); // gid
    put_octal(&mut header[124..136], size);
    put_octal(&mut header[136..148], 0); // mtime: the Unix epoch
    header[156] = kind.flag();
    put_octal(&mut header[329..337], 0); // devmajor
    put_octal(&mut header[337..345], 0); // devminor
}

/// Sets the USTAR magic and the checksum. (Go writes device numbers only in entry
/// headers, through [`fill_numbers`]; in PAX extension headers they stay NUL.)
fn finish_header(header: &mut [u8; BLOCK]) {
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                u64::from(b' ')
            } else {
                u64::from(b)
            }
        })
        .sum();
    put_octal(&mut header[148..155], sum);
    header[155] = b' ';
}

/// Zero-padded octal with a NUL terminator filling the field, as Go's `formatOctal`.
/// Values too large for the field are written as 0 (callers move them to PAX records).
fn put_octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let value = if digits * 3 < 64 && value >= 1 << (digits * 3) {
        0
    } else {
        value
    };
    let text = format!("{value:0digits$o}");
    put_string(field, text.as_bytes());
}

/// Copies `value` into `field`, NUL-terminating it when shorter, as Go's `formatString`;
/// a value cut short whose cut ends in `/` loses those slashes (Go does so that readers
/// do not mistake a truncated file name for a directory).
fn put_string(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    if value.len() < field.len() {
        field[value.len()] = 0;
    }
    if value.len() > field.len() && field[field.len() - 1] == b'/' {
        let kept = value[..field.len()]
            .iter()
            .rposition(|&b| b != b'/')
            .map_or(0, |i| i + 1);
        field[kept] = 0;
    }
}

/// Splits a long ASCII name into the USTAR prefix and name fields at a `/`, if it fits.
fn split_ustar_path(name: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut length = name.len();
    if length <= NAME_LEN {
        return None;
    }
    if length > PREFIX_LEN + 1 {
        length = PREFIX_LEN + 1;
    } else if name[length - 1] == b'/' {
        length -= 1;
    }
    let slash = name[..length].iter().rposition(|&b| b == b'/')?;
    let suffix_len = name.len() - slash - 1;
    if slash == 0 || suffix_len > NAME_LEN || suffix_len == 0 || slash > PREFIX_LEN {
        return None;
    }
    Some((&name[..slash], &name[slash + 1..]))
}

/// Drops every byte that is not ASCII (and NUL), as Go's `toASCII` does with the runes
/// of a string.
fn to_ascii(name: &[u8]) -> Vec<u8> {
    name.iter().copied().filter(|&b| b != 0 && b < 0x80).collect()
}

/// Appends a PAX record `"<len> <key>=<value>\n"`, where `<len>` counts the whole record
/// including its own digits.
fn push_pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + body.to_string().len();
    if len.to_string().len() + body != len {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        push_pax_record(&mut out, "path", "apps/ünïcode.yaml".as_bytes());
        assert_eq!(out, "28 path=apps/ünïcode.yaml\n".as_bytes());
        // 98 bytes besides the length: 2 digits would make 100, which needs 3.
        let mut out = Vec::new();
        push_pax_record(&mut out, "path", &[b'a'; 91]);
        assert_eq!(out.len(), 101);
        assert!(out.starts_with(b"101 path="));
    }

    #[test]
    fn octal_fields_are_zero_padded_and_nul_terminated() {
        let mut field = [0xffu8; 8];
        put_octal(&mut field, 0o750);
        assert_eq!(&field, b"0000750\0");
        let mut field = [0xffu8; 12];
        put_octal(&mut field, MAX_OCTAL_SIZE + 1);
        assert_eq!(&field, b"00000000000\0");
    }

    #[test]
    fn long_names_split_at_the_last_fitting_slash() {
        let name = format!("{}/{}", "d".repeat(60), "f".repeat(70));
        let (prefix, rest) = split_ustar_path(name.as_bytes()).unwrap();
        assert_eq!(prefix.len(), 60);
        assert_eq!(rest.len(), 70);
        assert!(split_ustar_path(&[b'x'; 120]).is_none());
        let too_long_suffix = format!("a/{}", "f".repeat(101));
        assert!(split_ustar_path(too_long_suffix.as_bytes()).is_none());
    }

    fn header_of(name: &[u8], size: u64) -> Vec<u8> {
        let mut out = TarWriter::new(Vec::new());
        out.write_header(name, EntryType::File, 0o600, size).unwrap();
        out.inner
    }

    #[test]
    fn sizes_of_8_gib_and_more_go_into_a_pax_record() {
        let bytes = header_of(b"big.bin", MAX_OCTAL_SIZE + 1);
        assert_eq!(bytes.len(), 3 * BLOCK);
        assert_eq!(bytes[156], b'x');
        assert_eq!(&bytes[BLOCK..BLOCK + 20], b"19 size=8589934592\n\0");
        let entry = &bytes[2 * BLOCK..];
        assert_eq!(&entry[..8], b"big.bin\0");
        assert_eq!(&entry[124..136], b"00000000000\0");
        assert_eq!(entry[156], b'0');
    }

    #[test]
    fn a_long_splittable_name_keeps_a_path_record_when_the_size_forces_pax() {
        let name = format!("{}/{}", "d".repeat(60), "f".repeat(70));
        let bytes = header_of(name.as_bytes(), MAX_OCTAL_SIZE + 1);
        let records = String::from_utf8_lossy(&bytes[BLOCK..2 * BLOCK]);
        assert!(records.contains(&format!("path={name}\n")), "{records}");
        assert!(records.contains("size=8589934592\n"), "{records}");
    }

    #[test]
    fn a_non_ascii_name_goes_into_a_pax_record_and_an_ascii_stand_in() {
        let bytes = header_of("apps/ünïcode.yaml".as_bytes(), 6);
        assert_eq!(&bytes[..28], b"apps/PaxHeaders.0/ncode.yaml");
        assert_eq!(&bytes[2 * BLOCK..2 * BLOCK + 16], b"apps/ncode.yaml\0");
    }

    #[test]
    fn truncated_names_lose_a_trailing_slash() {
        let mut field = [0u8; 4];
        put_string(&mut field, b"abc/defg");
        assert_eq!(&field, b"abc\0");
    }

    #[test]
    fn content_that_grew_is_an_error() {
        let mut out = TarWriter::new(Vec::new());
        let mut buf = [0u8; 8];
        let err = out.write_content(&mut &b"12345"[..], 4, &mut buf).unwrap_err();
        assert!(matches!(err, ContentError::Read(e) if e.kind() == io::ErrorKind::InvalidData));
    }

    #[test]
    fn content_that_shrank_is_an_error() {
        let mut out = TarWriter::new(Vec::new());
        let mut buf = [0u8; 8];
        let err = out.write_content(&mut &b"123"[..], 4, &mut buf).unwrap_err();
        assert!(matches!(err, ContentError::Read(e) if e.kind() == io::ErrorKind::UnexpectedEof));
    }
}
