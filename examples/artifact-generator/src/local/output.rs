//! What `build` prints: the objects on stdout, a progress line per artifact on stderr.

use std::{io, time::Duration};

use flux_artifact::{kube::ExternalArtifact, storage::Artifact};

use super::args::Format;

/// Writes `objects` as a YAML stream (a `---` before each document) or as one JSON
/// `List` (what `kubectl get -o json` prints for several objects).
pub(crate) fn print(
    out: &mut impl io::Write,
    objects: &[ExternalArtifact],
    format: Format,
) -> io::Result<()> {
    match format {
        Format::Yaml => {
            for object in objects {
                let yaml = serde_yaml_ng::to_string(object).map_err(io::Error::other)?;
                write!(out, "---\n{yaml}")?;
            }
        }
        Format::Json => {
            let list = serde_json::json!({ "apiVersion": "v1", "kind": "List", "items": objects });
            serde_json::to_writer_pretty(&mut *out, &list)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

/// `built apps/podinfo: 12 files, 48.2 KiB, stored 3.1 KiB as sha256:…, in 25ms`.
pub(crate) fn progress(
    object: &str,
    files: usize,
    bytes: u64,
    artifact: &Artifact,
    took: Duration,
) -> String {
    let stored = artifact
        .size
        .and_then(|size| u64::try_from(size).ok())
        .map_or_else(|| "?".to_owned(), human_size);
    let files = if files == 1 {
        "1 file".to_owned()
    } else {
        format!("{files} files")
    };
    format!(
        "built {object}: {files}, {}, stored {stored} as {}, in {}ms",
        human_size(bytes),
        artifact.digest,
        took.as_millis()
    )
}

/// Bytes in B, KiB, MiB or GiB, one decimal above bytes.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 3] = ["KiB", "MiB", "GiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_human() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(1536), "1.5 KiB");
        assert_eq!(human_size(5 << 20), "5.0 MiB");
        assert_eq!(human_size(3 << 30), "3.0 GiB");
    }

    #[test]
    fn a_progress_line_names_everything() {
        let artifact = Artifact {
            digest: "sha256:abc".into(),
            size: Some(2048),
            ..Artifact::default()
        };
        assert_eq!(
            progress("apps/app", 1, 100, &artifact, Duration::from_millis(7)),
            "built apps/app: 1 file, 100 B, stored 2.0 KiB as sha256:abc, in 7ms"
        );
    }

    #[test]
    fn json_output_is_a_list() {
        let mut out = Vec::new();
        print(&mut out, &[], Format::Json).unwrap();
        let list: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(list["kind"], "List");
        assert_eq!(list["items"], serde_json::json!([]));
    }
}
