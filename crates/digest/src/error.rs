//! The error type of digest parsing and verification.

use crate::{Algorithm, Digest};

/// What was wrong with an algorithm name or digest string, or with the data a
/// [`Verifier`](crate::Verifier) checked.
///
/// Every variant carries the offending value so that a message shown to a user says
/// which digest was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The algorithm name is not one of [`Algorithm`]'s wire names.
    #[error("unsupported digest algorithm: {name}")]
    UnsupportedAlgorithm {
        /// The name that was given.
        name: String,
    },
    /// The string is not of the form `<algorithm>:<hex>`, or its hex part has a
    /// character that is not a hex digit.
    #[error("invalid checksum digest format {value:?}: {reason}")]
    InvalidFormat {
        /// The whole string that was given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The hex part has the wrong number of digits for its algorithm.
    #[error(
        "invalid checksum digest length {value:?}: {algorithm} needs {expected} hex digits, found {actual}"
    )]
    InvalidLength {
        /// The whole string (or, for raw bytes, the algorithm name) that was given.
        value: String,
        /// The algorithm named by the string.
        algorithm: Algorithm,
        /// The number of hex digits the algorithm needs.
        expected: usize,
        /// The number of hex digits found.
        actual: usize,
    },
    /// The hex part uses uppercase digits; digests are lowercase only, as in go-digest
    /// and Flux's fetcher.
    #[error("invalid checksum digest {value:?}: hex digits must be lowercase")]
    UppercaseHex {
        /// The whole string that was given.
        value: String,
    },
    /// Verified data did not hash to the expected digest.
    #[error(transparent)]
    Mismatch(Box<Mismatch>),
}

/// The two digests of a failed verification: what the data should hash to, and what
/// it does. Boxed inside [`Error::Mismatch`] to keep [`Error`] small.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("digest mismatch: expected {expected}, computed {actual}")]
pub struct Mismatch {
    /// The digest the data should have had.
    pub expected: Digest,
    /// The digest the data has.
    pub actual: Digest,
}
