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
    /// Any other failure of an API call, with the status the server answered if any.
    #[error("failed to {action} {}: {source}", describe(kind, namespace, name))]
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
    /// The blocking task that hashes stored artifacts died (it panicked or the runtime
    /// shut down).
    #[error("the integrity check task failed: {0}")]
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
