//! The command line and environment, case by case as in the Go SDK's `flags_test.go`.
//!
//! Each case parses in a child process (this test binary re-run on one helper test) so
//! that the environment is exactly the case's: nothing inherited, nothing shared between
//! parallel tests, and no `unsafe` `set_var`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{path::PathBuf, process::Command, time::Duration};

use clap::Parser;
use flux_artifact_config::{Algorithm, Options};

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    artifact: Options,
}

const CHILD_ARGS: &str = "FLUX_ARTIFACT_CONFIG_TEST_CHILD_ARGS";
const ENV_VARS: [&str; 3] = ["STORAGE_PATH", "STORAGE_ADDRESS", "STORAGE_ADV_ADDR"];

/// Not a test of its own: the body of the child process that [`parse`] starts.
#[test]
#[ignore = "helper run by the other tests in a child process with a controlled environment"]
fn child_process_parses_the_command_line() {
    let Ok(args) = std::env::var(CHILD_ARGS) else {
        return;
    };
    let args: Vec<String> = serde_json::from_str(&args).unwrap();
    let outcome = match Cli::try_parse_from(std::iter::once("controller".to_owned()).chain(args)) {
        Ok(cli) => Ok(cli.artifact),
        Err(e) => Err(e.to_string()),
    };
    println!("OUTCOME={}", serde_json::to_string(&outcome).unwrap());
}

/// Parses `args` with exactly the env vars `env` set (of the three the options read).
fn try_parse(args: &[&str], env: &[(&str, &str)]) -> Result<Options, String> {
    let mut child = Command::new(std::env::current_exe().unwrap());
    child.args([
        "child_process_parses_the_command_line",
        "--exact",
        "--ignored",
        "--nocapture",
    ]);
    for var in ENV_VARS {
        child.env_remove(var);
    }
    child
        .envs(env.iter().copied())
        .env(CHILD_ARGS, serde_json::to_string(args).unwrap());
    let output = child.output().unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("OUTCOME="))
        .unwrap_or_else(|| {
            panic!(
                "child printed no outcome: {stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    serde_json::from_str(line).unwrap()
}

fn parse(args: &[&str], env: &[(&str, &str)]) -> Options {
    try_parse(args, env).unwrap()
}

fn options(path: &str, addr: &str, adv: &str, ttl: Duration, records: usize, algo: Algorithm) -> Options {
    Options {
        storage_path: PathBuf::from(path),
        storage_address: addr.into(),
        storage_adv_address: adv.into(),
        artifact_retention_ttl: ttl,
        artifact_retention_records: records,
        artifact_digest_algo: algo,
    }
}

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn no_flags_give_the_defaults() {
    assert_eq!(parse(&[], &[]), Options::default());
}

#[test]
fn storage_path_flag_alone() {
    let expected = options("/tmp/artifacts", ":9090", "", MINUTE, 2, Algorithm::Sha256);
    assert_eq!(parse(&["--storage-path=/tmp/artifacts"], &[]), expected);
}

#[test]
fn storage_address_flag_alone() {
    let expected = options("/data", ":8080", "", MINUTE, 2, Algorithm::Sha256);
    assert_eq!(parse(&["--storage-addr=:8080"], &[]), expected);
}

#[test]
fn storage_advertised_address_flag_alone() {
    let expected = options(
        "/data",
        ":9090",
        "artifacts.example.com:9090",
        MINUTE,
        2,
        Algorithm::Sha256,
    );
    assert_eq!(
        parse(&["--storage-adv-addr=artifacts.example.com:9090"], &[]),
        expected
    );
}

#[test]
fn retention_ttl_flag_alone() {
    let expected = options("/data", ":9090", "", 5 * MINUTE, 2, Algorithm::Sha256);
    assert_eq!(parse(&["--artifact-retention-ttl=5m"], &[]), expected);
}

#[test]
fn retention_records_flag_alone() {
    let expected = options("/data", ":9090", "", MINUTE, 10, Algorithm::Sha256);
    assert_eq!(parse(&["--artifact-retention-records=10"], &[]), expected);
}

#[test]
fn digest_algorithm_flag_alone() {
    let expected = options("/data", ":9090", "", MINUTE, 2, Algorithm::Sha512);
    assert_eq!(parse(&["--artifact-digest-algo=sha512"], &[]), expected);
}

#[test]
fn all_flags_together() {
    let args = [
        "--storage-path=/custom/path",
        "--storage-addr=:7070",
        "--storage-adv-addr=custom.example.com:7070",
        "--artifact-retention-ttl=1h",
        "--artifact-retention-records=5",
        "--artifact-digest-algo=blake3",
    ];
    let expected = options(
        "/custom/path",
        ":7070",
        "custom.example.com:7070",
        60 * MINUTE,
        5,
        Algorithm::Blake3,
    );
    assert_eq!(parse(&args, &[]), expected);
}

#[test]
fn space_separated_flag_values_work_too() {
    let got = parse(
        &["--storage-path", "/spaced", "--artifact-retention-ttl", "90s"],
        &[],
    );
    assert_eq!(got.storage_path, PathBuf::from("/spaced"));
    assert_eq!(got.artifact_retention_ttl, Duration::from_secs(90));
}

const ALL_ENV: [(&str, &str); 3] = [
    ("STORAGE_PATH", "/env/artifacts"),
    ("STORAGE_ADDRESS", ":8080"),
    ("STORAGE_ADV_ADDR", "env.example.com:8080"),
];

#[test]
fn environment_variables_override_defaults() {
    let expected = options(
        "/env/artifacts",
        ":8080",
        "env.example.com:8080",
        MINUTE,
        2,
        Algorithm::Sha256,
    );
    assert_eq!(parse(&[], &ALL_ENV), expected);
}

#[test]
fn flags_override_environment_variables() {
    let got = parse(
        &["--storage-path=/flag/artifacts", "--storage-addr=:7070"],
        &ALL_ENV,
    );
    let expected = options(
        "/flag/artifacts",
        ":7070",
        "env.example.com:8080",
        MINUTE,
        2,
        Algorithm::Sha256,
    );
    assert_eq!(got, expected);
}

#[test]
fn partial_environment_leaves_other_defaults() {
    let expected = options("/partial/env", ":9090", "", MINUTE, 2, Algorithm::Sha256);
    assert_eq!(parse(&[], &[("STORAGE_PATH", "/partial/env")]), expected);
}

#[test]
fn empty_environment_variables_count_as_unset() {
    let env = [
        ("STORAGE_PATH", ""),
        ("STORAGE_ADDRESS", ""),
        ("STORAGE_ADV_ADDR", ""),
    ];
    assert_eq!(parse(&[], &env), Options::default());
}

#[test]
fn mixed_environment_and_flags() {
    let env = [
        ("STORAGE_PATH", "/env/mixed"),
        ("STORAGE_ADV_ADDR", "mixed.example.com:9090"),
    ];
    let args = [
        "--storage-addr=:6060",
        "--artifact-retention-ttl=30m",
        "--artifact-retention-records=15",
    ];
    let expected = options(
        "/env/mixed",
        ":6060",
        "mixed.example.com:9090",
        30 * MINUTE,
        15,
        Algorithm::Sha256,
    );
    assert_eq!(parse(&args, &env), expected);
}

#[test]
fn an_explicitly_empty_flag_is_kept_even_over_the_environment() {
    let got = parse(
        &["--storage-adv-addr="],
        &[("STORAGE_ADV_ADDR", "env.example.com:8080")],
    );
    assert_eq!(got.storage_adv_address, "");
}

#[test]
fn an_unknown_digest_algorithm_is_refused_naming_flag_and_value() {
    let err = try_parse(&["--artifact-digest-algo=md5"], &[]).unwrap_err();
    assert!(err.contains("--artifact-digest-algo"), "{err}");
    assert!(err.contains("unsupported digest algorithm: md5"), "{err}");
}

#[test]
fn a_bad_duration_is_refused_naming_flag_and_value() {
    for bad in ["1 minute", "-1m", "1d"] {
        let err = try_parse(&[&format!("--artifact-retention-ttl={bad}")], &[]).unwrap_err();
        assert!(err.contains("--artifact-retention-ttl"), "{err}");
        assert!(err.contains(&format!("invalid duration {bad:?}")), "{err}");
    }
}

#[test]
fn a_negative_record_count_is_refused_naming_the_flag() {
    let err = try_parse(&["--artifact-retention-records=-1"], &[]).unwrap_err();
    assert!(err.contains("--artifact-retention-records"), "{err}");
}

#[test]
fn update_from_arg_matches_changes_only_given_flags() {
    use clap::{Args, Command, FromArgMatches};
    let mut options = Options {
        artifact_retention_records: 7,
        ..Options::default()
    };
    let matches = Options::augment_args_for_update(Command::new("controller"))
        .try_get_matches_from(["controller", "--artifact-retention-ttl=2m"])
        .unwrap();
    options.update_from_arg_matches(&matches).unwrap();
    assert_eq!(options.artifact_retention_ttl, 2 * MINUTE);
    assert_eq!(options.artifact_retention_records, 7);
}

#[test]
fn a_bad_storage_address_is_a_usage_error_naming_flag_and_value() {
    for (bad, reason) in [
        ("invalid-address", "missing port in address"),
        (":http", "the port must be a number"),
        ("a:b:c", "too many colons in address"),
    ] {
        let err = try_parse(&[&format!("--storage-addr={bad}")], &[]).unwrap_err();
        assert!(
            err.contains(&format!("invalid value '{bad}' for '--storage-addr <ADDR>'")),
            "{err}"
        );
        assert!(err.contains(reason), "{err}");
        assert!(err.contains("try '--help'"), "{err}");
    }
}

#[test]
fn a_bad_storage_address_from_the_environment_is_a_usage_error_too() {
    let err = try_parse(&[], &[("STORAGE_ADDRESS", "nope")]).unwrap_err();
    assert!(err.contains("--storage-addr"), "{err}");
    assert!(err.contains("missing port in address"), "{err}");
}

#[test]
fn an_explicitly_empty_storage_address_is_a_usage_error() {
    let err = try_parse(&["--storage-addr="], &[]).unwrap_err();
    assert!(err.contains("--storage-addr"), "{err}");
    assert!(err.contains("missing port in address"), "{err}");
}
