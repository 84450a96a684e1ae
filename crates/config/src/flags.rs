//! [`clap::Args`] for [`Options`]: Go's flag names, env vars and defaults.
//!
//! clap passes an env var that is set but empty through as `""`, while the Go SDK treats
//! it as unset (`envOrDefault`). So the derive runs on a private mirror struct and the
//! public impl replaces empty values that came from the environment with the defaults;
//! an explicitly empty flag (`--storage-adv-addr=`) is kept, as in Go.

use std::time::Duration;

use clap::{ArgMatches, Args, Command, FromArgMatches, error::ErrorKind, parser::ValueSource};
use flux_artifact_digest::Algorithm;

use crate::{
    Options,
    address::{parse_port, split_host_port},
    options::{DEFAULT_ARTIFACT_RETENTION_RECORDS, DEFAULT_STORAGE_ADDRESS, DEFAULT_STORAGE_PATH},
    parse_duration,
};

// The command-line face of `Options`; field names are the clap argument ids. A plain
// comment on purpose: clap turns a doc comment on a flattened `Args` struct into the
// description of every binary that flattens it and has no doc comment of its own.
#[derive(Args)]
struct Flags {
    /// The path to the directory where artifacts will be stored.
    #[arg(long = "storage-path", env = "STORAGE_PATH", value_name = "PATH", default_value = DEFAULT_STORAGE_PATH)]
    storage_path: String,

    /// The address the artifact server will bind to.
    #[arg(
        long = "storage-addr",
        env = "STORAGE_ADDRESS",
        value_name = "ADDR",
        default_value = DEFAULT_STORAGE_ADDRESS,
        value_parser = storage_address
    )]
    storage_address: String,

    /// The in-cluster address the artifact server will advertise to clients
    /// [default: derived from --storage-addr].
    #[arg(
        long = "storage-adv-addr",
        env = "STORAGE_ADV_ADDR",
        value_name = "ADDR",
        default_value = "",
        hide_default_value = true
    )]
    storage_adv_address: String,

    /// The duration after which stale artifacts are garbage collected (Go syntax: 90s, 1h30m).
    #[arg(long = "artifact-retention-ttl", value_name = "DURATION", default_value = "1m0s", value_parser = parse_duration)]
    artifact_retention_ttl: Duration,

    /// The maximum number of artifacts to be kept in storage after a garbage collection.
    #[arg(long = "artifact-retention-records", value_name = "N", default_value_t = DEFAULT_ARTIFACT_RETENTION_RECORDS)]
    artifact_retention_records: usize,

    /// The hashing algorithm used to calculate the digest of artifacts (sha256, sha384, sha512, blake3).
    #[arg(long = "artifact-digest-algo", value_name = "ALGO", default_value = "sha256")]
    artifact_digest_algo: Algorithm,
}

/// `--storage-addr`: `host:port` with a numeric port, checked as
/// [`Options::validate`] checks it, so that a bad value is a usage error naming the flag
/// rather than a failure when storage or the server starts. The empty string passes
/// here because an empty `STORAGE_ADDRESS` means "unset"; an explicitly empty flag is
/// refused by [`refuse_empty_address_flag`].
fn storage_address(value: &str) -> Result<String, &'static str> {
    if !value.is_empty() {
        let (_, port) = split_host_port(value)?;
        parse_port(port)?;
    }
    Ok(value.to_owned())
}

/// `--storage-addr=` on the command line: no address at all, which Go would take as
/// port 80 of every interface and we refuse like any address without a port.
fn refuse_empty_address_flag(matches: &ArgMatches) -> Result<(), clap::Error> {
    let explicit = matches.value_source("storage_address") == Some(ValueSource::CommandLine);
    if explicit
        && matches
            .get_one::<String>("storage_address")
            .is_some_and(String::is_empty)
    {
        return Err(clap::Error::raw(
            ErrorKind::InvalidValue,
            "invalid value '' for '--storage-addr <ADDR>': missing port in address\n",
        ));
    }
    Ok(())
}

impl Flags {
    /// Takes from the parsed flags every value the command line or a non-empty env var
    /// gave, and everything else from `base`.
    fn merge_into(self, matches: &ArgMatches, base: Options) -> Options {
        let given = |id: &str, empty: bool| match matches.value_source(id) {
            Some(ValueSource::CommandLine) => true,
            // Go's envOrDefault: an empty env var is no value at all.
            Some(ValueSource::EnvVariable) => !empty,
            _ => false,
        };
        let pick = |id: &str, parsed: String, current: String| {
            if given(id, parsed.is_empty()) {
                parsed
            } else {
                current
            }
        };
        Options {
            storage_path: pick(
                "storage_path",
                self.storage_path,
                base.storage_path.to_string_lossy().into_owned(),
            )
            .into(),
            storage_address: pick("storage_address", self.storage_address, base.storage_address),
            storage_adv_address: pick(
                "storage_adv_address",
                self.storage_adv_address,
                base.storage_adv_address,
            ),
            artifact_retention_ttl: if given("artifact_retention_ttl", false) {
                self.artifact_retention_ttl
            } else {
                base.artifact_retention_ttl
            },
            artifact_retention_records: if given("artifact_retention_records", false) {
                self.artifact_retention_records
            } else {
                base.artifact_retention_records
            },
            artifact_digest_algo: if given("artifact_digest_algo", false) {
                self.artifact_digest_algo
            } else {
                base.artifact_digest_algo
            },
        }
    }
}

/// Adds `--storage-path`, `--storage-addr`, `--storage-adv-addr`,
/// `--artifact-retention-ttl`, `--artifact-retention-records` and
/// `--artifact-digest-algo` (and the env vars `STORAGE_PATH`, `STORAGE_ADDRESS`,
/// `STORAGE_ADV_ADDR`) to a command; flatten it with `#[command(flatten)]`.
impl Args for Options {
    fn augment_args(cmd: Command) -> Command {
        Flags::augment_args(cmd)
    }

    fn augment_args_for_update(cmd: Command) -> Command {
        Flags::augment_args_for_update(cmd)
    }
}

impl FromArgMatches for Options {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        refuse_empty_address_flag(matches)?;
        // Values not given are the flag defaults, which `Options::default` mirrors.
        Ok(Flags::from_arg_matches(matches)?.merge_into(matches, Options::default()))
    }

    /// Changes only the options that the command line or a non-empty env var set.
    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        refuse_empty_address_flag(matches)?;
        let current = std::mem::take(self);
        *self = Flags::from_arg_matches(matches)?.merge_into(matches, current);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The help text's `default_value = "1m0s"` must stay in step with the constant.
    #[test]
    fn ttl_default_text_formats_the_default_constant() {
        assert_eq!(
            crate::format_duration(crate::options::DEFAULT_ARTIFACT_RETENTION_TTL),
            "1m0s"
        );
    }
}
