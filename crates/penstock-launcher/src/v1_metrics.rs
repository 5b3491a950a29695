//! A KFP v1 step's `mlpipeline-metrics` file becomes its Metrics artifact's metadata (see
//! [`penstock_engine::v1_metrics`]), so the numbers are the task's scalars: the run's metrics.

use penstock_engine::v1_metrics::{metadata_from_text, OUTPUT_NAME};
use penstock_engine::RuntimeArtifact;
use std::io::Read;

/// The largest metrics file read (50 metrics are a few kilobytes).
const MAX_BYTES: u64 = 1024 * 1024;

/// Reads the file of output `name` into `artifact.metadata` when it is a v1 metrics output
/// (`mlpipeline-metrics`, typed `system.Metrics`, no metadata reported) stored on this machine.
/// A missing or malformed file leaves the metadata alone (KFP ignores it too); the returned
/// note says why, for the task's log.
pub(crate) fn read_into(name: &str, artifact: &mut RuntimeArtifact) -> Option<String> {
    if name != OUTPUT_NAME
        || artifact.schema_title != "system.Metrics"
        || !artifact.metadata.is_empty()
        || artifact.uri.contains("://")
    {
        return None;
    }
    let path = std::path::Path::new(&artifact.uri);
    if !path.is_file() {
        return Some(format!(
            "{name}: the step wrote no metrics file; the run has no metrics from it"
        ));
    }
    let mut text = String::new();
    let read =
        std::fs::File::open(path).and_then(|f| f.take(MAX_BYTES + 1).read_to_string(&mut text));
    if let Err(e) = read {
        return Some(format!("{name}: cannot read {}: {e}", path.display()));
    }
    if text.len() as u64 > MAX_BYTES {
        return Some(format!(
            "{name}: the metrics file is larger than {MAX_BYTES} bytes; ignored"
        ));
    }
    match metadata_from_text(&text) {
        Ok(meta) => {
            artifact.metadata = meta;
            None
        }
        Err(e) => Some(format!("{name}: metrics ignored: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn artifact(uri: &str, schema: &str) -> RuntimeArtifact {
        RuntimeArtifact {
            name: OUTPUT_NAME.into(),
            schema_title: schema.into(),
            schema_version: "0.0.1".into(),
            uri: uri.into(),
            metadata: Default::default(),
        }
    }

    #[test]
    fn the_metrics_file_becomes_metadata_and_bad_files_only_a_note() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("m.json");
        std::fs::write(
            &file,
            r#"{"metrics": [{"name": "acc", "numberValue": 0.5, "format": "PERCENTAGE"}]}"#,
        )
        .unwrap();
        let uri = file.display().to_string();
        let mut a = artifact(&uri, "system.Metrics");
        assert_eq!(read_into(OUTPUT_NAME, &mut a), None);
        assert_eq!(a.metadata["acc"], json!(0.5));

        // Other outputs and types are left alone.
        let mut other = artifact(&uri, "system.Artifact");
        assert_eq!(read_into(OUTPUT_NAME, &mut other), None);
        assert!(other.metadata.is_empty());
        let mut renamed = artifact(&uri, "system.Metrics");
        assert_eq!(read_into("metrics", &mut renamed), None);
        assert!(renamed.metadata.is_empty());

        std::fs::write(&file, "not json").unwrap();
        let mut bad = artifact(&uri, "system.Metrics");
        let note = read_into(OUTPUT_NAME, &mut bad).unwrap();
        assert!(note.contains("not JSON"), "{note}");
        assert!(bad.metadata.is_empty());

        let mut missing = artifact(
            &dir.path().join("none").display().to_string(),
            "system.Metrics",
        );
        assert!(read_into(OUTPUT_NAME, &mut missing)
            .unwrap()
            .contains("no metrics file"));
    }
}
