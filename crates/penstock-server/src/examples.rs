//! The project's example pipelines, compiled by kfp 2.16.1 and embedded, registered in a fresh
//! home so the first screen a new user sees is not empty. Registered once per home (a marker
//! file remembers it, so deleting them is respected); `penstock server --no-examples` skips it.

use crate::error::ApiError;
use jiff::Timestamp;
use penstock_store::{PipelineRow, PipelineVersionRow, SqliteStore};
use std::path::Path;

const EXAMPLES: [(&str, &str, &str); 4] = [
    (
        "titanic",
        "Preprocess → train with metrics → conditional deploy, with an exit handler.",
        include_str!("../../../examples/compiled/titanic.yaml"),
    ),
    (
        "tracking",
        "A training step logging a learning curve through PENSTOCK_METRICS_FILE and a Metrics artifact.",
        include_str!("../../../examples/compiled/tracking.yaml"),
    ),
    (
        "control-flow",
        "If/Elif/Else, ParallelFor, Collected, nested pipelines and an importer.",
        include_str!("../../../examples/compiled/control_flow.yaml"),
    ),
    (
        "data-passing",
        "Parameters, artifacts, defaults, outputs and .after between lightweight components.",
        include_str!("../../../examples/compiled/data_passing.yaml"),
    ),
];

const MARKER: &str = ".examples-registered";

/// Registers the examples unless this home already had them. Returns how many were added.
pub async fn register_examples(store: &SqliteStore, home: &Path) -> Result<usize, ApiError> {
    let marker = home.join(MARKER);
    if marker.exists() {
        return Ok(0);
    }
    let mut added = 0;
    for (name, description, yaml) in EXAMPLES {
        let pipeline =
            penstock_spec::parse_pipeline(&format!("examples/{name}.yaml"), yaml.as_bytes())
                .map_err(|e| ApiError::internal(format!("embedded example: {e}")))?;
        if store.get_pipeline_by_name("", name).await.is_ok() {
            continue;
        }
        let now = Timestamp::now();
        let row = PipelineRow {
            pipeline_id: uuid::Uuid::new_v4().to_string(),
            name: name.to_string(),
            display_name: name.to_string(),
            description: description.to_string(),
            namespace: String::new(),
            created_at: now,
            tags: Default::default(),
        };
        let version = PipelineVersionRow {
            pipeline_version_id: uuid::Uuid::new_v4().to_string(),
            pipeline_id: row.pipeline_id.clone(),
            name: name.to_string(),
            display_name: name.to_string(),
            description: description.to_string(),
            created_at: now,
            pipeline_spec: serde_json::to_value(&pipeline.spec)
                .map_err(|e| ApiError::internal(e.to_string()))?,
            platform_spec: pipeline.platform_spec.clone(),
            code_source_url: format!("examples/{}.py", name.replace('-', "_")),
            tags: Default::default(),
        };
        store.insert_pipeline(&row, Some(&version)).await?;
        added += 1;
    }
    std::fs::write(
        &marker,
        b"the example pipelines were registered in this home\n",
    )
    .map_err(|e| ApiError::internal(format!("{}: {e}", marker.display())))?;
    Ok(added)
}
