//! Content digests for Flux artifacts.
//!
//! ```
//! use std::io::Write;
//! use flux_artifact_digest::{Algorithm, Digest};
//!
//! // Compute: one call for bytes in memory, or stream through a Digester.
//! let mut digester = Algorithm::CANONICAL.digester();
//! digester.write_all(b"apiVersion: v1\nkind: ConfigMap\n")?;
//! let digest: Digest = digester.digest();
//!
//! // Publish and read back as the `algo:hex` wire string.
//! let wire = digest.to_string();
//! assert!(wire.starts_with("sha256:"));
//! let parsed: Digest = wire.parse()?;
//!
//! // Verify downloaded data against it.
//! let mut verifier = parsed.verifier();
//! verifier.write_all(b"apiVersion: v1\nkind: ConfigMap\n")?;
//! assert!(verifier.verified());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This is the Rust counterpart of Go's `github.com/fluxcd/pkg/artifact/digest` and of
//! the parts of `github.com/opencontainers/go-digest` it relies on. A Flux artifact's
//! `status.artifact.digest` is a string `<algorithm>:<lowercase hex>`; this crate
//! computes such digests ([`Digester`], [`MultiDigester`], [`Algorithm::digest_bytes`],
//! [`Algorithm::digest_reader`]), parses and validates them ([`Digest`]'s
//! [`FromStr`](std::str::FromStr)), and verifies data against them ([`Verifier`]).
//!
//! # Algorithms
//!
//! | [`Algorithm`] | wire name | hex digits | verifiable by Flux | note |
//! |---|---|---|---|---|
//! | [`Sha1`](Algorithm::Sha1) | `sha1` | 40 | no | Git commit revisions only |
//! | [`Sha256`](Algorithm::Sha256) | `sha256` | 64 | yes | [canonical](Algorithm::CANONICAL) |
//! | [`Sha384`](Algorithm::Sha384) | `sha384` | 96 | yes | |
//! | [`Sha512`](Algorithm::Sha512) | `sha512` | 128 | yes | |
//! | [`Blake3`](Algorithm::Blake3) | `blake3` | 64 | yes | fastest; all cores with `rayon` |
//! | [`Sha3_256`](Algorithm::Sha3_256) | `sha3-256` | 64 | no | beyond the Go SDK |
//! | [`Sha3_512`](Algorithm::Sha3_512) | `sha3-512` | 128 | no | beyond the Go SDK |
//!
//! "Verifiable by Flux" means kustomize-controller and helm-controller can check an
//! artifact digest of that algorithm; [`Algorithm::is_verifiable_by_flux`] tells it in
//! code. Publishing an artifact with any other algorithm makes those consumers refuse it.
//!
//! # Differences from the Go package
//!
//! - The algorithm set is a closed enum, so [`MultiDigester::new`] cannot fail and there
//!   is no run-time "available" check.
//! - There is no mutable package-global `Canonical`: callers pass the algorithm they
//!   use ([`Algorithm::CANONICAL`] is a constant).
//! - Parse errors tell apart an unsupported algorithm, a malformed string, a wrong length
//!   and uppercase hex ([`Error`]).
//!
//! # Feature flags
//!
//! - `serde` (default): [`Digest`] and [`Algorithm`] (de)serialize as their wire strings.
//! - `rayon`: blake3 hashes writes of 128 KiB or more on all cores.

mod algorithm;
mod digest;
mod digester;
mod error;
mod hex;

pub use crate::{
    algorithm::{Algorithm, algorithm_for_name},
    digest::Digest,
    digester::{Digester, MultiDigester, Verifier},
    error::{Error, Mismatch},
};

/// The crate README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
