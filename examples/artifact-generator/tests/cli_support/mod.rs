//! Running the `artifact-generator` binary in tests.

#![allow(dead_code, unreachable_pub)]

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

/// The workspace root, where the README's commands run.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The sample of the README's first command.
pub fn sample() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/sample")
}

/// The binary, run from `cwd`.
pub fn command(cwd: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_artifact-generator"));
    command.current_dir(cwd);
    command
}

/// Runs `artifact-generator build ARGS` in `cwd` with `stdin` as its input.
pub fn build(cwd: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = command(cwd)
        .arg("build")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

/// The arguments of the sample build, sources included, with absolute paths.
pub fn sample_args(storage: &Path) -> Vec<String> {
    let sample = sample();
    vec![
        "-f".into(),
        sample.join("generators.yaml").display().to_string(),
        "--source".into(),
        format!("chart={}", sample.join("chart").display()),
        "--source".into(),
        format!("fleet={}", sample.join("fleet").display()),
        "--storage-path".into(),
        storage.display().to_string(),
    ]
}

/// The objects of a YAML stream.
pub fn objects(stdout: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(stdout).unwrap();
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
