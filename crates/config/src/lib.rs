//! Configuration of a Flux artifact producer: where artifacts are stored, where they are
//! served and advertised, how long they are kept, and how they are digested.
//!
//! ```
//! use clap::Parser;
//! use flux_artifact_config::Options;
//!
//! /// A controller's command line, with the artifact options flattened in.
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     artifact: Options,
//! }
//!
//! let cli = Cli::try_parse_from([
//!     "my-controller",
//!     "--storage-path=/tmp",
//!     "--storage-addr=0.0.0.0:9090",
//!     "--storage-adv-addr=my-controller.flux-system.svc.cluster.local.",
//!     "--artifact-retention-ttl=1h30m",
//! ])?;
//! let options = cli.artifact;
//! options.validate()?;
//!
//! assert_eq!(options.artifact_retention_ttl.as_secs(), 5400);
//! assert_eq!(options.artifact_retention_records, 2);
//! assert_eq!(options.bind_address()?.port(), 9090);
//! assert_eq!(options.advertised_address()?, "my-controller.flux-system.svc.cluster.local.");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! This is the Rust counterpart of Go's `github.com/fluxcd/pkg/artifact/config`. The
//! flags, env vars and defaults are the same, so Deployment manifests written for a Go
//! controller built on the Go SDK (source-watcher, say) configure a Rust one unchanged:
//!
//! | flag | env var | default |
//! |---|---|---|
//! | `--storage-path` | `STORAGE_PATH` | `/data` |
//! | `--storage-addr` | `STORAGE_ADDRESS` | `:9090` |
//! | `--storage-adv-addr` | `STORAGE_ADV_ADDR` | empty (derived) |
//! | `--artifact-retention-ttl` | | `1m` |
//! | `--artifact-retention-records` | | `2` |
//! | `--artifact-digest-algo` | | `sha256` |
//!
//! A flag beats its env var, which beats the default, and an env var set to the empty
//! string counts as unset, as in Go (clap alone would pass it through as `""`).
//!
//! # Differences from the Go package
//!
//! - [`Options::validate`] checks the values up front and names the flag at fault; the
//!   Go SDK has no such check, so a bad value surfaces later as a storage or server error.
//! - Durations use Go's syntax exactly ([`parse_duration`]), but cannot be negative.
//! - The IPv6 wildcard `[::]` in `--storage-addr` is advertised as the host name like
//!   `0.0.0.0` (Go advertises `[::]` literally), and a non-numeric port is an error.
//! - [`Options::bind_address`] gives the [`SocketAddr`](std::net::SocketAddr) to listen on.
//! - A `--storage-addr` that is not `host:port` with a numeric port is a usage error
//!   when the command line is parsed (Go accepts it and fails when the server starts).
//!
//! # Go-style flags of your own
//!
//! A binary porting a Go controller has more flags than these, with Go's syntax:
//! [`parse_duration`] for durations (`--reconciliation-timeout=10m`) and
//! [`parse_go_bool`] for booleans that take `--flag=false`, with the clap attributes
//! shown in its documentation.
//!
//! # Feature flags
//!
//! - `clap` (default): [`Options`] implements [`clap::Args`] and
//!   [`clap::FromArgMatches`].
//! - `serde` (default): [`Options`] (de)serializes with the Go struct's JSON keys
//!   (`storagePath`, `storageAddress`, `storageAdvAddress`, `artifactRetentionTTL` in
//!   nanoseconds, `artifactRetentionRecords`, `artifactDigestAlgo`); missing keys take
//!   their defaults.

mod address;
mod duration;
mod error;
#[cfg(feature = "clap")]
mod flags;
mod go_bool;
mod options;
#[cfg(feature = "serde")]
mod serde_duration;

pub use crate::{
    duration::{DurationErrorKind, ParseDurationError, format_duration, parse_duration},
    error::Error,
    go_bool::{ParseGoBoolError, parse_go_bool},
    options::{
        DEFAULT_ARTIFACT_RETENTION_RECORDS, DEFAULT_ARTIFACT_RETENTION_TTL, DEFAULT_STORAGE_ADDRESS,
        DEFAULT_STORAGE_PATH, Options,
    },
};
/// Digest algorithms, re-exported because [`Options::artifact_digest_algo`] is one.
pub use flux_artifact_digest::Algorithm;
