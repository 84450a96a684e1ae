//! The syntax of names, as the API server and source-watcher check them: the CRD's
//! patterns, DNS subdomains, label keys and values. Each check returns why a value
//! fails, for error messages that say what to change.

/// Lowercase letters and digits at both ends, and in between lowercase letters, digits
/// and the characters of `middle`.
fn lower_token(value: &str, middle: &str) -> bool {
    let edge = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    value.starts_with(edge) && value.ends_with(edge) && value.chars().all(|c| edge(c) || middle.contains(c))
}

/// `^[a-z0-9]([a-z0-9_-]*[a-z0-9])?$`: a source alias (length checked separately).
pub(crate) fn is_alias(value: &str) -> bool {
    lower_token(value, "_-")
}

/// `^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`: the CRD's pattern for source names and
/// namespaces (lengths checked separately).
pub(crate) fn is_dns_label_syntax(value: &str) -> bool {
    lower_token(value, "-")
}

/// `^@alias$`: the alias of a `revision`/`originRevision` reference.
pub(crate) fn alias_reference(value: &str) -> Option<&str> {
    value.strip_prefix('@').filter(|alias| is_alias(alias))
}

/// Why `value` is not a DNS subdomain as Kubernetes object names must be (at most 253
/// characters; dot-separated parts of lowercase letters, digits and `-` that start and
/// end with a letter or digit), or `None` if it is one.
pub(crate) fn dns_subdomain_problem(value: &str) -> Option<&'static str> {
    if value.is_empty() {
        Some("must not be empty")
    } else if value.len() > 253 {
        Some("must be no more than 253 characters")
    } else if !value.split('.').all(is_dns_label_syntax) {
        Some(
            "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character",
        )
    } else {
        None
    }
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`, the qualified-name syntax of label
/// values and of the name part of label keys.
fn qualified_name_syntax(value: &str) -> bool {
    value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// Why `value` is not a label value (at most 63 characters; empty, or letters, digits,
/// `-`, `_` and `.` starting and ending with a letter or digit), or `None`.
pub(crate) fn label_value_problem(value: &str) -> Option<&'static str> {
    if value.len() > 63 {
        Some("must be no more than 63 characters")
    } else if !value.is_empty() && !qualified_name_syntax(value) {
        Some(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        )
    } else {
        None
    }
}

/// Why `key` is not a label key (an optional DNS-subdomain prefix and `/`, then a name
/// of at most 63 letters, digits, `-`, `_` and `.` that starts and ends with a letter or
/// digit), or `None`.
pub(crate) fn label_key_problem(key: &str) -> Option<&'static str> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            return Some("prefix part must not be empty");
        }
        if dns_subdomain_problem(prefix).is_some() {
            return Some("prefix part must be a lowercase RFC 1123 subdomain");
        }
    }
    if name.is_empty() {
        Some("name part must not be empty")
    } else if name.len() > 63 {
        Some("name part must be no more than 63 characters")
    } else if !qualified_name_syntax(name) {
        Some(
            "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_allow_underscores_and_hyphens_inside_only() {
        for good in ["git", "git_repo-v2", "a", "0"] {
            assert!(is_alias(good), "{good}");
        }
        for bad in [
            "",
            "Invalid-Alias",
            "-invalid",
            "invalid-",
            "invalid/alias",
            "_a",
            "a_",
        ] {
            assert!(!is_alias(bad), "{bad}");
        }
    }

    #[test]
    fn alias_references_are_an_at_sign_and_an_alias() {
        assert_eq!(alias_reference("@repo"), Some("repo"));
        assert_eq!(alias_reference("repo"), None);
        assert_eq!(alias_reference("@repo/x"), None);
    }

    #[test]
    fn dns_subdomains() {
        for good in ["app", "app.example.com", "a-b.c", "0"] {
            assert_eq!(dns_subdomain_problem(good), None, "{good}");
        }
        for bad in ["", "Invalid Name", "auth..invalid", "-a", "a-", "a_b", ".a", "a."] {
            assert!(dns_subdomain_problem(bad).is_some(), "{bad}");
        }
        assert!(dns_subdomain_problem(&"a".repeat(254)).is_some());
        assert_eq!(dns_subdomain_problem(&"a".repeat(253)), None);
    }

    #[test]
    fn label_values() {
        for good in ["", "auth", "Auth", "a.b_c-d", &"a".repeat(63)] {
            assert_eq!(label_value_problem(good), None, "{good}");
        }
        for bad in [".hidden", "my app", "a-", &"a".repeat(64)] {
            assert!(label_value_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn label_keys() {
        for good in ["app", "App_1", "example.com/app", "a.b"] {
            assert_eq!(label_key_problem(good), None, "{good}");
        }
        for bad in [
            "_app",
            "",
            "/app",
            "Example.com/app",
            "example.com/",
            &"a".repeat(64),
        ] {
            assert!(label_key_problem(bad).is_some(), "{bad}");
        }
    }
}
