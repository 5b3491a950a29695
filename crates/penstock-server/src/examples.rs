//! The project's example pipelines, compiled by kfp 2.16.1 and embedded, registered in a fresh
//! home so the first screen a new user sees is not empty. Registered once per home (a marker
//! file remembers it, so deleting them is respected); `penstock server --no-examples` skips it.

use crate::api::pipelines::{pipeline_row, version_row};
use crate::error::ApiError;
use penstock_store::SqliteStore;
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
        let row = pipeline_row(
            crate::wire::Pipeline {
                name: Some(name.to_string()),
                description: Some(description.to_string()),
                ..Default::default()
            },
            &crate::access::Principal::anonymous(),
        )?;
        let version = version_row(
            &row.pipeline_id,
            name.to_string(),
            None,
            Some(description.to_string()),
            Some(format!("examples/{}.py", name.replace('-', "_"))),
            None,
            &pipeline,
        )?;
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
