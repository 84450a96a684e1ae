//! `--watch-label-selector`: checked when the command line is read, since the API server
//! would otherwise refuse every watch with it and the controller would retry forever.
//!
//! The syntax is Flux's (`metav1.ParseToLabelSelector`): comma-separated requirements,
//! each `key`, `!key`, `key=value`, `key==value`, `key!=value`, `key in (v1,v2)` or
//! `key notin (v1,v2)`, with Kubernetes' rules for label keys and values.

/// Checks a label selector; returns it trimmed. An empty selector selects everything.
pub(crate) fn parse(input: &str) -> Result<String, String> {
    let selector = input.trim();
    let mut rest = selector;
    while !rest.is_empty() {
        rest = requirement(rest)?.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start();
            if rest.is_empty() {
                return Err("the selector ends with ','".into());
            }
        } else if !rest.is_empty() {
            return Err(format!("expected ',' before {rest:?}"));
        }
    }
    Ok(selector.to_owned())
}

/// Parses one requirement at the start of `input`; returns what follows it.
fn requirement(input: &str) -> Result<&str, String> {
    if let Some(rest) = input.strip_prefix('!') {
        let (key, rest) = take(rest.trim_start(), is_key_char);
        label_key(key)?;
        return Ok(rest);
    }
    let (key, rest) = take(input, is_key_char);
    label_key(key)?;
    let rest = rest.trim_start();
    for operator in ["==", "!=", "="] {
        if let Some(after) = rest.strip_prefix(operator) {
            let (value, rest) = take(after.trim_start(), is_value_char);
            label_value(key, value)?;
            return Ok(rest);
        }
    }
    for operator in ["notin", "in"] {
        if let Some(after) = rest.strip_prefix(operator)
            && after.starts_with(|c: char| c == '(' || c.is_whitespace())
        {
            return set(key, operator, after.trim_start());
        }
    }
    if rest.is_empty() || rest.starts_with(',') {
        return Ok(rest); // `key`: the label exists
    }
    Err(format!(
        "after the key {key:?}, expected =, ==, !=, in, notin, ',' or the end, found {rest:?}"
    ))
}

/// `(v1, v2, ...)` after `in` or `notin`.
fn set<'a>(key: &str, operator: &str, input: &'a str) -> Result<&'a str, String> {
    let mut rest = input
        .strip_prefix('(')
        .ok_or_else(|| format!("expected '(' after {key:?} {operator}"))?;
    let mut values = 0;
    loop {
        let (value, after) = take(rest.trim_start(), is_value_char);
        label_value(key, value)?;
        values += 1;
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if let Some(after) = rest.strip_prefix(')') {
            if values == 1 && value.is_empty() {
                return Err(format!("{key:?} {operator} () needs at least one value"));
            }
            return Ok(after);
        } else {
            return Err(format!("expected ',' or ')' in the values of {key:?} {operator}"));
        }
    }
}

fn take(input: &str, accept: fn(char) -> bool) -> (&str, &str) {
    let end = input.find(|c| !accept(c)).unwrap_or(input.len());
    input.split_at(end)
}

fn is_key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')
}

fn is_value_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// `[prefix/]name`: the prefix a DNS subdomain, the name a label value that is not
/// empty.
fn label_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("a requirement has no label key".into());
    }
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        let subdomain = !prefix.is_empty()
            && prefix.len() <= 253
            && prefix.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && label.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            });
        if !subdomain {
            return Err(format!(
                "the prefix of the label key {key:?} is not a DNS subdomain (lowercase letters, digits, '-' and '.')"
            ));
        }
    }
    if name.is_empty() || !is_name(name) {
        return Err(format!(
            "the label key {key:?} must be [prefix/]name, the name at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn label_value(key: &str, value: &str) -> Result<(), String> {
    if value.is_empty() || is_name(value) {
        Ok(())
    } else {
        Err(format!(
            "the value {value:?} of {key:?} must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
        ))
    }
}

fn is_name(name: &str) -> bool {
    name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(is_value_char)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flux_sharding_selectors_are_accepted() {
        for selector in [
            "sharding.fluxcd.io/shard=shard1",
            "sharding.fluxcd.io/shard==shard1",
            "sharding.fluxcd.io/shard notin (shard1, shard2)",
            "!sharding.fluxcd.io/shard",
            "sharding.fluxcd.io/shard in (shard1),team!=ops",
            "app, tier = web",
            "key=",
        ] {
            assert!(parse(selector).is_ok(), "{selector}: {:?}", parse(selector));
        }
    }

    #[test]
    fn the_selector_is_returned_trimmed() {
        assert_eq!(parse("  team=a ").unwrap(), "team=a");
    }

    #[test]
    fn a_value_with_a_space_is_refused() {
        let error = parse("team=a b").unwrap_err();
        assert_eq!(error, "expected ',' before \"b\"");
    }

    #[test]
    fn an_invalid_key_is_refused_with_the_key() {
        let error = parse("-team=a").unwrap_err();
        assert!(error.contains("\"-team\""), "{error}");
        let error = parse("Example.COM/team=a").unwrap_err();
        assert!(error.contains("not a DNS subdomain"), "{error}");
    }

    #[test]
    fn an_unknown_operator_is_refused() {
        // `metav1.ParseToLabelSelector` has no `>` or `<`.
        let error = parse("replicas>2").unwrap_err();
        assert!(error.contains("expected =, ==, !=, in, notin"), "{error}");
    }

    #[test]
    fn a_set_must_be_closed_and_not_empty() {
        assert!(parse("team in (a, b").is_err());
        assert!(parse("team in ()").is_err());
        assert!(parse("team in a").is_err());
    }

    #[test]
    fn a_trailing_comma_is_refused() {
        assert!(parse("team=a,").is_err());
    }

    #[test]
    fn a_value_longer_than_63_characters_is_refused() {
        let long = "a".repeat(64);
        assert!(parse(&format!("team={long}")).is_err());
        assert!(parse(&format!("team={}", &long[..63])).is_ok());
    }
}
