//! Go's boolean flag values (`strconv.ParseBool`), so that `--flag=false` works as with
//! pflag.

/// Parses a boolean the way Go's `strconv.ParseBool` does, which is what pflag accepts
/// after `--flag=`: `1`, `t`, `T`, `TRUE`, `true`, `True` and `0`, `f`, `F`, `FALSE`,
/// `false`, `False`. Anything else (`yes`, `on`, `tRuE`, surrounding spaces) is an
/// error.
///
/// # Errors
///
/// [`ParseGoBoolError`] naming the value.
///
/// # Go-style boolean flags with clap
///
/// A Go controller's boolean flags take `--flag` for true and `--flag=false` for false
/// (and a value only after `=`: `--flag false` is a flag followed by an argument). With
/// clap's derive that is, for a flag defaulting to false:
///
/// ```
/// use std::time::Duration;
/// use clap::{ArgAction, Parser};
/// use flux_artifact_config::{parse_duration, parse_go_bool};
///
/// #[derive(Parser)]
/// struct Cli {
///     /// Only allow references to sources in the object's own namespace.
///     #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
///           require_equals = true, default_value = "false", default_missing_value = "true",
///           value_parser = parse_go_bool)]
///     no_cross_namespace_refs: bool,
///
///     /// Watch every namespace (false: only the controller's own).
///     #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
///           require_equals = true, default_value = "true", default_missing_value = "true",
///           value_parser = parse_go_bool)]
///     watch_all_namespaces: bool,
///
///     /// How long a reconciliation may take (Go duration syntax).
///     #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
///     reconciliation_timeout: Duration,
/// }
///
/// let cli = Cli::try_parse_from(["controller", "--no-cross-namespace-refs", "--watch-all-namespaces=false"])?;
/// assert!(cli.no_cross_namespace_refs);
/// assert!(!cli.watch_all_namespaces);
/// assert_eq!(cli.reconciliation_timeout, Duration::from_secs(600));
/// assert!(Cli::try_parse_from(["controller", "--watch-all-namespaces=yes"]).is_err());
/// # Ok::<(), clap::Error>(())
/// ```
///
/// Durations use [`parse_duration`](crate::parse_duration), Go's syntax exactly
/// (`10m`, `1h30m`, `750ms`).
pub fn parse_go_bool(value: &str) -> Result<bool, ParseGoBoolError> {
    match value {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(ParseGoBoolError {
            value: value.to_owned(),
        }),
    }
}

/// A value that is not one of Go's boolean spellings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid boolean {value:?}: use true or false (also 1, t, T, TRUE, True, 0, f, F, FALSE, False)")]
pub struct ParseGoBoolError {
    value: String,
}

impl ParseGoBoolError {
    /// The value that was refused.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_gos_spellings() {
        for value in ["1", "t", "T", "TRUE", "true", "True"] {
            assert_eq!(parse_go_bool(value), Ok(true), "{value}");
        }
        for value in ["0", "f", "F", "FALSE", "false", "False"] {
            assert_eq!(parse_go_bool(value), Ok(false), "{value}");
        }
        for value in ["", "yes", "no", "on", "off", "tRuE", " true", "2", "y"] {
            let err = parse_go_bool(value).unwrap_err();
            assert_eq!(err.value(), value);
            assert!(err.to_string().contains(&format!("{value:?}")), "{err}");
        }
    }
}
