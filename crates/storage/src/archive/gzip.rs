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

use std::{
    collections::BTreeMap,
    io::{self, Write},
    sync::{Arc, Mutex, mpsc},
    thread,
};

use zlib_rs::{Deflate, DeflateFlush, Status};

/// Input bytes per independently compressed block.
pub(crate) const BLOCK_SIZE: usize = 128 * 1024;
/// The deflate window: how much of the previous block primes the next.
const DICTIONARY_SIZE: usize = 32 * 1024;

/// Compresses blocks, each with a fresh deflate state.
///
/// A fresh state per block is what makes a block's bytes a function of its input
/// alone: zlib-rs 0.6.8's `reset` leaves state behind that changes the output of the
/// next stream (see the `mixed` input of the tests). The allocation costs nothing
/// measurable next to compressing 128 KiB.
pub(crate) struct BlockCompressor {
    level: i32,
}

impl BlockCompressor {
    pub(crate) fn new(level: u8) -> Self {
        BlockCompressor {
            level: i32::from(level),
        }
    }

    /// Compresses `data` primed with `dictionary` into `out` (replacing its content),
    /// ending with a sync flush, or with the end of the stream if `last`.
    pub(crate) fn compress(
        &self,
        dictionary: &[u8],
        data: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> io::Result<usize> {
        // Raw deflate (no zlib header) with the full 32 KiB window.
        let mut deflate = Deflate::new(self.level, false, 15);
        if !dictionary.is_empty() {
            deflate.set_dictionary(dictionary).map_err(deflate_error)?;
        }
        let flush = if last {
            DeflateFlush::Finish
        } else {
            DeflateFlush::SyncFlush
        };
        let needed = zlib_rs::compress_bound(data.len()) + 64;
        if out.len() < needed {
            out.resize(needed, 0);
        }
        let mut consumed = 0usize;
        let mut produced = 0usize;
        loop {
            let (in_before, out_before) = (deflate.total_in(), deflate.total_out());
            let status = deflate
                .compress(&data[consumed..], &mut out[produced..], flush)
                .map_err(deflate_error)?;
            consumed += usize::try_from(deflate.total_in() - in_before).map_err(io::Error::other)?;
            produced += usize::try_from(deflate.total_out() - out_before).map_err(io::Error::other)?;
            let done = match status {
                Status::StreamEnd => true,
                // A sync flush is complete once all input is in and output space is left.
                Status::Ok | Status::BufError => !last && consumed == data.len() && produced < out.len(),
            };
            if done {
                return Ok(produced);
            }
            if produced == out.len() {
                let grown = out.len() * 2;
                out.resize(grown, 0);
            }
        }
    }
}

fn deflate_error(e: zlib_rs::DeflateError) -> io::Error {
    io::Error::other(format!("deflate failed: {}", e.as_str()))
}

/// A gzip writer producing the block layout described in the module docs.
///
/// Blocks are compressed on the calling thread until a second block is needed; from
/// then on, with `threads > 1`, on a pool of that many workers while the caller goes on
/// producing input. The output is the same either way.
pub(crate) struct GzipWriter<W: Write> {
    inner: W,
    level: u8,
    threads: usize,
    engine: Engine,
    block: Vec<u8>,
    dictionary: Vec<u8>,
    spare_dictionary: Vec<u8>,
    crc: u32,
    len: u64,
}

enum Engine {
    Inline {
        compressor: BlockCompressor,
        out: Vec<u8>,
    },
    Pool(Pool),
}

impl<W: Write> GzipWriter<W> {
    /// Writes the gzip header (as Go's `compress/gzip` does: no name, mtime 0, OS
    /// "unknown") and returns the writer. `threads` caps the compression workers.
    pub(crate) fn new(mut inner: W, level: u8, threads: usize) -> io::Result<Self> {
        // XFL: 2 for maximum compression, 4 for the fastest, else 0, like Go.
        let xfl = match level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        inner.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255])?;
        Ok(GzipWriter {
            inner,
            level,
            threads,
            engine: Engine::Inline {
                compressor: BlockCompressor::new(level),
                out: Vec::new(),
            },
            block: Vec::with_capacity(BLOCK_SIZE),
            dictionary: Vec::with_capacity(DICTIONARY_SIZE),
            spare_dictionary: Vec::with_capacity(DICTIONARY_SIZE),
            crc: 0,
            len: 0,
        })
    }

    /// Compresses what is left, writes the gzip trailer and returns the inner writer.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        self.compress_block(true)?;
        if let Engine::Pool(pool) = &mut self.engine {
            pool.drain(&mut self.inner)?;
        }
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.to_le_bytes());
        // ISIZE is the input length modulo 2^32, by definition.
        trailer[4..].copy_from_slice(&(self.len as u32).to_le_bytes());
        self.inner.write_all(&trailer)?;
        let engine = std::mem::replace(
            &mut self.engine,
            Engine::Inline {
                compressor: BlockCompressor::new(self.level),
                out: Vec::new(),
            },
        );
        if let Engine::Pool(pool) = engine {
            pool.shut_down();
        }
        Ok(self.inner)
    }

    fn compress_block(&mut self, last: bool) -> io::Result<()> {
        if !last && self.threads > 1 && matches!(self.engine, Engine::Inline { .. }) {
            self.engine = Engine::Pool(Pool::start(self.level, self.threads));
        }
        // The next block's dictionary is this block's tail. Buffers are recycled rather
        // than allocated per block: the allocator keeps what is freed, so churn would show
        // up as resident memory.
        let mut next_dictionary = match &mut self.engine {
            Engine::Pool(pool) => pool.spare_dictionaries.pop().unwrap_or_default(),
            Engine::Inline { .. } => std::mem::take(&mut self.spare_dictionary),
        };
        next_dictionary.clear();
        if !last {
            next_dictionary.extend_from_slice(&self.block[self.block.len() - DICTIONARY_SIZE..]);
        }
        let dictionary = std::mem::replace(&mut self.dictionary, next_dictionary);
        match &mut self.engine {
            Engine::Inline { compressor, out } => {
                let len = compressor.compress(&dictionary, &self.block, last, out)?;
                self.inner.write_all(&out[..len])?;
                self.block.clear();
                self.spare_dictionary = dictionary;
            }
            Engine::Pool(pool) => {
                let data = std::mem::replace(&mut self.block, pool.spare_block());
                pool.submit(
                    Job {
                        dictionary,
                        data,
                        last,
                    },
                    &mut self.inner,
                )?;
            }
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

/// One block to compress.
struct Job {
    dictionary: Vec<u8>,
    data: Vec<u8>,
    last: bool,
}

/// A compressed block (its buffer and length), with the job's input buffers handed
/// back for reuse.
struct Done {
    sequence: u64,
    compressed: io::Result<(Vec<u8>, usize)>,
    data: Vec<u8>,
    dictionary: Vec<u8>,
}

/// Compression workers fed in order and drained in order.
struct Pool {
    jobs: Option<mpsc::SyncSender<(u64, Job, Vec<u8>)>>,
    results: mpsc::Receiver<Done>,
    workers: Vec<thread::JoinHandle<()>>,
    next_sequence: u64,
    next_to_write: u64,
    ready: BTreeMap<u64, (Vec<u8>, usize)>,
    in_flight: usize,
    max_in_flight: usize,
    spare_blocks: Vec<Vec<u8>>,
    spare_dictionaries: Vec<Vec<u8>>,
    spare_out: Vec<Vec<u8>>,
}

impl Pool {
    fn start(level: u8, threads: usize) -> Self {
        let (job_sender, job_receiver) = mpsc::sync_channel::<(u64, Job, Vec<u8>)>(threads);
        let job_receiver = Arc::new(Mutex::new(job_receiver));
        let (result_sender, results) = mpsc::channel();
        let workers = (0..threads)
            .map(|_| {
                let (jobs, done) = (job_receiver.clone(), result_sender.clone());
                thread::spawn(move || {
                    let compressor = BlockCompressor::new(level);
                    loop {
                        // The lock is held only to take a job, not while compressing.
                        let next = jobs.lock().map(|receiver| receiver.recv());
                        let Ok(Ok((sequence, job, mut out))) = next else {
                            return;
                        };
                        let compressed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            compressor.compress(&job.dictionary, &job.data, job.last, &mut out)
                        }))
                        .unwrap_or_else(|_| Err(io::Error::other("compression worker panicked")))
                        .map(|len| (out, len));
                        if done
                            .send(Done {
                                sequence,
                                compressed,
                                data: job.data,
                                dictionary: job.dictionary,
                            })
                            .is_err()
                        {
                            return;
                        }
                    }
                })
            })
            .collect();
        Pool {
            jobs: Some(job_sender),
            results,
            workers,
            next_sequence: 0,
            next_to_write: 0,
            ready: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: threads * 2,
            spare_blocks: Vec::new(),
            spare_dictionaries: Vec::new(),
            spare_out: Vec::new(),
        }
    }

    fn spare_block(&mut self) -> Vec<u8> {
        let mut buffer = self
            .spare_blocks
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BLOCK_SIZE));
        buffer.clear();
        buffer
    }

    fn submit(&mut self, job: Job, out: &mut impl Write) -> io::Result<()> {
        while self.in_flight >= self.max_in_flight {
            self.receive_one(out)?;
        }
        let buffer = self.spare_out.pop().unwrap_or_default();
        let sender = self
            .jobs
            .as_ref()
            .ok_or_else(|| io::Error::other("compression pool is shut down"))?;
        sender
            .send((self.next_sequence, job, buffer))
            .map_err(|_| io::Error::other("compression worker stopped"))?;
        self.next_sequence += 1;
        self.in_flight += 1;
        // Write out whatever is already done, without waiting.
        while let Ok(done) = self.results.try_recv() {
            self.accept(done, out)?;
        }
        Ok(())
    }

    /// Waits for every submitted block and writes them all.
    fn drain(&mut self, out: &mut impl Write) -> io::Result<()> {
        while self.in_flight > 0 {
            self.receive_one(out)?;
        }
        Ok(())
    }

    fn receive_one(&mut self, out: &mut impl Write) -> io::Result<()> {
        let done = self
            .results
            .recv()
            .map_err(|_| io::Error::other("compression worker stopped"))?;
        self.accept(done, out)
    }

    fn accept(&mut self, done: Done, out: &mut impl Write) -> io::Result<()> {
        self.in_flight -= 1;
        self.spare_blocks.push(done.data);
        self.spare_dictionaries.push(done.dictionary);
        self.ready.insert(done.sequence, done.compressed?);
        while let Some((compressed, len)) = self.ready.remove(&self.next_to_write) {
            out.write_all(&compressed[..len])?;
            self.spare_out.push(compressed);
            self.next_to_write += 1;
        }
        Ok(())
    }

    fn shut_down(mut self) {
        self.jobs = None;
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        // Closing the job channel ends the workers' loops; they are not waited for here
        // (an abandoned archive must not block), they finish their current block and exit.
        self.jobs = None;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn gzip(data: &[u8], level: u8, chunk: usize) -> Vec<u8> {
        gzip_threads(data, level, chunk, 1)
    }

    fn gzip_threads(data: &[u8], level: u8, chunk: usize, threads: usize) -> Vec<u8> {
        let mut writer = GzipWriter::new(Vec::new(), level, threads).unwrap();
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

    /// Lines of words from a random vocabulary alternating with random bytes, like the
    /// mixed trees of real charts. zlib-rs 0.6.8 does not fully reset its state
    /// between streams, and on this input (unlike on regular patterns) a reused
    /// compressor's output depends on what it compressed before; each block therefore
    /// gets a fresh compressor, which this input checks.
    fn mixed(len: usize) -> Vec<u8> {
        let mut state = 1u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let vocabulary: Vec<Vec<u8>> = (0..500)
            .map(|_| {
                let r = next();
                vec![b'a' + (r % 26) as u8; 1 + (r >> 8) as usize % 8]
            })
            .collect();
        let mut out = Vec::with_capacity(len + 2048);
        while out.len() < len {
            if next() % 2 == 0 {
                out.extend((0..64).map(|_| next() as u8));
            } else {
                for k in 0..20 {
                    if k > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(&vocabulary[(next() % 500) as usize]);
                }
                out.push(b'\n');
            }
        }
        out.truncate(len);
        out
    }

    #[test]
    fn the_thread_count_does_not_change_the_output() {
        let data = mixed(24 * BLOCK_SIZE + 777);
        let reference = gzip_threads(&data, 6, 50_000, 1);
        for threads in [2, 3, 8] {
            assert_eq!(
                gzip_threads(&data, 6, 50_000, threads),
                reference,
                "{threads} threads"
            );
        }
        assert_eq!(gunzip(&reference), data);
    }

    #[test]
    fn a_pooled_writer_dropped_midway_does_not_hang() {
        let mut writer = GzipWriter::new(Vec::new(), 6, 4).unwrap();
        writer.write_all(&sample(5 * BLOCK_SIZE)).unwrap();
        drop(writer);
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
