//! The gzip encoding of artifacts: one gzip member whose deflate stream is cut into
//! fixed-size blocks, pigz-style.
//!
//! Each [`BLOCK_SIZE`] block of input is compressed on its own, primed with the last
//! 32 KiB of the previous block as dictionary (so matches still reach back across the
//! cut), and ended with a sync flush (an empty stored block) that byte-aligns it, so the
//! compressed blocks concatenate into one valid deflate stream; the last block ends the
//! stream. Because a block's bytes depend only on its input and the input before it,
//! never on timing, blocks can be compressed on several threads and the output is the
//! same for any thread count: artifacts stay reproducible.
//!
//! The engine is zlib-rs at an exact version, and the output is part of every artifact's
//! identity (DESIGN.md §4); `tests/archive_identity.rs` pins it.

use std::io::{self, Write};

use zlib_rs::{Deflate, DeflateFlush, Status};

/// Input bytes per independently compressed block.
pub(crate) const BLOCK_SIZE: usize = 128 * 1024;
/// The deflate window: how much of the previous block primes the next.
const DICTIONARY_SIZE: usize = 32 * 1024;

/// Compresses blocks with one reusable deflate state.
pub(crate) struct BlockCompressor {
    deflate: Deflate,
    out: Vec<u8>,
}

impl BlockCompressor {
    pub(crate) fn new(level: u8) -> Self {
        // Raw deflate (no zlib header) with the full 32 KiB window.
        BlockCompressor {
            deflate: Deflate::new(i32::from(level), false, 15),
            out: Vec::new(),
        }
    }

    /// Compresses `data` primed with `dictionary`, ending with a sync flush, or with the
    /// end of the stream if `last`. The result is valid until the next call.
    pub(crate) fn compress(&mut self, dictionary: &[u8], data: &[u8], last: bool) -> io::Result<&[u8]> {
        self.deflate.reset();
        if !dictionary.is_empty() {
            self.deflate.set_dictionary(dictionary).map_err(deflate_error)?;
        }
        let flush = if last {
            DeflateFlush::Finish
        } else {
            DeflateFlush::SyncFlush
        };
        self.out.clear();
        self.out.resize(zlib_rs::compress_bound(data.len()) + 64, 0);
        let mut consumed = 0usize;
        let mut produced = 0usize;
        loop {
            let (in_before, out_before) = (self.deflate.total_in(), self.deflate.total_out());
            let status = self
                .deflate
                .compress(&data[consumed..], &mut self.out[produced..], flush)
                .map_err(deflate_error)?;
            consumed += usize::try_from(self.deflate.total_in() - in_before).map_err(io::Error::other)?;
            produced += usize::try_from(self.deflate.total_out() - out_before).map_err(io::Error::other)?;
            let done = match status {
                Status::StreamEnd => true,
                // A sync flush is complete once all input is in and output space is left.
                Status::Ok | Status::BufError => !last && consumed == data.len() && produced < self.out.len(),
            };
            if done {
                break;
            }
            if produced == self.out.len() {
                let grown = self.out.len() * 2;
                self.out.resize(grown, 0);
            }
        }
        Ok(&self.out[..produced])
    }
}

fn deflate_error(e: zlib_rs::DeflateError) -> io::Error {
    io::Error::other(format!("deflate failed: {}", e.as_str()))
}

/// A gzip writer producing the block layout described in the module docs.
pub(crate) struct GzipWriter<W: Write> {
    inner: W,
    compressor: BlockCompressor,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    crc: u32,
    len: u64,
}

impl<W: Write> GzipWriter<W> {
    /// Writes the gzip header (as Go's `compress/gzip` does: no name, mtime 0, OS
    /// "unknown") and returns the writer.
    pub(crate) fn new(mut inner: W, level: u8) -> io::Result<Self> {
        // XFL: 2 for maximum compression, 4 for the fastest, else 0, like Go.
        let xfl = match level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        Ok(GzipWriter {
            inner,
            compressor: BlockCompressor::new(level),
            block: Vec::with_capacity(BLOCK_SIZE),
            dictionary: Vec::with_capacity(DICTIONARY_SIZE),
            crc: 0,
            len: 0,
        })
    }

    /// Compresses what is left, writes the gzip trailer and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.compress_block(true)?;
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.to_le_bytes());
        // ISIZE is the input length modulo 2^32, by definition.
        trailer[4..].copy_from_slice(&(self.len as u32).to_le_bytes());
        self.inner.write_all(&trailer)?;
        Ok(self.inner)
    }

    fn compress_block(&mut self, last: bool) -> io::Result<()> {
        let compressed = self.compressor.compress(&self.dictionary, &self.block, last)?;
        self.inner.write_all(compressed)?;
        if !last {
            self.dictionary.clear();
            self.dictionary
                .extend_from_slice(&self.block[self.block.len() - DICTIONARY_SIZE..]);
            self.block.clear();
        }
        Ok(())
    }
}

impl<W: Write> Write for GzipWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            // A full block is compressed only once more input arrives, because the last
            // block is compressed differently (it ends the stream).
            if self.block.len() == BLOCK_SIZE {
                self.compress_block(false)?;
            }
            let take = rest.len().min(BLOCK_SIZE - self.block.len());
            self.block.extend_from_slice(&rest[..take]);
            self.crc = zlib_rs::crc32::crc32(self.crc, &rest[..take]);
            rest = &rest[take..];
        }
        self.len += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip(data: &[u8], level: u8, chunk: usize) -> Vec<u8> {
        let mut writer = GzipWriter::new(Vec::new(), level).unwrap();
        for part in data.chunks(chunk.max(1)) {
            writer.write_all(part).unwrap();
        }
        writer.finish().unwrap()
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data).read_to_end(&mut out).unwrap();
        out
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| ((i * 31) ^ (i >> 7)) as u8 % 61 + b'A')
            .collect()
    }

    #[test]
    fn round_trips_through_a_standard_decoder_at_every_level() {
        let data = sample(3 * BLOCK_SIZE + 12345);
        for level in 0..=9 {
            assert_eq!(gunzip(&gzip(&data, level, 10_000)), data, "level {level}");
        }
    }

    #[test]
    fn empty_input_is_a_valid_empty_gzip() {
        assert_eq!(gunzip(&gzip(&[], 6, 1)), b"");
    }

    #[test]
    fn input_of_exactly_one_block_ends_the_stream_in_that_block() {
        let data = sample(BLOCK_SIZE);
        assert_eq!(gunzip(&gzip(&data, 6, BLOCK_SIZE)), data);
    }

    #[test]
    fn how_input_is_split_into_writes_does_not_change_the_output() {
        let data = sample(2 * BLOCK_SIZE + 99);
        let reference = gzip(&data, 6, data.len());
        for chunk in [1, 511, 4096, BLOCK_SIZE - 1, BLOCK_SIZE + 1] {
            assert_eq!(gzip(&data, 6, chunk), reference, "chunk {chunk}");
        }
    }

    #[test]
    fn header_matches_go_compress_gzip() {
        assert_eq!(&gzip(b"x", 6, 1)[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255]);
        assert_eq!(gzip(b"x", 9, 1)[8], 2);
        assert_eq!(gzip(b"x", 1, 1)[8], 4);
    }

    #[test]
    fn dictionary_priming_keeps_compression_across_block_cuts() {
        // A block repeating the previous one compresses to almost nothing only if the
        // previous block's tail is visible as dictionary.
        let block: Vec<u8> = (0..BLOCK_SIZE)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let tail = block[BLOCK_SIZE - 20_000..].to_vec();
        let data = [block.clone(), tail].concat();
        let one = gzip(&block, 6, BLOCK_SIZE).len();
        let both = gzip(&data, 6, data.len()).len();
        assert!(both < one + 1000, "{both} vs {one}");
    }
}
