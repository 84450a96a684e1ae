//! An independent model of what Flux's `tar.Untar` (fluxcd/pkg/tar) extracts from a tar
//! stream, over a reading of the stream that follows Go's `archive/tar` (Go 1.22 and
//! later) rule by rule: header formats and checksums, numeric fields, PAX records and
//! their merging, GNU long names, which types carry data, old-style directories, and
//! Flux's own checks (size cap, `validRelPath`, `FileInfo().Mode()`).
//!
//! It shares no code with the crate's reader, so that the two can be compared on any
//! bytes: whenever `untar` accepts a stream, Flux must accept it too and extract the same
//! tree (the parity rule of `crates/storage/tests/untar_go_parity.rs`).
//!
//! One difference is deliberate and not modelled: Go hands a PAX global header (`g`) to
//! Flux as an entry, and Flux writes an empty file named after it (`pax_global_header`,
//! or the header's own PAX `path`), so it also fails where that name is invalid or in
//! the way of another entry. `untar` skips global headers, on purpose: an empty file
//! named by metadata is not content. The model follows `untar` and skips them too, so
//! that the comparison holds for the rest of the archive.

use std::{
    collections::BTreeMap,
    ffi::OsStr,
    os::unix::ffi::OsStrExt,
    path::{Path, PathBuf},
};

use crate::PLANTED;

const BLOCK: usize = 512;
/// Go's `maxSpecialFileSize`: the largest PAX header or GNU long name it reads.
const MAX_SPECIAL: i64 = 1 << 20;

/// What Flux makes of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GoOutcome {
    /// Flux extracts this tree: each path with its content, `None` for a directory.
    Tree(BTreeMap<PathBuf, Option<Vec<u8>>>),
    /// Flux returns an error.
    Refused(String),
    /// Outside the model (sparse files, paths through the planted symlinks).
    Unknown(&'static str),
}

/// The fields of a header block as Go reads them (`readHeader`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoHeader {
    pub type_flag: u8,
    pub name: Vec<u8>,
    pub size: i64,
    pub mode: i64,
}

/// Go's `parseString`: the bytes before the first NUL.
pub fn parse_string(field: &[u8]) -> &[u8] {
    match field.iter().position(|&b| b == 0) {
        Some(end) => &field[..end],
        None => field,
    }
}

/// Go's `parseOctal`: spaces and NULs trimmed from both ends, then the text up to the
/// first NUL as an unsigned octal number (empty is 0).
pub fn parse_octal(field: &[u8]) -> Result<i64, ()> {
    let pad = |b: &u8| *b == b' ' || *b == 0;
    let start = field.iter().position(|b| !pad(b)).unwrap_or(field.len());
    let end = field.iter().rposition(|b| !pad(b)).map_or(start, |i| i + 1);
    let trimmed = &field[start..end];
    if trimmed.is_empty() {
        return Ok(0);
    }
    let digits = parse_string(trimmed);
    // strconv.ParseUint(s, 8, 64): at least one digit, all of them octal, no overflow.
    if digits.is_empty() || !digits.iter().all(|b| (b'0'..=b'7').contains(b)) {
        return Err(());
    }
    let mut value: u64 = 0;
    for &d in digits {
        value = value
            .checked_mul(8)
            .and_then(|v| v.checked_add(u64::from(d - b'0')))
            .ok_or(())?;
    }
    // Go converts with int64(x), wrapping; a header field cannot hold that much octal.
    Ok(value as i64)
}

/// Go's `parseNumeric`: GNU base-256 when the first byte has its high bit set (two's
/// complement, overflow refused), else [`parse_octal`].
pub fn parse_numeric(field: &[u8]) -> Result<i64, ()> {
    let Some(&first) = field.first() else {
        return Ok(0);
    };
    if first & 0x80 == 0 {
        return parse_octal(field);
    }
    let invert: u8 = if first & 0x40 != 0 { 0xff } else { 0 };
    let mut x: u64 = 0;
    for (i, &c) in field.iter().enumerate() {
        let mut c = c ^ invert;
        if i == 0 {
            c &= 0x7f;
        }
        if x >> 56 > 0 {
            return Err(());
        }
        x = x << 8 | u64::from(c);
    }
    if x >> 63 > 0 {
        return Err(());
    }
    Ok(if invert == 0xff { !(x as i64) } else { x as i64 })
}

/// Go's `getFormat` and `readHeader` on one non-zero block: the checksum, the format
/// from the magic, every numeric field the format has, and the name with its prefix.
pub fn parse_header(block: &[u8; BLOCK]) -> Result<GoHeader, String> {
    let recorded = parse_octal(&block[148..156]).map_err(|()| "checksum field is not octal")?;
    let (mut unsigned, mut signed) = (0i64, 0i64);
    for (i, &b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { b };
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    if recorded != unsigned && recorded != signed {
        return Err("checksum mismatch".into());
    }
    enum Format {
        V7,
        Ustar,
        Star,
        Gnu,
    }
    let magic = &block[257..263];
    let format = if magic == b"ustar\0" && &block[508..512] == b"tar\0" {
        Format::Star
    } else if magic == b"ustar\0" {
        Format::Ustar
    } else if magic == b"ustar " && &block[263..265] == b" \0" {
        Format::Gnu
    } else {
        Format::V7
    };
    let bad = |what: &str| format!("invalid {what} field");
    let mut name = parse_string(&block[0..100]).to_vec();
    let size = parse_numeric(&block[124..136]).map_err(|()| bad("size"))?;
    let mode = parse_numeric(&block[100..108]).map_err(|()| bad("mode"))?;
    parse_numeric(&block[108..116]).map_err(|()| bad("uid"))?;
    parse_numeric(&block[116..124]).map_err(|()| bad("gid"))?;
    parse_numeric(&block[136..148]).map_err(|()| bad("mtime"))?;
    let prefix: Vec<u8> = match format {
        Format::V7 => Vec::new(),
        Format::Ustar | Format::Star | Format::Gnu => {
            parse_numeric(&block[329..337]).map_err(|()| bad("devmajor"))?;
            parse_numeric(&block[337..345]).map_err(|()| bad("devminor"))?;
            match format {
                Format::Ustar => parse_string(&block[345..500]).to_vec(),
                Format::Star => {
                    parse_numeric(&block[476..488]).map_err(|()| bad("STAR atime"))?;
                    parse_numeric(&block[488..500]).map_err(|()| bad("STAR ctime"))?;
                    parse_string(&block[345..476]).to_vec()
                }
                _ => {
                    // GNU: unparsable atime/ctime fields mean a pre-Go 1.8 writer that put
                    // a USTAR prefix there; Go then reads the prefix if it is ASCII.
                    let unparsable = |field: &[u8]| field[0] != 0 && parse_numeric(field).is_err();
                    if unparsable(&block[345..357]) || unparsable(&block[357..369]) {
                        let prefix = parse_string(&block[345..500]);
                        if prefix.is_ascii() {
                            prefix.to_vec()
                        } else {
                            Vec::new()
                        }
                    } else {
                        Vec::new()
                    }
                }
            }
        }
    };
    if !prefix.is_empty() {
        name = [&prefix[..], b"/", &name[..]].concat();
    }
    Ok(GoHeader {
        type_flag: block[156],
        name,
        size,
        mode,
    })
}

/// Go's `isHeaderOnlyType`.
pub fn is_header_only(type_flag: u8) -> bool {
    matches!(type_flag, b'1'..=b'6')
}

/// Go's `strconv.ParseInt(s, 10, 64)`: an optional sign, then decimal digits.
pub fn parse_int(s: &[u8]) -> Result<i64, ()> {
    let (negative, digits) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(());
    }
    let mut value: i128 = 0;
    for &d in digits {
        value = value * 10 + i128::from(d - b'0');
        if value > i128::from(i64::MAX) + 1 {
            return Err(());
        }
    }
    let value = if negative { -value } else { value };
    i64::try_from(value).map_err(|_| ())
}

/// Go's `parsePAXTime`: decimal seconds, optionally `.` and digits.
pub fn valid_pax_time(s: &[u8]) -> bool {
    let (seconds, fraction) = match s.iter().position(|&b| b == b'.') {
        Some(dot) => (&s[..dot], &s[dot + 1..]),
        None => (s, &[][..]),
    };
    parse_int(seconds).is_ok() && fraction.iter().all(u8::is_ascii_digit)
}

/// Go's `parsePAX`: the records of a PAX header, in order (later ones win, as in Go's
/// map), or why Go refuses them. GNU sparse offset/size pairs are checked for order and
/// joined into `GNU.sparse.map`, as Go does.
pub fn parse_pax(mut data: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
    let mut records = Vec::new();
    let mut sparse_map: Vec<Vec<u8>> = Vec::new();
    while !data.is_empty() {
        let bad = || "malformed PAX record".to_owned();
        let space = data.iter().position(|&b| b == b' ').ok_or_else(bad)?;
        let n = parse_int(&data[..space]).map_err(|()| bad())?;
        if n < 5 || n > data.len() as i64 {
            return Err(bad());
        }
        let n = n as usize;
        if n <= space + 1 {
            return Err(bad());
        }
        let record = &data[space + 1..n - 1];
        if data[n - 1] != b'\n' {
            return Err(bad());
        }
        data = &data[n..];
        let eq = record.iter().position(|&b| b == b'=').ok_or_else(bad)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let valid = !key.is_empty()
            && match key {
                b"path" | b"linkpath" | b"uname" | b"gname" => !value.contains(&0),
                _ => !key.contains(&0),
            };
        if !valid {
            return Err("invalid PAX record".into());
        }
        match key {
            b"GNU.sparse.offset" | b"GNU.sparse.numbytes" => {
                let expect_offset = sparse_map.len() % 2 == 0;
                if expect_offset != (key == b"GNU.sparse.offset") || value.contains(&b',') {
                    return Err("misordered GNU sparse records".into());
                }
                sparse_map.push(value.to_vec());
            }
            _ => records.push((key.to_vec(), value.to_vec())),
        }
    }
    if !sparse_map.is_empty() {
        records.push((b"GNU.sparse.map".to_vec(), sparse_map.join(&b","[..])));
    }
    Ok(records)
}

/// The value Go's map holds for `key` after [`parse_pax`]: the last record's.
fn pax_value<'a>(records: &'a [(Vec<u8>, Vec<u8>)], key: &[u8]) -> Option<&'a [u8]> {
    records
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_slice())
}

/// Go's `validRelPath` in Flux's `Untar`.
pub fn valid_rel_path(name: &[u8]) -> bool {
    !(name.is_empty()
        || name.contains(&b'\\')
        || name.starts_with(b"/")
        || name.windows(3).any(|w| w == b"../"))
}

/// One entry as Go's `Next` returns it (extension headers applied).
#[derive(Debug)]
enum GoEntry {
    Global,
    File {
        header: GoHeader,
        /// The data section Go reads for it (`nb` bytes), or `None` if the stream
        /// ends first.
        data: Option<Vec<u8>>,
    },
}

/// Go's `Reader` over an in-memory stream.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Unread data of the current entry, and its padding.
    remaining: usize,
    pad: usize,
}

impl Reader<'_> {
    fn available(&self) -> usize {
        self.data.len() - self.pos
    }

    /// `handleRegularFile`.
    fn begin_data(&mut self, header: &GoHeader) -> Result<(), String> {
        let nb = if is_header_only(header.type_flag) {
            0
        } else {
            header.size
        };
        if nb < 0 {
            return Err("negative size".into());
        }
        let nb = usize::try_from(nb).unwrap_or(usize::MAX);
        self.remaining = nb;
        self.pad = (BLOCK - nb % BLOCK) % BLOCK;
        Ok(())
    }

    /// `readSpecialFile`: the current entry's data, at most 1 MiB.
    fn read_special(&mut self) -> Result<Vec<u8>, String> {
        if self.remaining as u64 > MAX_SPECIAL as u64 {
            return Err("extension header too long".into());
        }
        if self.available() < self.remaining {
            return Err("unexpected EOF in an extension header".into());
        }
        let payload = self.data[self.pos..self.pos + self.remaining].to_vec();
        self.pos += self.remaining;
        self.remaining = 0;
        Ok(payload)
    }

    /// `Next`: `Ok(None)` at `io.EOF`, which Flux takes for the end of the archive.
    fn next(&mut self) -> Result<Option<GoEntry>, String> {
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut long_name: Vec<u8> = Vec::new();
        loop {
            // Discard the rest of the previous entry; running out in its padding is
            // `io.EOF`, the end.
            if self.available() < self.remaining {
                return Err("unexpected EOF in entry data".into());
            }
            self.pos += self.remaining;
            self.remaining = 0;
            if self.available() < self.pad {
                return Ok(None);
            }
            self.pos += self.pad;
            self.pad = 0;

            let Some(block) = self.read_block()? else {
                return Ok(None);
            };
            if block.iter().all(|&b| b == 0) {
                return match self.read_block()? {
                    None => Ok(None),
                    Some(second) if second.iter().all(|&b| b == 0) => Ok(None),
                    Some(_) => Err("zero block followed by data".into()),
                };
            }
            let mut header = parse_header(&block)?;
            self.begin_data(&header)?;
            match header.type_flag {
                b'x' | b'g' => {
                    let payload = self.read_special()?;
                    let records = parse_pax(&payload)?;
                    if header.type_flag == b'g' {
                        return Ok(Some(GoEntry::Global));
                    }
                    pax = records;
                }
                b'L' | b'K' => {
                    let payload = self.read_special()?;
                    if header.type_flag == b'L' {
                        long_name = parse_string(&payload).to_vec();
                    }
                }
                _ => {
                    merge_pax(&mut header, &pax)?;
                    if !long_name.is_empty() {
                        header.name = long_name;
                    }
                    if header.type_flag == 0 {
                        header.type_flag = if header.name.ends_with(b"/") { b'5' } else { b'0' };
                    }
                    self.begin_data(&header)?;
                    if header.type_flag == b'S' || is_pax_sparse(&pax) {
                        return Err(SPARSE.into());
                    }
                    let data = (self.available() >= self.remaining)
                        .then(|| self.data[self.pos..self.pos + self.remaining].to_vec());
                    return Ok(Some(GoEntry::File { header, data }));
                }
            }
        }
    }

    /// `io.ReadFull` of one block: `None` at a clean end, an error at a partial block.
    fn read_block(&mut self) -> Result<Option<[u8; BLOCK]>, String> {
        match self.available() {
            0 => Ok(None),
            n if n < BLOCK => Err("unexpected EOF in a header".into()),
            _ => {
                let mut block = [0u8; BLOCK];
                block.copy_from_slice(&self.data[self.pos..self.pos + BLOCK]);
                self.pos += BLOCK;
                Ok(Some(block))
            }
        }
    }
}

/// Marks an error that is really "outside the model".
const SPARSE: &str = "sparse file (not modelled)";

/// Go's `mergePAX`: non-empty values replace header fields; numbers must parse.
fn merge_pax(header: &mut GoHeader, records: &[(Vec<u8>, Vec<u8>)]) -> Result<(), String> {
    let keys: Vec<&Vec<u8>> = records.iter().map(|(k, _)| k).collect();
    for key in keys {
        let Some(value) = pax_value(records, key) else {
            continue;
        };
        if value.is_empty() {
            continue;
        }
        let ok = match key.as_slice() {
            b"path" => {
                header.name = value.to_vec();
                true
            }
            b"uid" | b"gid" => parse_int(value).is_ok(),
            b"atime" | b"mtime" | b"ctime" => valid_pax_time(value),
            b"size" => match parse_int(value) {
                Ok(size) => {
                    header.size = size;
                    true
                }
                Err(()) => false,
            },
            _ => true,
        };
        if !ok {
            return Err(format!("invalid PAX {} record", String::from_utf8_lossy(key)));
        }
    }
    Ok(())
}

/// Whether Go's `readGNUSparsePAXHeaders` reads the entry as a sparse file.
fn is_pax_sparse(records: &[(Vec<u8>, Vec<u8>)]) -> bool {
    let get = |k: &[u8]| pax_value(records, k).unwrap_or_default();
    let (major, minor) = (get(b"GNU.sparse.major"), get(b"GNU.sparse.minor"));
    match (major, minor) {
        (b"0", b"0" | b"1") | (b"1", b"0") => true,
        _ if !major.is_empty() || !minor.is_empty() => false,
        _ => !get(b"GNU.sparse.map").is_empty(),
    }
}

/// The kinds Flux's `Untar` switches on, from Go's `FileInfo().Mode()`.
#[derive(Debug, PartialEq, Eq)]
enum FluxKind {
    Regular,
    Dir,
    Symlink,
    Other,
}

fn flux_kind(type_flag: u8, mode: i64) -> FluxKind {
    // The mode's file-type bits, as Go's `FileInfo` reads them (FileMode is 32 bits).
    let bits = (mode as u32) & !0o7777;
    let (mut dir, mut symlink, mut other) = (false, false, false);
    match bits {
        0o040000 => dir = true,
        0o120000 => symlink = true,
        0o010000 | 0o060000 | 0o020000 | 0o140000 => other = true,
        _ => {}
    }
    match type_flag {
        b'2' => symlink = true,
        b'3' | b'4' | b'6' => other = true,
        b'5' => dir = true,
        _ => {}
    }
    if !(dir || symlink || other) {
        FluxKind::Regular
    } else if dir {
        FluxKind::Dir
    } else if symlink {
        FluxKind::Symlink
    } else {
        FluxKind::Other
    }
}

/// `filepath.Join(dir, name)` relative to `dir`: `None` when it is `dir` itself or
/// above it (only a last `..` can get there once `validRelPath` has passed).
fn join(name: &[u8]) -> Option<PathBuf> {
    let mut parts: Vec<&[u8]> = Vec::new();
    let mut above = false;
    for part in name.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    above = true;
                }
            }
            part => parts.push(part),
        }
    }
    if above || parts.is_empty() {
        return None;
    }
    Some(parts.iter().map(|p| OsStr::from_bytes(p)).collect())
}

/// `os.MkdirAll` inside the model's tree.
fn mkdir_all(tree: &mut BTreeMap<PathBuf, Option<Vec<u8>>>, path: &Path) -> Result<(), String> {
    let mut at = PathBuf::new();
    for part in path.components() {
        at.push(part);
        match tree.get(&at) {
            Some(Some(_)) => return Err(format!("{} is not a directory", at.display())),
            Some(None) => {}
            None => {
                tree.insert(at.clone(), None);
            }
        }
    }
    Ok(())
}

/// What Flux's `tar.Untar` extracts from the uncompressed tar stream `tar`, into a
/// directory that holds the symlinks [`PLANTED`] if `planted`.
pub fn untar(tar: &[u8], cap: Option<u64>, skip_symlinks: bool, planted: bool) -> GoOutcome {
    let mut reader = Reader {
        data: tar,
        pos: 0,
        remaining: 0,
        pad: 0,
    };
    let mut tree = BTreeMap::new();
    let mut processed: i64 = 0;
    loop {
        let entry = match reader.next() {
            Ok(Some(entry)) => entry,
            Ok(None) => return GoOutcome::Tree(tree),
            Err(e) if e == SPARSE => return GoOutcome::Unknown(SPARSE),
            Err(e) => return GoOutcome::Refused(e),
        };
        let GoEntry::File { header, data } = entry else {
            continue;
        };
        processed = processed.wrapping_add(header.size);
        if cap.is_some_and(|cap| processed > cap as i64) {
            return GoOutcome::Refused("bigger than the max archive size".into());
        }
        if !valid_rel_path(&header.name) {
            return GoOutcome::Refused("invalid name".into());
        }
        let path = join(&header.name);
        if planted
            && path
                .as_ref()
                .and_then(|p| p.components().next())
                .is_some_and(|c| PLANTED.iter().any(|p| c.as_os_str() == *p))
        {
            return GoOutcome::Unknown("a path through a planted symlink");
        }
        match flux_kind(header.type_flag, header.mode) {
            FluxKind::Regular => {
                // The parent (`filepath.Dir`) must be a directory or creatable as one.
                let Some(path) = path else {
                    return GoOutcome::Refused("a file at the destination itself".into());
                };
                if let Some(parent) = path.parent()
                    && let Err(e) = mkdir_all(&mut tree, parent)
                {
                    return GoOutcome::Refused(e);
                }
                if let Some(None) = tree.get(&path) {
                    return GoOutcome::Refused("a file over a directory".into());
                }
                let Some(content) = data else {
                    return GoOutcome::Refused("unexpected EOF in file data".into());
                };
                if content.len() as i64 != header.size {
                    return GoOutcome::Refused("wrote fewer bytes than the size".into());
                }
                reader.remaining = 0;
                reader.pos += content.len();
                tree.insert(path, Some(content));
            }
            FluxKind::Dir => {
                if let Some(path) = path
                    && let Err(e) = mkdir_all(&mut tree, &path)
                {
                    return GoOutcome::Refused(e);
                }
            }
            FluxKind::Symlink if skip_symlinks => {}
            FluxKind::Symlink => return GoOutcome::Refused("a symlink".into()),
            FluxKind::Other => return GoOutcome::Refused("unsupported type".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_as_in_go() {
        assert_eq!(parse_octal(b" 0000012\0"), Ok(10));
        assert_eq!(parse_octal(b"12\x0034\0"), Ok(10));
        assert_eq!(parse_octal(b"12 34\0"), Err(()));
        assert_eq!(parse_octal(b"\0\0"), Ok(0));
        assert_eq!(parse_int(b"+5"), Ok(5));
        assert_eq!(parse_int(b"-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775808"), Err(()));
        assert!(valid_pax_time(b"-1.5"));
        assert!(valid_pax_time(b"1."));
        assert!(!valid_pax_time(b"1.x"));
        assert!(!valid_pax_time(b".5"));
    }

    #[test]
    fn flux_refuses_names_with_dot_dot_slash_anywhere() {
        assert!(!valid_rel_path(b"a../b"));
        assert!(valid_rel_path(b"a/.."));
        assert!(valid_rel_path(b"..."));
    }
}
