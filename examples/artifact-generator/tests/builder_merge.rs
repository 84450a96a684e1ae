//! The Merge strategy: source-watcher's merge test cases, and the YAML details of its
//! `sigs.k8s.io/yaml` round trip.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use artifact_generator::{ErrorKind, api::CopyStrategy, builder::ArtifactBuilder};
use common::{CopyExt, Sources, artifact, assert_yaml_eq, build_err, build_ok, cases, copy, files};

fn merged(sources: &Sources, base: &str, overlay: &str) -> String {
    sources.file("base", "values.yaml", base);
    sources.file("overlay", "values.yaml", overlay);
    let ops = vec![
        copy("@base/values.yaml", "@artifact/values.yaml"),
        copy("@overlay/values.yaml", "@artifact/values.yaml").strategy(CopyStrategy::Merge),
    ];
    files(&build_ok(&artifact(ops), sources))
        .remove("values.yaml")
        .unwrap()
}

fn merge(base: &str, overlay: &str) -> String {
    merged(&Sources::new(&["base", "overlay"]), base, overlay)
}

#[test]
fn merge_overrides_scalars_replaces_arrays_and_merges_maps() {
    let (sources, artifact) = cases::merge_yaml();
    let files = files(&build_ok(&artifact, &sources));
    assert_yaml_eq(
        &files["config.yaml"],
        "name: app\nports: [8080]\nlabels:\n  env: prod\n  keep: me\nversion: 1.0.0\nreplicas: 5\nenv: production\n",
    );
}

#[test]
fn merge_takes_json_into_yaml() {
    let (sources, artifact) = cases::merge_json_into_yaml();
    let files = files(&build_ok(&artifact, &sources));
    assert_yaml_eq(&files["config.yaml"], "a: override\nc:\n  d: e\n");
}

#[test]
fn merge_applies_to_each_file_a_glob_matches() {
    let (sources, artifact) = cases::merge_in_directories();
    let files = files(&build_ok(&artifact, &sources));
    assert_yaml_eq(&files["config1.yaml"], "env: prod\nregion: us-west-1\n");
    assert_yaml_eq(
        &files["config2.yaml"],
        "image: my-app:latest\nreplicas: 5\nversion: 1.0.0\n",
    );
}

#[test]
fn merge_skips_excluded_files() {
    let (sources, artifact) = cases::merge_with_exclude();
    let files = files(&build_ok(&artifact, &sources));
    assert_yaml_eq(&files["config.yaml"], "env: prod\nregion: us-west-1\n");
    assert_yaml_eq(&files["secret.yaml"], "token: base");
}

#[test]
fn merge_without_a_destination_copies_the_file_as_is() {
    let (sources, artifact) = cases::merge_without_destination();
    assert_eq!(files(&build_ok(&artifact, &sources))["config.yaml"], "a: b");
}

#[test]
fn destination_that_is_not_yaml_is_merge_invalid_yaml() {
    let sources = Sources::new(&["source1", "source2"]);
    sources.file("source1", "config.env", "A=B");
    sources.file("source2", "config.yaml", "a: b");
    let ops = vec![
        copy("@source1/config.env", "@artifact/config.env"),
        copy("@source2/config.yaml", "@artifact/config.env").strategy(CopyStrategy::Merge),
    ];
    let err = build_err(&artifact(ops), &sources);
    assert_eq!(err.kind(), ErrorKind::MergeInvalidYaml);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[1].from '@source2/config.yaml': cannot merge '@artifact/config.env': document 1 is a string, not a mapping"
    );
}

#[test]
fn source_that_is_not_yaml_is_merge_invalid_yaml() {
    let sources = Sources::new(&["source1", "source2"]);
    sources.file("source1", "config.yaml", "a: b");
    sources.file("source2", "config.env", "A=B");
    let ops = vec![
        copy("@source1/config.yaml", "@artifact/config.yaml"),
        copy("@source2/config.env", "@artifact/config.yaml").strategy(CopyStrategy::Merge),
    ];
    let err = build_err(&artifact(ops), &sources);
    assert_eq!(err.kind(), ErrorKind::MergeInvalidYaml);
    assert!(
        err.to_string().contains("cannot merge '@source2/config.env'"),
        "{err}"
    );
}

#[test]
fn yaml_syntax_errors_give_the_line() {
    let sources = Sources::new(&["base", "overlay"]);
    sources.file("base", "values.yaml", "a: b\n");
    sources.file("overlay", "values.yaml", "a: [1,\nb: c\n");
    let ops = vec![
        copy("@base/values.yaml", "@artifact/"),
        copy("@overlay/values.yaml", "@artifact/").strategy(CopyStrategy::Merge),
    ];
    let err = build_err(&artifact(ops), &sources);
    assert_eq!(err.kind(), ErrorKind::MergeInvalidYaml);
    assert!(err.to_string().contains(": line "), "{err}");
}

#[test]
fn merge_into_a_directory_is_copy_conflict() {
    let sources = Sources::new(&["source"]);
    sources.file("source", "values.yaml", "a: 1");
    sources.file("source", "chart/values.yaml/x", "");
    let ops = vec![
        copy("@source/chart/", "@artifact/"),
        copy("@source/values.yaml", "@artifact/chart/").strategy(CopyStrategy::Merge),
    ];
    let err = build_err(&artifact(ops), &sources);
    assert_eq!(err.kind(), ErrorKind::CopyConflict);
}

#[test]
fn merge_folds_multi_document_files_later_documents_winning() {
    let out = merge("a: 1\n---\nb: {c: 1}\n---\na: 2\n", "b: {d: 2}\n");
    assert_yaml_eq(&out, "a: 2\nb: {c: 1, d: 2}\n");
}

#[test]
fn merged_output_has_sorted_keys_and_no_comments() {
    let out = merge("z: 1 # last\na: 1\nm: {w: 1, b: 2}\n", "k: 1\n");
    assert_eq!(out, "a: 1\nk: 1\nm:\n  b: 2\n  w: 1\nz: 1\n");
}

#[test]
fn yaml_1_1_boolean_keys_become_true_and_false() {
    // A plain `y` key is the boolean true for go-yaml v2, hence the JSON key "true".
    let out = merge("y: 1\nn: 2\n", "x: 1\n");
    assert_eq!(out, "\"false\": 2\n\"true\": 1\nx: 1\n");
}

#[test]
fn yaml_1_1_booleans_are_read_as_go_yaml_v2_reads_them() {
    // `yes` and `on` are booleans for source-watcher (and Helm); quoted they stay strings.
    let out = merge("a: yes\nb: on\nc: 'yes'\n", "d: n\n");
    assert_eq!(out, "a: true\nb: true\nc: \"yes\"\nd: false\n");
}

#[test]
fn numbers_take_the_float64_round_trip() {
    let out = merge("a: 1.0\nb: 0755\nc: 1_000\nd: 1e3\n", "e: 2.50\n");
    assert_eq!(out, "a: 1\nb: 493\nc: 1000\nd: 1000\ne: 2.5\n");
}

#[test]
fn strings_that_look_like_other_types_stay_strings() {
    let base = "version: \"1.0\"\ntag: \"0755\"\ndate: 2024-01-01\nempty: \"\"\nnull_text: \"null\"\n";
    let out = merge(base, "x: 1\n");
    assert_yaml_eq(&out, &format!("{base}x: 1\n"));
    assert!(out.contains("version: \"1.0\"\n"), "{out}");
}

#[test]
fn multi_line_strings_survive_as_literal_blocks() {
    let out = merge("script: |\n  echo one\n  echo two\n", "x: 1\n");
    assert_eq!(out, "script: |\n  echo one\n  echo two\nx: 1\n");
}

#[test]
fn anchors_and_merge_keys_are_resolved() {
    let out = merge("base: &b {cpu: 1, mem: 2}\nprod:\n  <<: *b\n  mem: 4\n", "x: 1\n");
    assert_yaml_eq(&out, "base: {cpu: 1, mem: 2}\nprod: {cpu: 1, mem: 4}\nx: 1\n");
}

#[test]
fn null_overrides_a_value() {
    let out = merge("a: {b: 1}\n", "a: ~\n");
    assert_eq!(out, "a: null\n");
}

#[test]
fn merging_keeps_the_destination_executable_bit() {
    let sources = Sources::new(&["base", "overlay"]);
    sources.file("base", "values.yaml", "a: 1\n");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = sources.root("base").join("values.yaml");
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    sources.file("overlay", "values.yaml", "b: 1\n");
    let ops = vec![
        copy("@base/values.yaml", "@artifact/"),
        copy("@overlay/values.yaml", "@artifact/").strategy(CopyStrategy::Merge),
    ];
    let content = build_ok(&artifact(ops), &sources);
    let artifact_generator::builder::ArchiveEntry::File { executable, .. } = &content.entries()[0] else {
        panic!()
    };
    assert_eq!(*executable, cfg!(unix));
}

#[test]
fn merge_of_a_merge_result_reads_the_first_merge() {
    let sources = Sources::new(&["a", "b", "c"]);
    sources.file("a", "v.yaml", "x: 1\n");
    sources.file("b", "v.yaml", "w: 1\n");
    sources.file("c", "v.yaml", "z: 1\n");
    let ops = vec![
        copy("@a/v.yaml", "@artifact/"),
        copy("@b/v.yaml", "@artifact/").strategy(CopyStrategy::Merge),
        copy("@c/v.yaml", "@artifact/").strategy(CopyStrategy::Merge),
    ];
    assert_eq!(
        files(&build_ok(&artifact(ops), &sources))["v.yaml"],
        "w: 1\nx: 1\nz: 1\n"
    );
}

#[test]
fn files_over_the_merge_limit_are_size_limit() {
    let sources = Sources::new(&["base", "overlay"]);
    sources.file("base", "values.yaml", "a: 1\n");
    sources.file("overlay", "values.yaml", &format!("b: \"{}\"\n", "x".repeat(100)));
    let ops = vec![
        copy("@base/values.yaml", "@artifact/"),
        copy("@overlay/values.yaml", "@artifact/").strategy(CopyStrategy::Merge),
    ];
    let artifact = artifact(ops);
    let err = ArtifactBuilder::new(&artifact, &sources.roots)
        .max_merge_size(64)
        .build()
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::SizeLimit);
    assert_eq!(
        err.to_string(),
        "spec.artifacts[0].copy[1].from '@overlay/values.yaml': merging '@overlay/values.yaml' exceeds the limit of 64 bytes"
    );
}

#[test]
fn alias_bombs_are_merge_invalid_yaml() {
    let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..9 {
        bomb.push_str(&format!(
            "a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 10].join(", ")
        ));
    }
    let sources = Sources::new(&["base", "overlay"]);
    sources.file("base", "values.yaml", "a: 1\n");
    sources.file("overlay", "values.yaml", &bomb);
    let ops = vec![
        copy("@base/values.yaml", "@artifact/"),
        copy("@overlay/values.yaml", "@artifact/").strategy(CopyStrategy::Merge),
    ];
    assert_eq!(
        build_err(&artifact(ops), &sources).kind(),
        ErrorKind::MergeInvalidYaml
    );
}

#[test]
fn helm_values_merge_into_an_extracted_chart() {
    let (sources, artifact) = cases::helm_chart_composition();
    let files = files(&build_ok(&artifact, &sources));
    assert_yaml_eq(
        &files["podinfo/values.yaml"],
        "replicaCount: 3\nimage:\n  tag: 6.7.1\n  pullPolicy: IfNotPresent\n",
    );
    assert!(files.contains_key("podinfo/Chart.yaml"));
}

#[test]
fn any_string_survives_the_merge_as_key_and_value() {
    let tricky = [
        "",
        " ",
        "a ",
        " a",
        "-",
        "- a",
        "-a",
        "?",
        "? a",
        ":",
        "a:",
        "a: b",
        "a:b",
        "#",
        "a #b",
        "a#b",
        "'",
        "\"",
        "'a'",
        "\\",
        "a\\nb",
        "\n",
        "a\n",
        "a\nb",
        "a\n\nb\n\n",
        " a\nb",
        "a \nb",
        "\t",
        "a\tb",
        "%a",
        "@a",
        "`a",
        "!a",
        "&a",
        "*a",
        "|",
        ">",
        "[a]",
        "{a}",
        "a,b",
        "a]",
        "---",
        "...",
        "--- a",
        "yes",
        "No",
        "on",
        "y",
        "~",
        "null",
        "1",
        "-1",
        "0x1",
        "1e3",
        "1_0",
        ".5",
        "1:20",
        "2024-01-01",
        "<<",
        "=",
        "\0",
        "\u{7f}",
        "\u{85}",
        "\u{feff}a",
        "é",
        "日本",
        "\u{2028}",
        "a\rb",
        "0o17",
        ".inf",
        "+.5",
    ];
    let long = "word ".repeat(60);
    let mut strings: Vec<&str> = tricky.to_vec();
    strings.push(&long);
    // The strings go in through JSON (a YAML subset), so escapes need no YAML care.
    let entries: Vec<String> = strings
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let json = serde_json::to_string(s).unwrap();
            format!("\"k{i}\": {json}, {json}: \"v{i}\"")
        })
        .collect();
    let out = merge("{}", &format!("{{{}}}", entries.join(", ")));
    let parsed: serde_yaml_ng::Mapping =
        serde_yaml_ng::from_str(&out).unwrap_or_else(|e| panic!("{e}:\n{out}"));
    for (i, s) in strings.iter().enumerate() {
        let value = parsed.get(format!("k{i}")).and_then(|v| v.as_str());
        assert_eq!(value, Some(*s), "value {s:?} in:\n{out}");
        let key = parsed.get(*s).and_then(|v| v.as_str());
        assert_eq!(key, Some(format!("v{i}").as_str()), "key {s:?} in:\n{out}");
    }
}
