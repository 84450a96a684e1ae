//! The documented clap pattern for Go-style flags: booleans that take `--flag`,
//! `--flag=false` and Go's other spellings, and Go durations.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use clap::{ArgAction, CommandFactory, Parser};
use flux_artifact_config::{Options, parse_duration, parse_go_bool};

/// The flags the example generator's `run` command takes, as source-watcher has them.
#[derive(Debug, Parser)]
struct Run {
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = parse_go_bool)]
    no_cross_namespace_refs: bool,
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool)]
    watch_all_namespaces: bool,
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "false", default_missing_value = "true",
          value_parser = parse_go_bool)]
    enable_leader_election: bool,
    #[arg(long, value_name = "BOOL", action = ArgAction::Set, num_args = 0..=1,
          require_equals = true, default_value = "true", default_missing_value = "true",
          value_parser = parse_go_bool)]
    leader_election_release_on_cancel: bool,
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    reconciliation_timeout: Duration,
}

fn run(args: &[&str]) -> Result<Run, clap::Error> {
    Run::try_parse_from(std::iter::once("run").chain(args.iter().copied()))
}

#[test]
fn absent_flags_take_their_defaults() {
    let got = run(&[]).unwrap();
    assert!(!got.no_cross_namespace_refs);
    assert!(got.watch_all_namespaces);
    assert!(!got.enable_leader_election);
    assert!(got.leader_election_release_on_cancel);
    assert_eq!(got.reconciliation_timeout, Duration::from_secs(600));
}

#[test]
fn a_bare_boolean_flag_is_true() {
    let got = run(&["--no-cross-namespace-refs", "--enable-leader-election"]).unwrap();
    assert!(got.no_cross_namespace_refs);
    assert!(got.enable_leader_election);
}

#[test]
fn a_boolean_flag_takes_false_after_an_equals_sign() {
    let got = run(&[
        "--watch-all-namespaces=false",
        "--leader-election-release-on-cancel=false",
        "--no-cross-namespace-refs=false",
    ])
    .unwrap();
    assert!(!got.watch_all_namespaces);
    assert!(!got.leader_election_release_on_cancel);
    assert!(!got.no_cross_namespace_refs);
}

#[test]
fn a_boolean_flag_takes_gos_other_spellings() {
    for (value, expected) in [
        ("1", true),
        ("T", true),
        ("TRUE", true),
        ("0", false),
        ("F", false),
        ("False", false),
    ] {
        let got = run(&[&format!("--enable-leader-election={value}")]).unwrap();
        assert_eq!(got.enable_leader_election, expected, "{value}");
    }
}

#[test]
fn a_boolean_flag_refuses_other_words_naming_flag_and_value() {
    let err = run(&["--watch-all-namespaces=yes"]).unwrap_err().to_string();
    assert!(err.contains("--watch-all-namespaces"), "{err}");
    assert!(err.contains("invalid boolean \"yes\""), "{err}");
}

#[test]
fn a_boolean_value_needs_the_equals_sign_as_in_go() {
    let err = run(&["--watch-all-namespaces", "false"]).unwrap_err();
    assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument, "{err}");
}

#[test]
fn durations_use_gos_syntax() {
    let got = run(&["--reconciliation-timeout=1h30m"]).unwrap();
    assert_eq!(got.reconciliation_timeout, Duration::from_secs(5400));
    let err = run(&["--reconciliation-timeout=1d"]).unwrap_err().to_string();
    assert!(err.contains("--reconciliation-timeout"), "{err}");
    assert!(err.contains("invalid duration \"1d\""), "{err}");
}

#[derive(Parser)]
#[command(name = "plain")]
struct Plain {
    #[command(flatten)]
    artifact: Options,
}

#[test]
fn flattened_options_leave_a_binary_without_a_description_without_one() {
    let help = Plain::command().render_help().to_string();
    assert!(!help.contains("command-line face"), "{help}");
    assert!(!help.contains("clap argument ids"), "{help}");
    assert!(help.starts_with("Usage: plain"), "{help}");
}
