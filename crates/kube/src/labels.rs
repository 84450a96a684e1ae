//! Label syntax, checked before a request so that a bad field manager or label key is
//! reported as ours rather than as the API server's 422.

use crate::Error;

/// Why `value` cannot be a label value (at most 63 characters: letters, digits, `-`,
/// `_`, `.`, starting and ending with a letter or digit; empty is allowed).
fn value_problem(value: &str) -> Option<&'static str> {
    let alphanumeric_ends = value.starts_with(|c: char| c.is_ascii_alphanumeric())
        && value.ends_with(|c: char| c.is_ascii_alphanumeric());
    if value.len() > 63 {
        Some("longer than 63 characters")
    } else if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        Some("only letters, digits, '-', '_' and '.' are allowed")
    } else if !value.is_empty() && !alphanumeric_ends {
        Some("must start and end with a letter or digit")
    } else {
        None
    }
}

/// Checks a label value.
pub(crate) fn check_label_value(what: &'static str, value: &str) -> Result<(), Error> {
    match value_problem(value) {
        Some(reason) => Err(Error::InvalidLabel {
            what,
            value: value.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

/// Checks a label key: an optional DNS-subdomain prefix and `/`, then a non-empty name
/// with the syntax of a label value.
pub(crate) fn check_label_key(what: &'static str, key: &str) -> Result<(), Error> {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let reason = if name.is_empty() {
        Some("the name part is empty")
    } else if value_problem(name).is_some() {
        Some(
            "the name part must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
        )
    } else if !prefix.is_none_or(is_dns_subdomain) {
        Some("the prefix must be a DNS subdomain (lowercase letters, digits, '-' and '.')")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(Error::InvalidLabel {
            what,
            value: key.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

fn is_dns_subdomain(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|part| {
            !part.is_empty()
                && part.len() <= 63
                && part
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !part.starts_with('-')
                && !part.ends_with('-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_follow_kubernetes_syntax() {
        for good in ["", "podinfo-controller", "v1.2_3", &"a".repeat(63)] {
            assert!(check_label_value("v", good).is_ok(), "{good:?}");
        }
        for bad in ["-lead", "trail.", "has space", "a/b", &"a".repeat(64)] {
            assert!(check_label_value("v", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn label_keys_follow_kubernetes_syntax() {
        for good in [
            "team",
            "app.kubernetes.io/managed-by",
            "source.extensions.fluxcd.io/generator",
            "a-b.c/D_e",
        ] {
            assert!(check_label_key("k", good).is_ok(), "{good:?}");
        }
        for bad in [
            "",
            "/x",
            "x/",
            "Example.com/x",
            "a/b/c",
            "-a.com/x",
            "a..b/x",
            "a.com/-x",
        ] {
            assert!(check_label_key("k", bad).is_err(), "{bad:?}");
        }
    }
}
