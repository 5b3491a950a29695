//! Experiment tracking built in: a run's config (its parameters and each task's resolved
//! inputs), its summary (every scalar it produced: numeric output parameters, `system.Metrics`
//! values, the numeric fields of `system.ClassificationMetrics`) and its curves (what tasks
//! logged through `PENSTOCK_METRICS_FILE`).

use penstock_engine::{RunRecord, TaskKind, TaskRecord};
use penstock_launcher::metrics::{points_file, read_points};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use utoipa::ToSchema;

/// One scalar a task produced.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Scalar {
    /// The task's path.
    pub task: String,
    /// The output parameter or metric name.
    pub name: String,
    /// The value.
    pub value: f64,
}

/// One point of a curve.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Point {
    /// The step.
    pub step: f64,
    /// The value.
    pub value: f64,
    /// When it was read (RFC 3339).
    pub time: String,
}

/// One logged curve.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Series {
    /// The task's path.
    pub task: String,
    /// The metric name.
    pub name: String,
    /// Its points in the order logged.
    pub points: Vec<Point>,
}

/// `GET /apis/penstock/v1/runs/{run_id}/metrics`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunMetrics {
    /// The run's parameters.
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    /// Each task's resolved input parameters, by task path.
    #[schema(value_type = Object)]
    pub task_config: BTreeMap<String, Map<String, Value>>,
    /// Every scalar produced.
    pub scalars: Vec<Scalar>,
    /// Every logged curve.
    pub series: Vec<Series>,
}

/// Collects a run's config, scalars and curves; `home` holds the logged points.
pub fn run_metrics(home: &Path, run: &RunRecord, tasks: &[TaskRecord]) -> RunMetrics {
    let config = run
        .parameters
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut task_config = BTreeMap::new();
    let mut scalars = Vec::new();
    let mut series = Vec::new();
    for task in tasks
        .iter()
        .filter(|t| matches!(t.kind, TaskKind::Container | TaskKind::Importer))
    {
        if !task.inputs.parameters.is_empty() {
            task_config.insert(
                task.path.clone(),
                task.inputs
                    .parameters
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            );
        }
        for (name, value) in task.scalars() {
            scalars.push(Scalar {
                task: task.path.clone(),
                name,
                value,
            });
        }
        let mut by_name: Vec<Series> = Vec::new();
        for p in read_points(&points_file(home, &run.run_id, &task.path)) {
            let point = Point {
                step: p.step,
                value: p.value,
                time: p.time,
            };
            match by_name.iter_mut().find(|s| s.name == p.name) {
                Some(s) => s.points.push(point),
                None => by_name.push(Series {
                    task: task.path.clone(),
                    name: p.name,
                    points: vec![point],
                }),
            }
        }
        series.extend(by_name);
    }
    RunMetrics {
        config,
        task_config,
        scalars,
        series,
    }
}
