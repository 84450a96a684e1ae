//! The validated `algorithm:hex` digest value.

use std::{fmt, hash::Hash, str::FromStr};

use crate::{Algorithm, Error, Verifier, hex};

/// The longest digest value of any [`Algorithm`], in bytes.
const MAX_SIZE: usize = 64;

/// A content digest: an [`Algorithm`] and the hash value it computed.
///
/// On the wire it is the string `<algorithm>:<lowercase hex>` (`sha256:9f86…0a08`), which
/// [`Display`](fmt::Display) writes and [`FromStr`] reads back. Parsing validates like OCI
/// go-digest: a known algorithm, exactly the right number of hex digits for it, and
/// lowercase hex only. A `Digest` value is therefore always well formed.
///
/// ```
/// use flux_artifact_digest::{Algorithm, Digest};
///
/// let d: Digest = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
///     .parse()
///     .unwrap();
/// assert_eq!(d.algorithm(), Algorithm::Sha256);
/// assert_eq!(d, Algorithm::Sha256.digest_bytes(b"test"));
/// assert!("sha256:9F86".parse::<Digest>().is_err());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    /// The hash value in its first `algorithm.size()` bytes; the rest stay zero, so the
    /// derived comparisons only ever see meaningful bytes.
    bytes: [u8; MAX_SIZE],
}

impl Digest {
    /// A digest from an algorithm and its raw hash value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidLength`] if `value` is not [`Algorithm::size`] bytes long.
    pub fn from_bytes(algorithm: Algorithm, value: &[u8]) -> Result<Self, Error> {
        if value.len() != algorithm.size() {
            return Err(Error::InvalidLength {
                value: algorithm.name().to_owned(),
                algorithm,
                expected: algorithm.hex_len(),
                actual: value.len() * 2,
            });
        }
        let mut bytes = [0u8; MAX_SIZE];
        bytes[..value.len()].copy_from_slice(value);
        Ok(Digest { algorithm, bytes })
    }

    /// Wraps the output of `algorithm`'s hash function, whose length is always
    /// `algorithm.size()` (the known-answer tests pin every backend).
    pub(crate) fn from_output(algorithm: Algorithm, output: &[u8]) -> Self {
        debug_assert_eq!(output.len(), algorithm.size());
        let mut bytes = [0u8; MAX_SIZE];
        for (to, from) in bytes.iter_mut().zip(output) {
            *to = *from;
        }
        Digest { algorithm, bytes }
    }

    /// The algorithm that computed this digest.
    #[must_use]
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw hash value ([`Algorithm::size`] bytes).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.algorithm.size()]
    }

    /// The hash value as lowercase hex, without the `algorithm:` prefix (go-digest's
    /// `Encoded`).
    #[must_use]
    pub fn hex(&self) -> String {
        let mut buf = [0u8; MAX_SIZE * 2];
        hex::encode(self.as_bytes(), &mut buf).to_owned()
    }

    /// A verifier that accepts exactly the data that hashes to this digest.
    #[must_use]
    pub fn verifier(&self) -> Verifier {
        Verifier::new(*self)
    }

    fn parse(value: &str) -> Result<Self, Error> {
        let invalid_format = |reason| Error::InvalidFormat {
            value: value.to_owned(),
            reason,
        };
        let Some((name, encoded)) = value.split_once(':') else {
            return Err(invalid_format("expected <algorithm>:<hex>, found no ':'"));
        };
        if name.is_empty() {
            return Err(invalid_format("the algorithm before ':' is empty"));
        }
        if encoded.is_empty() {
            return Err(invalid_format("the hex value after ':' is empty"));
        }
        let algorithm: Algorithm = name.parse()?;
        if encoded.len() != algorithm.hex_len() {
            return Err(Error::InvalidLength {
                value: value.to_owned(),
                algorithm,
                expected: algorithm.hex_len(),
                actual: encoded.len(),
            });
        }
        let mut bytes = [0u8; MAX_SIZE];
        hex::decode_lowercase(encoded.as_bytes(), &mut bytes[..algorithm.size()]).map_err(|e| match e {
            hex::DecodeError::Uppercase => Error::UppercaseHex {
                value: value.to_owned(),
            },
            hex::DecodeError::NotHex => invalid_format("the value has a character that is not a hex digit"),
        })?;
        Ok(Digest { algorithm, bytes })
    }
}

impl FromStr for Digest {
    type Err = Error;

    /// Parses and validates `<algorithm>:<lowercase hex>`.
    ///
    /// The checks run in this order, each with its own [`Error`] variant: the `:` and both
    /// halves are present ([`Error::InvalidFormat`]), the algorithm is known
    /// ([`Error::UnsupportedAlgorithm`]), the hex part has the algorithm's length
    /// ([`Error::InvalidLength`]), and every digit is lowercase hex
    /// ([`Error::UppercaseHex`], or [`Error::InvalidFormat`] for a non-hex character).
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Digest::parse(value)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; MAX_SIZE * 2];
        f.write_str(self.algorithm.name())?;
        f.write_str(":")?;
        f.write_str(hex::encode(self.as_bytes(), &mut buf))
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl From<Digest> for String {
    fn from(digest: Digest) -> Self {
        digest.to_string()
    }
}

impl TryFrom<&str> for Digest {
    type Error = Error;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        value.parse()
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        value.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_SHA256: &str = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn err(value: &str) -> Error {
        value.parse::<Digest>().unwrap_err()
    }

    #[test]
    fn display_round_trips_a_parsed_digest() {
        let digest: Digest = TEST_SHA256.parse().unwrap();
        assert_eq!(digest.to_string(), TEST_SHA256);
        assert_eq!(digest.hex(), &TEST_SHA256["sha256:".len()..]);
        assert_eq!(format!("{digest:?}"), format!("Digest({TEST_SHA256})"));
    }

    #[test]
    fn missing_colon_is_an_invalid_format() {
        assert!(matches!(err("invalid"), Error::InvalidFormat { value, .. } if value == "invalid"));
    }

    #[test]
    fn empty_halves_are_invalid_formats() {
        assert!(matches!(err(""), Error::InvalidFormat { .. }));
        assert!(matches!(err(":abcd"), Error::InvalidFormat { .. }));
        assert!(matches!(err("sha256:"), Error::InvalidFormat { .. }));
    }

    #[test]
    fn unknown_algorithm_is_unsupported_and_named() {
        let e = err("md5:d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(e, Error::UnsupportedAlgorithm { name: "md5".into() });
        assert_eq!(e.to_string(), "unsupported digest algorithm: md5");
    }

    #[test]
    fn short_hex_is_an_invalid_length() {
        let e = err("sha256:abcd");
        assert!(matches!(
            e,
            Error::InvalidLength {
                algorithm: Algorithm::Sha256,
                expected: 64,
                actual: 4,
                ..
            }
        ));
        assert!(e.to_string().contains("\"sha256:abcd\""), "{e}");
    }

    #[test]
    fn a_sha256_length_value_under_sha512_is_an_invalid_length() {
        let value = TEST_SHA256.replace("sha256", "sha512");
        assert!(matches!(
            err(&value),
            Error::InvalidLength {
                expected: 128,
                actual: 64,
                ..
            }
        ));
    }

    #[test]
    fn uppercase_hex_is_its_own_error() {
        let value = TEST_SHA256.to_uppercase().replace("SHA256", "sha256");
        let e = err(&value);
        assert_eq!(e, Error::UppercaseHex { value: value.clone() });
        assert!(e.to_string().contains(&value));
    }

    #[test]
    fn non_hex_character_is_an_invalid_format() {
        let value = TEST_SHA256.replace('f', "g");
        assert!(matches!(err(&value), Error::InvalidFormat { value: v, .. } if v == value));
    }

    #[test]
    fn multibyte_characters_are_rejected_without_panicking() {
        let value = format!("sha256:{}é", "a".repeat(62));
        assert!(matches!(err(&value), Error::InvalidFormat { .. }));
        // 32 two-byte characters have the byte length of 64 hex digits.
        let value = format!("sha256:{}", "é".repeat(32));
        assert!(matches!(err(&value), Error::InvalidFormat { .. }));
    }

    #[test]
    fn from_bytes_checks_the_length() {
        let d = Digest::from_bytes(Algorithm::Sha1, &[0xab; 20]).unwrap();
        assert_eq!(d.to_string(), format!("sha1:{}", "ab".repeat(20)));
        assert!(matches!(
            Digest::from_bytes(Algorithm::Sha1, &[0; 32]),
            Err(Error::InvalidLength {
                expected: 40,
                actual: 64,
                ..
            })
        ));
    }

    #[test]
    fn digests_of_different_algorithms_with_equal_bytes_differ() {
        let a = Digest::from_bytes(Algorithm::Sha256, &[7; 32]).unwrap();
        let b = Digest::from_bytes(Algorithm::Blake3, &[7; 32]).unwrap();
        assert_ne!(a, b);
    }

    #[cfg(feature = "serde")]
    #[test]
    fn serde_uses_the_wire_string() {
        let digest: Digest = TEST_SHA256.parse().unwrap();
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"{TEST_SHA256}\""));
        assert_eq!(serde_json::from_str::<Digest>(&json).unwrap(), digest);
        let e = serde_json::from_str::<Digest>("\"sha256:ABC\"").unwrap_err();
        assert!(e.to_string().contains("sha256:ABC"), "{e}");
    }
}
