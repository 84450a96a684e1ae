//! [`ErrorChain`]: an error with its causes, on one line.

use std::fmt::{self, Write as _};

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
///
/// Errors of other crates often do repeat their cause in their message (kube's do): a
/// cause whose message is already part of the line is left out, so that such a chain
/// reads once too.
#[derive(Clone, Copy, Debug)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut line = self.0.to_string();
        let mut cause = self.0.source();
        while let Some(error) = cause {
            let message = error.to_string();
            if !line.contains(&message) {
                write!(line, ": {message}")?;
            }
            cause = error.source();
        }
        f.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An error whose message is `message`, caused by `source`.
    #[derive(Debug)]
    struct Layer {
        message: String,
        source: Option<Box<Layer>>,
    }

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(&self.message)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source
                .as_deref()
                .map(|s| s as &(dyn std::error::Error + 'static))
        }
    }

    fn chain(messages: &[&str]) -> Layer {
        messages
            .iter()
            .rev()
            .fold(None, |source, message| {
                Some(Layer {
                    message: (*message).to_owned(),
                    source: source.map(Box::new),
                })
            })
            .unwrap()
    }

    #[test]
    fn every_cause_follows_the_error() {
        let error = chain(&[
            "cannot publish apps/podinfo",
            "failed to apply",
            "connection refused",
        ]);
        assert_eq!(
            ErrorChain(&error).to_string(),
            "cannot publish apps/podinfo: failed to apply: connection refused"
        );
    }

    #[test]
    fn a_cause_the_message_already_has_is_not_repeated() {
        let error = chain(&[
            "failed to infer config: no kubeconfig: file not found",
            "no kubeconfig: file not found",
            "file not found",
        ]);
        assert_eq!(
            ErrorChain(&error).to_string(),
            "failed to infer config: no kubeconfig: file not found"
        );
    }
}
