//! KFP v1 run metrics: the `mlpipeline-metrics` file a v1 step writes
//! (`{"metrics": [{"name": "accuracy", "numberValue": 0.9, "format": "PERCENTAGE"}]}`).
//!
//! The Argo reader gives that output the `system.Metrics` type, and the launcher turns the
//! file into the artifact's metadata ([`metadata_from_text`]): each metric's number under its
//! name, so it is one of the task's [`TaskRecord::scalars`] like any v2 metric, and the display
//! formats under [`FORMATS_KEY`] ([`TaskRecord::scalar_format`]).

use crate::record::TaskRecord;
use serde_json::{Map, Value};

/// The name kfp 1.x gives the metrics output of a step.
pub const OUTPUT_NAME: &str = "mlpipeline-metrics";

/// The artifact metadata key holding each metric's display format (`{name: "PERCENTAGE"}`).
pub const FORMATS_KEY: &str = "mlpipeline-metrics-formats";

/// The formats KFP v1 knows (`RunMetric.Format`).
pub const FORMATS: [&str; 3] = ["UNSPECIFIED", "RAW", "PERCENTAGE"];

/// The most metrics one file may hold (KFP's persistence agent reads at most 50).
pub const MAX_METRICS: usize = 50;

/// Whether `name` is a valid KFP v1 metric name (`^[a-z]([-a-z0-9]{0,62}[a-z0-9])?$`).
pub fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    bytes.len() <= 64
        && first.is_ascii_lowercase()
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
}

/// Reads a v1 metrics file into artifact metadata, or says what is wrong with it (naming the
/// entry and field).
pub fn metadata_from_text(text: &str) -> Result<Map<String, Value>, String> {
    let doc: Value = serde_json::from_str(text)
        .map_err(|e| format!("not JSON ({e}); expected {{\"metrics\": [...]}}"))?;
    let metrics = doc
        .get("metrics")
        .and_then(Value::as_array)
        .ok_or("expected an object with a `metrics` list")?;
    if metrics.len() > MAX_METRICS {
        return Err(format!(
            "{} metrics; at most {MAX_METRICS} are read",
            metrics.len()
        ));
    }
    let mut out = Map::new();
    let mut formats = Map::new();
    for (i, m) in metrics.iter().enumerate() {
        let name = m
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("metrics[{i}].name is missing"))?;
        if !valid_name(name) {
            return Err(format!(
                "metrics[{i}].name '{name}' must be lower-case letters, digits and '-', \
                 starting with a letter (at most 64 characters)"
            ));
        }
        let value = m
            .get("numberValue")
            .or_else(|| m.get("number_value"))
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("metrics[{i}].numberValue must be a finite number"))?;
        let format = match m.get("format") {
            None | Some(Value::Null) => "RAW",
            Some(Value::String(f)) if FORMATS.contains(&f.as_str()) => f.as_str(),
            Some(other) => {
                return Err(format!(
                    "metrics[{i}].format: {other} is not one of RAW, PERCENTAGE"
                ))
            }
        };
        if out.contains_key(name) {
            return Err(format!("metrics[{i}].name '{name}' appears twice"));
        }
        out.insert(name.to_string(), Value::from(value));
        formats.insert(name.to_string(), Value::from(format));
    }
    out.insert(FORMATS_KEY.to_string(), Value::Object(formats));
    Ok(out)
}

impl TaskRecord {
    /// The display format (`RAW`, `PERCENTAGE`) a v1 metrics file gave scalar `name`, if any.
    pub fn scalar_format(&self, name: &str) -> Option<String> {
        self.outputs
            .artifacts
            .values()
            .flatten()
            .filter(|a| a.schema_title == "system.Metrics")
            .find_map(|a| a.metadata.get(FORMATS_KEY)?.get(name)?.as_str())
            .map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_v1_metrics_file_becomes_numbers_and_formats() {
        let meta = metadata_from_text(
            r#"{"metrics": [{"name": "accuracy-score", "numberValue": 0.75, "format": "PERCENTAGE"},
                            {"name": "loss", "numberValue": 2}]}"#,
        )
        .unwrap();
        assert_eq!(meta["accuracy-score"], json!(0.75));
        assert_eq!(meta["loss"], json!(2.0));
        assert_eq!(
            meta[FORMATS_KEY],
            json!({"accuracy-score": "PERCENTAGE", "loss": "RAW"})
        );
    }

    #[test]
    fn malformed_metrics_files_name_the_entry_and_field() {
        let bad = |t: &str| metadata_from_text(t).unwrap_err();
        assert!(bad("nope").contains("not JSON"));
        assert!(bad(r#"{"x": 1}"#).contains("`metrics`"));
        assert!(bad(r#"{"metrics": [{"numberValue": 1}]}"#).contains("metrics[0].name"));
        assert!(bad(r#"{"metrics": [{"name": "Acc", "numberValue": 1}]}"#).contains("'Acc'"));
        assert!(bad(r#"{"metrics": [{"name": "a", "numberValue": "x"}]}"#)
            .contains("metrics[0].numberValue"));
        assert!(
            bad(r#"{"metrics": [{"name": "a", "numberValue": 1, "format": "HEX"}]}"#)
                .contains("metrics[0].format")
        );
        assert!(bad(
            r#"{"metrics": [{"name": "a", "numberValue": 1}, {"name": "a", "numberValue": 2}]}"#
        )
        .contains("twice"));
    }

    #[test]
    fn metric_names_follow_kfp() {
        assert!(valid_name("a"));
        assert!(valid_name("accuracy-score2"));
        assert!(!valid_name(""));
        assert!(!valid_name("2a"));
        assert!(!valid_name("a-"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
