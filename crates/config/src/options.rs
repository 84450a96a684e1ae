//! [`Options`]: what a producer controller configures, and the values derived from it.

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs},
    path::PathBuf,
    time::Duration,
};

use flux_artifact_digest::Algorithm;

use crate::{
    Error,
    address::{join_host_port, parse_port, split_host_port},
};

/// Default of `--storage-path` / `STORAGE_PATH`.
pub const DEFAULT_STORAGE_PATH: &str = "/data";
/// Default of `--storage-addr` / `STORAGE_ADDRESS`: port 9090 on every interface.
pub const DEFAULT_STORAGE_ADDRESS: &str = ":9090";
/// Default of `--artifact-retention-ttl`: one minute.
pub const DEFAULT_ARTIFACT_RETENTION_TTL: Duration = Duration::from_secs(60);
/// Default of `--artifact-retention-records`.
pub const DEFAULT_ARTIFACT_RETENTION_RECORDS: usize = 2;

/// Configuration of artifact storage and the artifact server.
///
/// The counterpart of Go's `config.Options`, with the same six settings, flags, env vars
/// and defaults. [`Options::default`] equals the flag defaults. With the `clap` feature
/// the struct is a [`clap::Args`] to flatten into a controller's command line; with
/// `serde` it (de)serializes with the Go struct's JSON keys.
///
/// | field | flag | env var | default |
/// |---|---|---|---|
/// | [`storage_path`](Self::storage_path) | `--storage-path` | `STORAGE_PATH` | `/data` |
/// | [`storage_address`](Self::storage_address) | `--storage-addr` | `STORAGE_ADDRESS` | `:9090` |
/// | [`storage_adv_address`](Self::storage_adv_address) | `--storage-adv-addr` | `STORAGE_ADV_ADDR` | empty: derived |
/// | [`artifact_retention_ttl`](Self::artifact_retention_ttl) | `--artifact-retention-ttl` | | `1m` |
/// | [`artifact_retention_records`](Self::artifact_retention_records) | `--artifact-retention-records` | | `2` |
/// | [`artifact_digest_algo`](Self::artifact_digest_algo) | `--artifact-digest-algo` | | `sha256` |
///
/// A flag beats its env var, which beats the default; an env var set to the empty string
/// counts as unset, as in Go.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase", default))]
pub struct Options {
    /// Directory where artifacts are stored. It must exist when storage is opened.
    pub storage_path: PathBuf,
    /// `host:port` the artifact server binds to; an empty host (`:9090`) means every
    /// interface. See [`bind_address`](Self::bind_address).
    pub storage_address: String,
    /// Address advertised in artifact URLs: `host:port`, or a base URL starting with
    /// `http://` or `https://`. Empty means "derive it from `storage_address`"; see
    /// [`advertised_address`](Self::advertised_address).
    pub storage_adv_address: String,
    /// Age after which an artifact other than the current one is garbage.
    ///
    /// In JSON, as in Go's `time.Duration`, an integer number of nanoseconds; a Go
    /// duration string (`"1m"`) is accepted on input too.
    #[cfg_attr(
        feature = "serde",
        serde(rename = "artifactRetentionTTL", with = "crate::serde_duration")
    )]
    pub artifact_retention_ttl: Duration,
    /// How many artifacts (the current one included) a garbage collection keeps at most.
    pub artifact_retention_records: usize,
    /// Algorithm of artifact digests.
    pub artifact_digest_algo: Algorithm,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            storage_path: PathBuf::from(DEFAULT_STORAGE_PATH),
            storage_address: DEFAULT_STORAGE_ADDRESS.to_owned(),
            storage_adv_address: String::new(),
            artifact_retention_ttl: DEFAULT_ARTIFACT_RETENTION_TTL,
            artifact_retention_records: DEFAULT_ARTIFACT_RETENTION_RECORDS,
            artifact_digest_algo: Algorithm::CANONICAL,
        }
    }
}

impl Options {
    /// The address that goes into artifact URLs (Go: `GetAdvertisedAddress`).
    ///
    /// - [`storage_adv_address`](Self::storage_adv_address) if it is set, verbatim;
    /// - else [`storage_address`](Self::storage_address) with an empty host replaced by
    ///   `localhost` (`:9090` → `localhost:9090`),
    /// - and a wildcard host (`0.0.0.0`, or `::` which Go misses) replaced by `$HOSTNAME`,
    ///   or the operating system's host name when that is unset or empty,
    /// - any other host unchanged; IPv6 literals are bracketed.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming `storage_address` if it is not `host:port` with a
    /// numeric port, and [`Error::Hostname`] if a wildcard needs the host name and it
    /// cannot be read.
    pub fn advertised_address(&self) -> Result<String, Error> {
        self.advertised_address_with(|| std::env::var("HOSTNAME").ok())
    }

    pub(crate) fn advertised_address_with(
        &self,
        hostname_env: impl FnOnce() -> Option<String>,
    ) -> Result<String, Error> {
        if !self.storage_adv_address.is_empty() {
            return Ok(self.storage_adv_address.clone());
        }
        let (host, port) = self.split_storage_address()?;
        let host = match host {
            "" => "localhost".to_owned(),
            "0.0.0.0" | "::" => match hostname_env().filter(|h| !h.is_empty()) {
                Some(name) => name,
                None => os_hostname(&self.storage_address, host)?,
            },
            other => other.to_owned(),
        };
        Ok(join_host_port(&host, port))
    }

    /// The socket address to listen on, from [`storage_address`](Self::storage_address).
    ///
    /// An empty host (`:9090`) listens on every IPv4 interface (`0.0.0.0:9090`); write
    /// `[::]:9090` for IPv6 or dual stack. IP literals are used as they are; a host name
    /// (`localhost:9090`) is resolved with a blocking lookup and its first address used.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidAddress`] naming the address if it is not `host:port` with a
    /// numeric port, or if its host name does not resolve.
    pub fn bind_address(&self) -> Result<SocketAddr, Error> {
        let (host, port) = self.split_storage_address()?;
        let port = parse_port(port).map_err(|reason| self.invalid_storage_address(reason))?;
        if host.is_empty() {
            return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok(SocketAddr::new(ip, port));
        }
        let mut resolved = (host, port)
            .to_socket_addrs()
            .map_err(|e| Error::InvalidAddress {
                address: self.storage_address.clone(),
                reason: format!("cannot resolve host {host:?}: {e}"),
            })?;
        resolved
            .next()
            .ok_or_else(|| self.invalid_storage_address("the host name resolves to no address"))
    }

    /// Checks the options for values that cannot work, naming the flag at fault.
    ///
    /// Rejects an empty storage path, a storage address that is not `host:port` with a
    /// numeric port, an advertised address with whitespace, zero retention records (the
    /// current artifact is always kept, so zero cannot be honoured), and a digest
    /// algorithm Flux's consumers cannot verify (sha1, sha3-*): artifacts published with
    /// it would be refused by kustomize-controller and helm-controller.
    ///
    /// An unknown algorithm name never gets this far: it is refused when the flag, env
    /// var or JSON is parsed, with a message naming the value.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidOption`] for the first problem found.
    pub fn validate(&self) -> Result<(), Error> {
        let invalid = |flag: &'static str, value: String, problem: String| {
            Err(Error::InvalidOption { flag, value, problem })
        };
        if self.storage_path.as_os_str().is_empty() {
            return invalid("storage-path", String::new(), "must not be empty".into());
        }
        if let Err(Error::InvalidAddress { address, reason }) = self
            .split_storage_address()
            .and_then(|(_, port)| parse_port(port).map_err(|reason| self.invalid_storage_address(reason)))
        {
            return invalid("storage-addr", address, reason);
        }
        if self
            .storage_adv_address
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return invalid(
                "storage-adv-addr",
                self.storage_adv_address.clone(),
                "must not contain whitespace or control characters".into(),
            );
        }
        if self.artifact_retention_records == 0 {
            return invalid(
                "artifact-retention-records",
                "0".into(),
                "must be at least 1: the current artifact is always kept".into(),
            );
        }
        let algorithm = self.artifact_digest_algo;
        if !algorithm.is_verifiable_by_flux() {
            return invalid(
                "artifact-digest-algo",
                algorithm.to_string(),
                format!(
                    "Flux consumers cannot verify {algorithm} artifact digests; use sha256, sha384, sha512 or blake3"
                ),
            );
        }
        Ok(())
    }

    fn split_storage_address(&self) -> Result<(&str, &str), Error> {
        split_host_port(&self.storage_address).map_err(|reason| self.invalid_storage_address(reason))
    }

    fn invalid_storage_address(&self, reason: &str) -> Error {
        Error::InvalidAddress {
            address: self.storage_address.clone(),
            reason: reason.to_owned(),
        }
    }
}

fn os_hostname(address: &str, wildcard: &str) -> Result<String, Error> {
    let hostname_error = |reason: &str| Error::Hostname {
        address: address.to_owned(),
        wildcard: wildcard.to_owned(),
        reason: reason.to_owned(),
    };
    let name = gethostname::gethostname()
        .into_string()
        .map_err(|_| hostname_error("the host name is not valid UTF-8"))?;
    if name.is_empty() {
        return Err(hostname_error("the host name is empty"));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_address(address: &str) -> Options {
        Options {
            storage_address: address.into(),
            ..Options::default()
        }
    }

    #[test]
    fn default_equals_the_go_flag_defaults() {
        let o = Options::default();
        assert_eq!(o.storage_path, PathBuf::from("/data"));
        assert_eq!(o.storage_address, ":9090");
        assert_eq!(o.storage_adv_address, "");
        assert_eq!(o.artifact_retention_ttl, Duration::from_secs(60));
        assert_eq!(o.artifact_retention_records, 2);
        assert_eq!(o.artifact_digest_algo, Algorithm::Sha256);
        assert_eq!(o.validate(), Ok(()));
    }

    #[test]
    fn advertised_address_is_the_adv_address_verbatim_when_set() {
        let o = Options {
            storage_adv_address: "artifacts.example.com:9090".into(),
            storage_address: "not even an address".into(),
            ..Options::default()
        };
        assert_eq!(o.advertised_address().unwrap(), "artifacts.example.com:9090");
    }

    #[test]
    fn advertised_address_of_an_empty_host_is_localhost() {
        assert_eq!(
            with_address(":9090").advertised_address().unwrap(),
            "localhost:9090"
        );
    }

    #[test]
    fn advertised_address_keeps_a_specific_host() {
        assert_eq!(
            with_address("127.0.0.1:9090").advertised_address().unwrap(),
            "127.0.0.1:9090"
        );
        assert_eq!(
            with_address("[::1]:9090").advertised_address().unwrap(),
            "[::1]:9090"
        );
    }

    #[test]
    fn advertised_address_of_a_wildcard_uses_hostname_env_when_set() {
        let o = with_address("0.0.0.0:9090");
        let got = o
            .advertised_address_with(|| Some("source-watcher-7d9f-abcde".into()))
            .unwrap();
        assert_eq!(got, "source-watcher-7d9f-abcde:9090");
    }

    #[test]
    fn advertised_address_of_a_wildcard_falls_back_to_the_os_hostname() {
        let expected = gethostname::gethostname().into_string().unwrap();
        for env in [None, Some(String::new())] {
            let got = with_address("0.0.0.0:9090")
                .advertised_address_with(|| env.clone())
                .unwrap();
            assert_eq!(got, format!("{expected}:9090"), "HOSTNAME={env:?}");
        }
    }

    #[test]
    fn advertised_address_treats_the_ipv6_wildcard_like_ipv4() {
        let got = with_address("[::]:9090")
            .advertised_address_with(|| Some("pod-0".into()))
            .unwrap();
        assert_eq!(got, "pod-0:9090");
    }

    #[test]
    fn advertised_address_of_an_invalid_address_names_it() {
        let err = with_address("invalid-address").advertised_address().unwrap_err();
        assert_eq!(
            err,
            Error::InvalidAddress {
                address: "invalid-address".into(),
                reason: "missing port in address".into()
            }
        );
        assert_eq!(
            err.to_string(),
            "invalid storage address \"invalid-address\": missing port in address"
        );
    }

    #[test]
    fn bind_address_of_an_empty_host_is_every_ipv4_interface() {
        assert_eq!(
            with_address(":9090").bind_address().unwrap(),
            "0.0.0.0:9090".parse().unwrap()
        );
    }

    #[test]
    fn bind_address_takes_ip_literals_as_they_are() {
        for address in ["0.0.0.0:9090", "127.0.0.1:0", "[::1]:9090", "[::]:9090"] {
            assert_eq!(
                with_address(address).bind_address().unwrap(),
                address.parse().unwrap()
            );
        }
    }

    #[test]
    fn bind_address_resolves_localhost() {
        let addr = with_address("localhost:9090").bind_address().unwrap();
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(addr.port(), 9090);
    }

    #[test]
    fn bind_address_rejects_bad_ports_naming_the_address() {
        for address in [":http", "127.0.0.1:", ":65536", "invalid:address:format"] {
            let err = with_address(address).bind_address().unwrap_err();
            assert!(
                matches!(&err, Error::InvalidAddress { address: a, .. } if a == address),
                "{address}: {err}"
            );
        }
    }

    #[test]
    fn validate_rejects_zero_retention_records_naming_the_flag() {
        let o = Options {
            artifact_retention_records: 0,
            ..Options::default()
        };
        let err = o.validate().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("--artifact-retention-records=0: must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn validate_rejects_algorithms_flux_cannot_verify_naming_the_flag() {
        for algorithm in [Algorithm::Sha1, Algorithm::Sha3_256, Algorithm::Sha3_512] {
            let o = Options {
                artifact_digest_algo: algorithm,
                ..Options::default()
            };
            let err = o.validate().unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("--artifact-digest-algo={algorithm}: ")),
                "{err}"
            );
        }
    }

    #[test]
    fn validate_rejects_a_bad_storage_address_naming_the_flag() {
        let err = with_address("invalid-address").validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "--storage-addr=invalid-address: missing port in address"
        );
    }

    #[test]
    fn validate_rejects_an_empty_storage_path() {
        let o = Options {
            storage_path: PathBuf::new(),
            ..Options::default()
        };
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .starts_with("--storage-path=")
        );
    }

    #[test]
    fn validate_rejects_whitespace_in_the_advertised_address() {
        let o = Options {
            storage_adv_address: "svc .ns:80".into(),
            ..Options::default()
        };
        assert!(
            o.validate()
                .unwrap_err()
                .to_string()
                .starts_with("--storage-adv-addr=svc .ns:80: ")
        );
    }
}
