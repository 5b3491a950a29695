//! Run scalars (the numbers a run's tasks produced, a run's "metrics"): written with each task
//! and reported through KFP v1's `runs/{id}:reportMetrics`, one `run_scalars` row per
//! (run, task path, name), and each run's largest value per name kept in `run_metrics` for
//! sorting and metric columns.

use crate::store::{err, Store};
use penstock_engine::StoreError;
use sqlx::{Any, Transaction};

/// One scalar of a run.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarRow {
    /// The run.
    pub run_id: String,
    /// The task that produced it (a reported metric's node).
    pub task_path: String,
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: f64,
    /// Its KFP v1 display format (`RAW`, `PERCENTAGE`), when one was given.
    pub format: Option<String>,
}

/// Sets the run's largest value of scalar `$2` (run `$1`) in `run_metrics`.
pub(crate) const REFRESH_RUN_METRIC: &str =
    "INSERT INTO run_metrics (run_id, name, value, experiment_id, storage_state)
     SELECT s.run_id, s.name, MAX(s.value), r.experiment_id, r.storage_state
     FROM run_scalars s JOIN runs r ON r.run_id = s.run_id
     WHERE s.run_id = $1 AND s.name = $2
     GROUP BY s.run_id, s.name, r.experiment_id, r.storage_state
     ON CONFLICT (run_id, name) DO UPDATE SET value = excluded.value,
     experiment_id = excluded.experiment_id, storage_state = excluded.storage_state";

/// Records one scalar in a transaction and refreshes the run's largest value of that name.
/// `replace`: a value already recorded for the same (run, task, name) is overwritten (a task's
/// outputs are written again as it progresses); otherwise it is kept and `false` is returned.
pub(crate) async fn record_scalar(
    tx: &mut Transaction<'_, Any>,
    row: &ScalarRow,
    replace: bool,
) -> Result<bool, StoreError> {
    let sql = if replace {
        "INSERT INTO run_scalars (run_id, task_path, name, value, format) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (run_id, task_path, name) DO UPDATE SET value = excluded.value,
         format = excluded.format"
    } else {
        "INSERT INTO run_scalars (run_id, task_path, name, value, format) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (run_id, task_path, name) DO NOTHING"
    };
    let done = sqlx::query(sql)
        .bind(&row.run_id)
        .bind(&row.task_path)
        .bind(&row.name)
        .bind(row.value)
        .bind(&row.format)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(REFRESH_RUN_METRIC)
        .bind(&row.run_id)
        .bind(&row.name)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    Ok(true)
}

impl Store {
    /// Records reported scalars (KFP v1 `reportMetrics`) in one transaction; for each, whether
    /// it was recorded (`false`: that run, task and name already had a value, which is kept).
    pub async fn report_scalars(&self, rows: &[ScalarRow]) -> Result<Vec<bool>, StoreError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(record_scalar(&mut tx, row, false).await?);
        }
        tx.commit().await.map_err(err)?;
        Ok(out)
    }

    /// Every scalar of these runs with its format, by run, task path and name.
    pub async fn scalar_rows(&self, run_ids: &[String]) -> Result<Vec<ScalarRow>, StoreError> {
        if run_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = crate::backend::SqlBuilder::new(
            "SELECT run_id, task_path, name, value, format FROM run_scalars WHERE run_id IN (",
        );
        for (i, id) in run_ids.iter().enumerate() {
            if i > 0 {
                q.push(", ");
            }
            q.push_bind(id.clone());
        }
        q.push(") ORDER BY run_id, task_path, name");
        let rows: Vec<(String, String, String, f64, Option<String>)> =
            q.build_as().fetch_all(&self.pool).await.map_err(err)?;
        Ok(rows
            .into_iter()
            .map(|(run_id, task_path, name, value, format)| ScalarRow {
                run_id,
                task_path,
                name,
                value,
                format,
            })
            .collect())
    }
}
