//! The cross-namespace reference policy behind a `--no-cross-namespace-refs` flag
//! (RFC-0012's access-control practice, Flux's `acl.AllowsAccessTo`).

use crate::Error;

/// Whether objects may reference objects in other namespaces.
///
/// Flux controllers expose this as `--no-cross-namespace-refs` so that multi-tenant
/// clusters can keep each tenant's references inside its namespace. A producer that
/// reads sources on behalf of a user object should honour the same flag.
///
/// ```
/// use flux_artifact_kube::CrossNamespacePolicy;
///
/// let policy = CrossNamespacePolicy::from_no_cross_namespace_refs(true);
/// // An empty namespace means the referrer's own.
/// assert_eq!(policy.resolve("team-a", "GitRepository", "app", None)?, "team-a");
/// assert!(policy.resolve("team-a", "GitRepository", "app", Some("team-b")).is_err());
/// # Ok::<(), flux_artifact_kube::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CrossNamespacePolicy {
    /// References may name any namespace (Flux's default).
    #[default]
    Allow,
    /// References must stay in the referrer's namespace.
    Deny,
}

impl CrossNamespacePolicy {
    /// The policy for the value of a `--no-cross-namespace-refs` flag.
    #[must_use]
    pub fn from_no_cross_namespace_refs(no_cross_namespace_refs: bool) -> Self {
        if no_cross_namespace_refs {
            CrossNamespacePolicy::Deny
        } else {
            CrossNamespacePolicy::Allow
        }
    }

    /// The namespace a reference from `referrer_namespace` to `kind` `name` in
    /// `namespace` points into: `namespace`, or the referrer's own when it is `None` or
    /// empty.
    ///
    /// # Errors
    ///
    /// [`Error::AccessDenied`] if the policy is [`Deny`](Self::Deny) and the reference
    /// names another namespace.
    pub fn resolve<'a>(
        self,
        referrer_namespace: &'a str,
        kind: &str,
        name: &str,
        namespace: Option<&'a str>,
    ) -> Result<&'a str, Error> {
        let target = namespace
            .filter(|ns| !ns.is_empty())
            .unwrap_or(referrer_namespace);
        if self == CrossNamespacePolicy::Deny && target != referrer_namespace {
            return Err(Error::AccessDenied {
                kind: kind.to_owned(),
                namespace: target.to_owned(),
                name: name.to_owned(),
            });
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_or_empty_namespace_is_the_referrers() {
        for policy in [CrossNamespacePolicy::Allow, CrossNamespacePolicy::Deny] {
            assert_eq!(policy.resolve("apps", "Bucket", "b", None).unwrap(), "apps");
            assert_eq!(policy.resolve("apps", "Bucket", "b", Some("")).unwrap(), "apps");
            assert_eq!(
                policy.resolve("apps", "Bucket", "b", Some("apps")).unwrap(),
                "apps"
            );
        }
    }

    #[test]
    fn allow_lets_references_cross_namespaces() {
        let policy = CrossNamespacePolicy::from_no_cross_namespace_refs(false);
        assert_eq!(
            policy.resolve("apps", "Bucket", "b", Some("infra")).unwrap(),
            "infra"
        );
    }

    #[test]
    fn deny_refuses_another_namespace_naming_the_reference() {
        let policy = CrossNamespacePolicy::from_no_cross_namespace_refs(true);
        let error = policy
            .resolve("apps", "OCIRepository", "podinfo", Some("flux-system"))
            .unwrap_err();
        assert!(matches!(&error, Error::AccessDenied { namespace, .. } if namespace == "flux-system"));
        assert_eq!(
            error.to_string(),
            "cannot access OCIRepository flux-system/podinfo: cross-namespace references are not allowed"
        );
    }
}
