//! The error type of the Kubernetes helpers.

/// What went wrong talking to the API server or reading a source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The API server answered 404: for a read, the object does not exist; for a write
    /// or a list, its namespace or resource type (the CRD) does not; `message` says
    /// which.
    #[error("cannot {action} {}: not found: {message}", describe(kind, namespace, name))]
    NotFound {
        /// What was being done.
        action: &'static str,
        /// Kind of the object.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API server's message.
        message: String,
    },
    /// The caller's service account may not do this (HTTP 403): its RBAC lacks a verb
    /// (see `docs/kubernetes.md` for what a producer needs), or an admission policy
    /// refused the request.
    #[error("forbidden to {action} {}: {message}", describe(kind, namespace, name))]
    Forbidden {
        /// What was being done.
        action: &'static str,
        /// Kind of the object.
        kind: String,
        /// Its namespace (empty for cluster-wide lists).
        namespace: String,
        /// Its name (empty for lists).
        name: String,
        /// The API server's message.
        message: String,
    },
    /// The request conflicted with the object's state, e.g. another field manager owns
    /// the fields (HTTP 409).
    #[error(
        "conflict while trying to {action} {}: {message}",
        describe(kind, namespace, name)
    )]
    Conflict {
        /// What was being done.
        action: &'static str,
        /// Kind of the object.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API server's message.
        message: String,
    },
    /// The API server refused the object as invalid (HTTP 422), e.g. a value outside
    /// the CRD's schema.
    #[error("failed to {action} {}: invalid: {message}", describe(kind, namespace, name))]
    Invalid {
        /// What was being done.
        action: &'static str,
        /// Kind of the object.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The API server's message.
        message: String,
    },
    /// Any other failure of an API call: another HTTP status, or no answer at all. The
    /// client's error, with the status the server answered if any, is the
    /// [`source`](std::error::Error::source) (print the chain, e.g. with anyhow's
    /// `{:#}`, to see it).
    #[error("failed to {action} {}", describe(kind, namespace, name))]
    Api {
        /// What was being done.
        action: &'static str,
        /// Kind of the object.
        kind: String,
        /// Its namespace (empty for cluster-wide lists).
        namespace: String,
        /// Its name (empty for lists).
        name: String,
        /// The client's error.
        source: Box<kube::Error>,
    },
    /// The source exists but has no artifact yet.
    #[error("source '{kind}/{namespace}/{name}' is not ready: it has no artifact")]
    SourceNotReady {
        /// Kind of the source.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A reference to another namespace while cross-namespace references are disabled.
    #[error("cannot access {kind} {namespace}/{name}: cross-namespace references are not allowed")]
    AccessDenied {
        /// Kind of the referenced object.
        kind: String,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The owner object lacks metadata needed for an owner reference.
    #[error("the owner object has no {field}; read it from the API server before publishing")]
    IncompleteOwner {
        /// The missing field: `name`, `namespace` or `uid`.
        field: &'static str,
    },
    /// The owner is of a cluster-scoped kind. An ExternalArtifact is created in its
    /// owner's namespace (Flux consumers look for it next to what references it), and a
    /// cluster-scoped object has none: publish for a namespaced object instead.
    #[error(
        "cannot publish for {kind} {name}: {kind} is cluster-scoped, and an ExternalArtifact \
         is created in its owner's namespace; use a namespaced owner"
    )]
    ClusterScopedOwner {
        /// Kind of the owner.
        kind: String,
        /// Its name.
        name: String,
    },
    /// The blocking task that hashes stored artifacts died (it panicked or the runtime
    /// shut down); the [`source`](std::error::Error::source) says which.
    #[error("the integrity check task failed")]
    VerifyTask(#[source] tokio::task::JoinError),
    /// A value that ends up as a label (key or value) is not a valid one; nothing was
    /// sent.
    #[error("invalid {what} {value:?}: {reason}")]
    InvalidLabel {
        /// Which value: the field manager, the generated-by label, an extra label.
        what: &'static str,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A storage operation failed.
    #[error(transparent)]
    Storage(#[from] flux_artifact_storage::Error),
}

impl Error {
    /// Whether the API server answered 404 ([`Error::NotFound`]): for
    /// [`source_artifact`](crate::source_artifact), the source does not exist (requeue
    /// and wait for it); for writes and lists, the namespace or the CRD is missing.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound { .. })
    }

    /// Whether the API server answered 409 ([`Error::Conflict`]): the object changed
    /// since it was read, or another field manager owns the fields. Requeue and try
    /// again with a fresh copy.
    #[must_use]
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// Maps the failure of an API call to the typed variants by HTTP status, for helpers
    /// outside this crate that want the same errors: 404 [`NotFound`](Error::NotFound),
    /// 403 [`Forbidden`](Error::Forbidden), 409 [`Conflict`](Error::Conflict), 422
    /// [`Invalid`](Error::Invalid), anything else [`Api`](Error::Api).
    ///
    /// `action` says what was being done (`"get"`, `"patch status of"`, …), and `kind`,
    /// `namespace` and `name` which object it was done to; leave `name` empty for a
    /// list, and `namespace` empty for a cluster-wide one.
    ///
    /// ```
    /// use flux_artifact_kube::Error;
    ///
    /// let status = kube::core::Status::failure("the object has been modified", "Conflict").with_code(409);
    /// let error = Error::from_api_call("patch status of", "PodinfoSource", "apps", "podinfo", kube::Error::Api(status.boxed()));
    /// assert!(error.is_conflict());
    /// assert_eq!(
    ///     error.to_string(),
    ///     "conflict while trying to patch status of PodinfoSource apps/podinfo: the object has been modified"
    /// );
    /// ```
    #[must_use]
    pub fn from_api_call(
        action: &'static str,
        kind: &str,
        namespace: &str,
        name: &str,
        error: kube::Error,
    ) -> Error {
        Target {
            kind,
            namespace,
            name,
        }
        .error(action, error)
    }
}

/// `Kind ns/name` for an object, `Kinds in namespace ns` or `Kinds in all namespaces`
/// for a list.
fn describe(kind: &str, namespace: &str, name: &str) -> String {
    match (namespace.is_empty(), name.is_empty()) {
        (_, false) if namespace.is_empty() => format!("{kind} {name}"),
        (_, false) => format!("{kind} {namespace}/{name}"),
        (true, true) => format!("{kind}s in all namespaces"),
        (false, true) => format!("{kind}s in namespace {namespace}"),
    }
}

/// The target of an API call, for error messages.
pub(crate) struct Target<'a> {
    pub(crate) kind: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) name: &'a str,
}

impl Target<'_> {
    /// Maps a client error to the typed variants by HTTP status.
    pub(crate) fn error(&self, action: &'static str, error: kube::Error) -> Error {
        let (kind, namespace, name) = (
            self.kind.to_owned(),
            self.namespace.to_owned(),
            self.name.to_owned(),
        );
        match &error {
            kube::Error::Api(status) if status.code == 404 => Error::NotFound {
                action,
                kind,
                namespace,
                name,
                message: status.message.clone(),
            },
            kube::Error::Api(status) if status.code == 403 => Error::Forbidden {
                action,
                kind,
                namespace,
                name,
                message: status.message.clone(),
            },
            kube::Error::Api(status) if status.code == 409 => Error::Conflict {
                action,
                kind,
                namespace,
                name,
                message: status.message.clone(),
            },
            kube::Error::Api(status) if status.code == 422 => Error::Invalid {
                action,
                kind,
                namespace,
                name,
                message: status.message.clone(),
            },
            _ => Error::Api {
                action,
                kind,
                namespace,
                name,
                source: Box::new(error),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    fn status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(
            kube::core::Status::failure(message, reason)
                .with_code(code)
                .boxed(),
        )
    }

    /// Fails if the error's message repeats the message of its cause, which anyhow's
    /// `{:#}` would then print twice. Only our level is checked: how the client's own
    /// errors print is kube's business.
    fn assert_no_repeated_cause(error: &Error) {
        if let Some(cause) = error.source() {
            let (message, cause) = (error.to_string(), cause.to_string());
            assert!(
                !message.contains(&cause),
                "{message:?} repeats its cause {cause:?}"
            );
        }
    }

    #[test]
    fn a_wrapped_client_error_is_the_source_and_not_repeated_in_the_message() {
        let error = Error::from_api_call(
            "apply",
            "ExternalArtifact",
            "apps",
            "podinfo",
            status(500, "InternalError", "etcdserver: request timed out"),
        );
        assert!(matches!(error, Error::Api { .. }));
        assert_eq!(error.to_string(), "failed to apply ExternalArtifact apps/podinfo");
        assert!(
            error
                .source()
                .is_some_and(|cause| cause.to_string().contains("etcdserver: request timed out"))
        );
        assert_no_repeated_cause(&error);
    }

    #[test]
    fn a_transport_error_is_the_source_and_not_repeated_in_the_message() {
        let error = Error::from_api_call("list", "ExternalArtifact", "", "", kube::Error::TlsRequired);
        assert_eq!(
            error.to_string(),
            "failed to list ExternalArtifacts in all namespaces"
        );
        assert!(error.source().is_some());
        assert_no_repeated_cause(&error);
    }

    #[tokio::test]
    async fn a_dead_integrity_task_is_the_source_and_not_repeated_in_the_message() {
        let join_error = tokio::spawn(async { std::panic::panic_any("boom") })
            .await
            .unwrap_err();
        let error = Error::VerifyTask(join_error);
        assert_eq!(error.to_string(), "the integrity check task failed");
        assert!(error.source().is_some());
        assert_no_repeated_cause(&error);
    }

    #[test]
    fn statuses_map_to_variants_that_carry_the_servers_message_without_a_source() {
        for (code, reason) in [
            (404, "NotFound"),
            (403, "Forbidden"),
            (409, "Conflict"),
            (422, "Invalid"),
        ] {
            let error = Error::from_api_call(
                "get",
                "GitRepository",
                "apps",
                "podinfo",
                status(code, reason, "the message"),
            );
            assert!(error.to_string().ends_with(": the message"), "{error}");
            assert!(error.source().is_none(), "{code}");
        }
    }
}
