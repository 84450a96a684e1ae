//! [`ErrorChain`]: an error with its causes, on one line.

use std::fmt;

/// Displays an error followed by each of its [`source`](std::error::Error::source)s,
/// separated by `": "`: the message for a status condition, an event or a log line.
///
/// The SDK's errors keep a wrapped cause in `source()` and out of their own message (so
/// that anyhow's `{:#}` does not print it twice); `to_string()` alone then says what
/// failed but not why. A reconciler that writes an error into a `Ready` condition or a
/// Warning event wants both:
///
/// ```
/// use flux_artifact_runtime::ErrorChain;
///
/// #[derive(Debug, thiserror::Error)]
/// #[error("failed to archive apps/podinfo")]
/// struct ArchiveFailed(#[source] std::io::Error);
///
/// let error = ArchiveFailed(std::io::Error::other("disk full"));
/// assert_eq!(error.to_string(), "failed to archive apps/podinfo");
/// assert_eq!(ErrorChain(&error).to_string(), "failed to archive apps/podinfo: disk full");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(error) = cause {
            write!(f, ": {error}")?;
            cause = error.source();
        }
        Ok(())
    }
}
