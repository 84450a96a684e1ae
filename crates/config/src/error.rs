//! The error type of option validation and address derivation.

/// What is wrong with an [`Options`](crate::Options) value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `storage_address` is not `host:port` with a numeric port, or its host does not
    /// resolve.
    #[error("invalid storage address {address:?}: {reason}")]
    InvalidAddress {
        /// The address as configured.
        address: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The storage address has a wildcard host, which is advertised as the host name,
    /// and no usable host name was found.
    #[error("{wildcard} specified in storage address {address:?} but the hostname is invalid: {reason}")]
    Hostname {
        /// The address as configured.
        address: String,
        /// The wildcard host in it (`0.0.0.0` or `::`).
        wildcard: String,
        /// Why the host name cannot be used.
        reason: String,
    },
    /// An option has a value that cannot work; the message names its flag.
    #[error("--{flag}={value}: {problem}")]
    InvalidOption {
        /// The flag's name without the leading `--`, e.g. `artifact-retention-records`.
        flag: &'static str,
        /// The offending value as text.
        value: String,
        /// What is wrong with it.
        problem: String,
    },
}
