//! The closed set of digest algorithms and their wire names.

use std::{fmt, io, str::FromStr};

use crate::{Digest, Digester, Error};

/// A digest algorithm, named on the wire as in OCI `go-digest` (`sha256`, `blake3`, …).
///
/// The set is closed: every value can compute and verify digests, so there is no
/// "unavailable algorithm" state to check at run time (unlike Go's `Algorithm.Available`).
/// Parsing a name ([`FromStr`], [`algorithm_for_name`]) is where unknown names are rejected.
///
/// Not every algorithm suits every use. Flux's consumers (kustomize-controller,
/// helm-controller, `fluxcd/pkg/http/fetch`) verify artifact digests only for
/// [`Sha256`](Self::Sha256), [`Sha384`](Self::Sha384), [`Sha512`](Self::Sha512) and
/// [`Blake3`](Self::Blake3); see [`is_verifiable_by_flux`](Self::is_verifiable_by_flux).
/// [`Sha1`](Self::Sha1) exists for Git commit revisions, and the SHA-3 variants are
/// extras of this SDK that Flux cannot check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Algorithm {
    /// SHA-1 (`sha1`, 40 hex digits). For Git commit revisions only: Flux cannot verify it.
    Sha1,
    /// SHA-256 (`sha256`, 64 hex digits), the [canonical](Self::CANONICAL) algorithm.
    Sha256,
    /// SHA-384 (`sha384`, 96 hex digits).
    Sha384,
    /// SHA-512 (`sha512`, 128 hex digits).
    Sha512,
    /// BLAKE3 with 256-bit output (`blake3`, 64 hex digits).
    Blake3,
    /// SHA3-256 (`sha3-256`, 64 hex digits). Not in the Go SDK; Flux cannot verify it.
    Sha3_256,
    /// SHA3-512 (`sha3-512`, 128 hex digits). Not in the Go SDK; Flux cannot verify it.
    Sha3_512,
}

impl Algorithm {
    /// The algorithm used when nothing else is configured: SHA-256, as in Flux.
    pub const CANONICAL: Algorithm = Algorithm::Sha256;

    /// Every algorithm, in declaration order.
    pub const ALL: [Algorithm; 7] = [
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha384,
        Algorithm::Sha512,
        Algorithm::Blake3,
        Algorithm::Sha3_256,
        Algorithm::Sha3_512,
    ];

    /// The wire name, as written before the `:` of a digest string.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Algorithm::Sha1 => "sha1",
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha384 => "sha384",
            Algorithm::Sha512 => "sha512",
            Algorithm::Blake3 => "blake3",
            Algorithm::Sha3_256 => "sha3-256",
            Algorithm::Sha3_512 => "sha3-512",
        }
    }

    /// Length of the digest value in bytes.
    #[must_use]
    pub const fn size(self) -> usize {
        match self {
            Algorithm::Sha1 => 20,
            Algorithm::Sha256 | Algorithm::Blake3 | Algorithm::Sha3_256 => 32,
            Algorithm::Sha384 => 48,
            Algorithm::Sha512 | Algorithm::Sha3_512 => 64,
        }
    }

    /// Length of the digest value in hex digits (twice [`size`](Self::size)).
    #[must_use]
    pub const fn hex_len(self) -> usize {
        self.size() * 2
    }

    /// Whether Flux's consumers can verify an artifact digest of this algorithm.
    ///
    /// True for sha256, sha384, sha512 and blake3: the algorithms that
    /// kustomize-controller and helm-controller register. An artifact published with any
    /// other algorithm is rejected by them as "unsupported digest algorithm".
    #[must_use]
    pub const fn is_verifiable_by_flux(self) -> bool {
        matches!(
            self,
            Algorithm::Sha256 | Algorithm::Sha384 | Algorithm::Sha512 | Algorithm::Blake3
        )
    }

    /// A fresh streaming digester for this algorithm.
    #[must_use]
    pub fn digester(self) -> Digester {
        Digester::new(self)
    }

    /// The digest of `data`.
    ///
    /// ```
    /// use flux_artifact_digest::Algorithm;
    ///
    /// let d = Algorithm::Sha256.digest_bytes(b"test");
    /// assert_eq!(
    ///     d.to_string(),
    ///     "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    /// );
    /// ```
    #[must_use]
    pub fn digest_bytes(self, data: &[u8]) -> Digest {
        let mut digester = self.digester();
        digester.update(data);
        digester.digest()
    }

    /// The digest of everything `reader` yields until end of file.
    ///
    /// Reads in large chunks through one reusable buffer, so memory stays constant.
    ///
    /// # Errors
    ///
    /// Any error of `reader` other than [`io::ErrorKind::Interrupted`], which is retried.
    pub fn digest_reader(self, reader: impl io::Read) -> io::Result<Digest> {
        let mut digester = self.digester();
        digester.consume_reader(reader)?;
        Ok(digester.digest())
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Algorithm {
    type Err = Error;

    /// Parses a wire name. Names are case-sensitive, as in go-digest: `SHA256` is unknown.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Algorithm::ALL
            .into_iter()
            .find(|algorithm| algorithm.name() == name)
            .ok_or_else(|| Error::UnsupportedAlgorithm {
                name: name.to_owned(),
            })
    }
}

/// Looks up an algorithm by wire name: the counterpart of Go's `digest.AlgorithmForName`.
///
/// # Errors
///
/// [`Error::UnsupportedAlgorithm`] naming `name` if it is not one of the wire names of
/// [`Algorithm`].
///
/// ```
/// use flux_artifact_digest::{algorithm_for_name, Algorithm};
///
/// assert_eq!(algorithm_for_name("blake3").unwrap(), Algorithm::Blake3);
/// assert_eq!(
///     algorithm_for_name("md5").unwrap_err().to_string(),
///     "unsupported digest algorithm: md5"
/// );
/// ```
pub fn algorithm_for_name(name: &str) -> Result<Algorithm, Error> {
    name.parse()
}

#[cfg(feature = "serde")]
impl serde::Serialize for Algorithm {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_parses_back_to_its_algorithm() {
        for algorithm in Algorithm::ALL {
            assert_eq!(algorithm.name().parse::<Algorithm>().unwrap(), algorithm);
            assert_eq!(algorithm.to_string(), algorithm.name());
        }
    }

    #[test]
    fn names_are_case_sensitive() {
        assert!(matches!(
            "SHA256".parse::<Algorithm>(),
            Err(Error::UnsupportedAlgorithm { name }) if name == "SHA256"
        ));
    }

    #[test]
    fn canonical_is_sha256() {
        assert_eq!(Algorithm::CANONICAL, Algorithm::Sha256);
    }

    #[test]
    fn only_sha2_above_160_bits_and_blake3_are_verifiable_by_flux() {
        let verifiable: Vec<_> = Algorithm::ALL
            .into_iter()
            .filter(|a| a.is_verifiable_by_flux())
            .collect();
        assert_eq!(
            verifiable,
            [
                Algorithm::Sha256,
                Algorithm::Sha384,
                Algorithm::Sha512,
                Algorithm::Blake3
            ]
        );
    }

    #[test]
    fn hex_lengths_match_go_digest() {
        let lengths: Vec<_> = Algorithm::ALL
            .into_iter()
            .map(|a| (a.name(), a.hex_len()))
            .collect();
        assert_eq!(
            lengths,
            [
                ("sha1", 40),
                ("sha256", 64),
                ("sha384", 96),
                ("sha512", 128),
                ("blake3", 64),
                ("sha3-256", 64),
                ("sha3-512", 128)
            ]
        );
    }
}
