//! Streaming digest computation: [`Digester`], [`Verifier`] and [`MultiDigester`].

use std::io;

use sha2::Digest as _;

use crate::{Algorithm, Digest, Error, error::Mismatch};

/// Buffer size for [`Algorithm::digest_reader`] and friends: large enough that syscalls
/// and per-call overhead vanish next to hashing, small enough to stay in L2.
const READ_CHUNK: usize = 256 * 1024;

/// Below this size a blake3 write is hashed on the calling thread; above it, and with the
/// `rayon` feature, on all cores. blake3's documentation puts the break-even near 128 KiB.
#[cfg(feature = "rayon")]
const BLAKE3_RAYON_MIN: usize = 128 * 1024;

/// The running state of one hash function.
#[derive(Clone)]
enum State {
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
    // Boxed: the blake3 hasher keeps a chunk stack of about 1.9 KiB.
    Blake3(Box<blake3::Hasher>),
    Sha3_256(sha3::Sha3_256),
    Sha3_512(sha3::Sha3_512),
}

/// Computes a digest of data written to it, as an [`io::Write`] sink.
///
/// The hash backends pick the fastest code path of the running CPU at run time: SHA-NI
/// for sha1 and sha256, AVX2 where it helps sha512, and SSE4.1/AVX2/AVX-512 for blake3.
/// With the `rayon` feature, blake3 hashes large writes on all cores.
///
/// ```
/// use std::io::Write;
/// use flux_artifact_digest::Algorithm;
///
/// let mut digester = Algorithm::Sha256.digester();
/// digester.write_all(b"hello ")?;
/// digester.write_all(b"world")?;
/// assert_eq!(
///     digester.digest().to_string(),
///     "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9"
/// );
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Digester {
    state: State,
}

impl Digester {
    /// A fresh digester for `algorithm`; the same as [`Algorithm::digester`].
    #[must_use]
    pub fn new(algorithm: Algorithm) -> Self {
        let state = match algorithm {
            Algorithm::Sha1 => State::Sha1(sha1::Sha1::new()),
            Algorithm::Sha256 => State::Sha256(sha2::Sha256::new()),
            Algorithm::Sha384 => State::Sha384(sha2::Sha384::new()),
            Algorithm::Sha512 => State::Sha512(sha2::Sha512::new()),
            Algorithm::Blake3 => State::Blake3(Box::new(blake3::Hasher::new())),
            Algorithm::Sha3_256 => State::Sha3_256(sha3::Sha3_256::new()),
            Algorithm::Sha3_512 => State::Sha3_512(sha3::Sha3_512::new()),
        };
        Digester { state }
    }

    /// The algorithm this digester computes.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        match self.state {
            State::Sha1(_) => Algorithm::Sha1,
            State::Sha256(_) => Algorithm::Sha256,
            State::Sha384(_) => Algorithm::Sha384,
            State::Sha512(_) => Algorithm::Sha512,
            State::Blake3(_) => Algorithm::Blake3,
            State::Sha3_256(_) => Algorithm::Sha3_256,
            State::Sha3_512(_) => Algorithm::Sha3_512,
        }
    }

    /// Feeds `data` to the hash. Infallible; [`io::Write`] calls this.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            State::Sha1(h) => h.update(data),
            State::Sha256(h) => h.update(data),
            State::Sha384(h) => h.update(data),
            State::Sha512(h) => h.update(data),
            State::Blake3(h) => update_blake3(h, data),
            State::Sha3_256(h) => h.update(data),
            State::Sha3_512(h) => h.update(data),
        }
    }

    /// The digest of everything written so far.
    ///
    /// Does not consume or reset the digester: writing more and asking again gives the
    /// digest of the longer input.
    #[must_use]
    pub fn digest(&self) -> Digest {
        match &self.state {
            State::Sha1(h) => Digest::from_output(Algorithm::Sha1, &h.clone().finalize()),
            State::Sha256(h) => Digest::from_output(Algorithm::Sha256, &h.clone().finalize()),
            State::Sha384(h) => Digest::from_output(Algorithm::Sha384, &h.clone().finalize()),
            State::Sha512(h) => Digest::from_output(Algorithm::Sha512, &h.clone().finalize()),
            State::Blake3(h) => Digest::from_output(Algorithm::Blake3, h.finalize().as_bytes()),
            State::Sha3_256(h) => Digest::from_output(Algorithm::Sha3_256, &h.clone().finalize()),
            State::Sha3_512(h) => Digest::from_output(Algorithm::Sha3_512, &h.clone().finalize()),
        }
    }

    /// Feeds everything `reader` yields to the hash, returning the number of bytes read.
    pub(crate) fn consume_reader(&mut self, mut reader: impl io::Read) -> io::Result<u64> {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut total = 0u64;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => {
                    self.update(&buf[..n]);
                    total += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(feature = "rayon")]
fn update_blake3(hasher: &mut blake3::Hasher, data: &[u8]) {
    if data.len() >= BLAKE3_RAYON_MIN {
        hasher.update_rayon(data);
    } else {
        hasher.update(data);
    }
}

#[cfg(not(feature = "rayon"))]
fn update_blake3(hasher: &mut blake3::Hasher, data: &[u8]) {
    hasher.update(data);
}

impl std::fmt::Debug for Digester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Digester")
            .field("algorithm", &self.algorithm())
            .finish_non_exhaustive()
    }
}

impl io::Write for Digester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Checks that data written to it hashes to an expected [`Digest`].
///
/// Made by [`Digest::verifier`]. Write the data, then ask [`verified`](Self::verified)
/// for a yes/no answer or [`verify`](Self::verify) for an error that names both digests.
///
/// ```
/// use std::io::Write;
/// use flux_artifact_digest::Algorithm;
///
/// let expected = Algorithm::Blake3.digest_bytes(b"payload");
/// let mut verifier = expected.verifier();
/// verifier.write_all(b"payload")?;
/// assert!(verifier.verified());
///
/// let mut verifier = expected.verifier();
/// verifier.write_all(b"tampered")?;
/// assert!(verifier.verify().is_err());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Verifier {
    expected: Digest,
    digester: Digester,
}

impl Verifier {
    pub(crate) fn new(expected: Digest) -> Self {
        Verifier {
            digester: expected.algorithm().digester(),
            expected,
        }
    }

    /// The digest the data must have.
    #[must_use]
    pub fn expected(&self) -> Digest {
        self.expected
    }

    /// Whether the data written so far hashes to the expected digest.
    #[must_use]
    pub fn verified(&self) -> bool {
        self.digester.digest() == self.expected
    }

    /// Like [`verified`](Self::verified), as a `Result`.
    ///
    /// # Errors
    ///
    /// [`Error::Mismatch`] with the expected and the computed digest.
    pub fn verify(&self) -> Result<(), Error> {
        let actual = self.digester.digest();
        if actual == self.expected {
            Ok(())
        } else {
            Err(Error::Mismatch(Box::new(Mismatch {
                expected: self.expected,
                actual,
            })))
        }
    }

    /// Feeds `data` to the verifier.
    pub fn update(&mut self, data: &[u8]) {
        self.digester.update(data);
    }
}

impl io::Write for Verifier {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.digester.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Computes several digests of the same data in one pass.
///
/// The counterpart of Go's `digest.MultiDigester`. Construction cannot fail, because
/// [`Algorithm`] only holds algorithms this crate implements; duplicates are kept once.
///
/// ```
/// use std::io::Write;
/// use flux_artifact_digest::{Algorithm, MultiDigester};
///
/// let mut multi = MultiDigester::new(&[Algorithm::Sha256, Algorithm::Blake3]);
/// multi.write_all(b"data")?;
/// assert_eq!(multi.digest(Algorithm::Blake3), Some(Algorithm::Blake3.digest_bytes(b"data")));
/// assert_eq!(multi.digest(Algorithm::Sha512), None);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MultiDigester {
    digesters: Vec<Digester>,
}

impl MultiDigester {
    /// A digester for each distinct algorithm of `algorithms`, in first-seen order.
    #[must_use]
    pub fn new(algorithms: &[Algorithm]) -> Self {
        let mut digesters: Vec<Digester> = Vec::with_capacity(algorithms.len());
        for &algorithm in algorithms {
            if !digesters.iter().any(|d| d.algorithm() == algorithm) {
                digesters.push(algorithm.digester());
            }
        }
        MultiDigester { digesters }
    }

    /// The distinct algorithms computed, in first-seen order.
    pub fn algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        self.digesters.iter().map(Digester::algorithm)
    }

    /// Feeds `data` to every digester.
    pub fn update(&mut self, data: &[u8]) {
        for digester in &mut self.digesters {
            digester.update(data);
        }
    }

    /// The digest of the data written so far for `algorithm`, or `None` if this
    /// multi-digester was not created with it (Go returns an empty digest there).
    #[must_use]
    pub fn digest(&self, algorithm: Algorithm) -> Option<Digest> {
        self.digesters
            .iter()
            .find(|d| d.algorithm() == algorithm)
            .map(Digester::digest)
    }
}

impl io::Write for MultiDigester {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_does_not_reset_the_state() {
        let mut d = Algorithm::Sha512.digester();
        d.update(b"hello ");
        let partial = d.digest();
        d.update(b"world");
        assert_eq!(partial, Algorithm::Sha512.digest_bytes(b"hello "));
        assert_eq!(d.digest(), Algorithm::Sha512.digest_bytes(b"hello world"));
    }

    #[test]
    fn multi_digester_keeps_duplicates_once() {
        let multi = MultiDigester::new(&[Algorithm::Sha256, Algorithm::Blake3, Algorithm::Sha256]);
        assert_eq!(
            multi.algorithms().collect::<Vec<_>>(),
            [Algorithm::Sha256, Algorithm::Blake3]
        );
    }

    #[test]
    fn verifier_reports_both_digests_on_mismatch() {
        let expected = Algorithm::Sha256.digest_bytes(b"a");
        let mut v = expected.verifier();
        v.update(b"b");
        assert!(!v.verified());
        let err = v.verify().unwrap_err();
        let actual = Algorithm::Sha256.digest_bytes(b"b");
        assert_eq!(err, Error::Mismatch(Box::new(Mismatch { expected, actual })));
        assert!(err.to_string().contains(&expected.to_string()));
    }

    #[test]
    fn digest_reader_retries_interrupted_reads() {
        struct Flaky<'a> {
            data: &'a [u8],
            interrupt_next: bool,
        }
        impl io::Read for Flaky<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                self.interrupt_next = !self.interrupt_next;
                if self.interrupt_next {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let n = buf.len().min(self.data.len()).min(3);
                buf[..n].copy_from_slice(&self.data[..n]);
                self.data = &self.data[n..];
                Ok(n)
            }
        }
        let reader = Flaky {
            data: b"interrupted data",
            interrupt_next: false,
        };
        assert_eq!(
            Algorithm::Sha1.digest_reader(reader).unwrap(),
            Algorithm::Sha1.digest_bytes(b"interrupted data")
        );
    }

    #[test]
    fn digest_reader_passes_on_read_errors() {
        struct Broken;
        impl io::Read for Broken {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let err = Algorithm::Sha256.digest_reader(Broken).unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }
}
