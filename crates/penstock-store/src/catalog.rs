//! What the KFP REST API keeps around runs: experiments, pipelines and their versions,
//! recurring runs, and each run's bookkeeping ([`RunMeta`]). Every change that touches more
//! than one row happens in one transaction, so nothing is ever half-created.

use crate::backend::SqlBuilder;
use crate::list::{
    count_sql, group_count_sql, metric_segment_sql, page_sql, Cursor, Entity, FieldKind,
    FieldValue, ListQuery, MetricSegment, Page,
};
use crate::store::{err, json, run_from_row, Store};
use jiff::Timestamp;
use penstock_engine::{RunRecord, StoreError};
use serde_json::{Map, Value};
use sqlx::any::{AnyQueryResult, AnyRow};
use sqlx::{Any, AnyPool, Row, Transaction};

/// Why a catalog operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A thing with that name already exists.
    #[error("{0}")]
    AlreadyExists(String),
    /// The thing is not in a state that allows the operation.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn db(e: sqlx::Error) -> CatalogError {
    CatalogError::Store(err(e))
}

/// `Ok` when the statement changed a row; otherwise NOT_FOUND naming `what`.
fn touched(done: &AnyQueryResult, what: impl FnOnce() -> String) -> Result<(), CatalogError> {
    if done.rows_affected() == 0 {
        return Err(CatalogError::NotFound(format!("{} not found", what())));
    }
    Ok(())
}

/// The mapped row, or NOT_FOUND with `message`.
fn found<T>(
    row: Option<AnyRow>,
    map: impl Fn(&AnyRow) -> Result<T, StoreError>,
    message: impl FnOnce() -> String,
) -> Result<T, CatalogError> {
    match row {
        Some(r) => Ok(map(&r)?),
        None => Err(CatalogError::NotFound(message())),
    }
}

fn unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

/// Whether a run or an experiment is in the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageState {
    /// Shown in the normal lists.
    Available,
    /// Archived.
    Archived,
}

impl StorageState {
    /// KFP's enum name.
    pub fn name(self) -> &'static str {
        match self {
            StorageState::Available => "AVAILABLE",
            StorageState::Archived => "ARCHIVED",
        }
    }

    fn parse(text: &str) -> Result<StorageState, StoreError> {
        match text {
            "AVAILABLE" => Ok(StorageState::Available),
            "ARCHIVED" => Ok(StorageState::Archived),
            other => Err(err(format!("unknown storage state {other}"))),
        }
    }
}

fn ms(t: Timestamp) -> i64 {
    t.as_millisecond()
}

fn from_ms(v: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_millisecond(v).map_err(|e| err(format!("bad time {v}: {e}")))
}

fn opt_from_ms(v: Option<i64>) -> Result<Option<Timestamp>, StoreError> {
    v.map(from_ms).transpose()
}

fn parse_json(text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(err)
}

fn parse_object(text: &str) -> Result<Map<String, Value>, StoreError> {
    serde_json::from_str(text).map_err(err)
}

fn opt_json(text: Option<String>) -> Result<Option<Value>, StoreError> {
    text.as_deref().map(parse_json).transpose()
}

/// An experiment: a named group of runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ExperimentRow {
    /// Id (UUID).
    pub experiment_id: String,
    /// Name, unique per namespace.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// Always empty in single-user mode.
    pub namespace: String,
    /// Archived or not.
    pub storage_state: StorageState,
    /// When it was created.
    pub created_at: Timestamp,
    /// When its newest run was created.
    pub last_run_created_at: Option<Timestamp>,
}

fn experiment_from_row(r: &AnyRow) -> Result<ExperimentRow, StoreError> {
    Ok(ExperimentRow {
        experiment_id: r.get("experiment_id"),
        display_name: r.get("display_name"),
        description: r.get("description"),
        namespace: r.get("namespace"),
        storage_state: StorageState::parse(&r.get::<String, _>("storage_state"))?,
        created_at: from_ms(r.get("created_at_ms"))?,
        last_run_created_at: opt_from_ms(r.get("last_run_created_at_ms"))?,
    })
}

/// A pipeline: a name under which versions are uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineRow {
    /// Id (UUID).
    pub pipeline_id: String,
    /// Unique name.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// Always empty in single-user mode.
    pub namespace: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Free-form labels.
    pub tags: Map<String, Value>,
}

fn pipeline_from_row(r: &AnyRow) -> Result<PipelineRow, StoreError> {
    Ok(PipelineRow {
        pipeline_id: r.get("pipeline_id"),
        name: r.get("name"),
        display_name: r.get("display_name"),
        description: r.get("description"),
        namespace: r.get("namespace"),
        created_at: from_ms(r.get("created_at_ms"))?,
        tags: parse_object(&r.get::<String, _>("tags"))?,
    })
}

/// One uploaded version of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct PipelineVersionRow {
    /// Id (UUID).
    pub pipeline_version_id: String,
    /// The pipeline.
    pub pipeline_id: String,
    /// Name, unique within the pipeline.
    pub name: String,
    /// Human name.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// The validated pipeline spec (IR) as JSON.
    pub pipeline_spec: Value,
    /// The platform spec, when the file had one.
    pub platform_spec: Option<Value>,
    /// Where its code lives.
    pub code_source_url: String,
    /// Free-form labels.
    pub tags: Map<String, Value>,
}

fn version_from_row(r: &AnyRow) -> Result<PipelineVersionRow, StoreError> {
    Ok(PipelineVersionRow {
        pipeline_version_id: r.get("pipeline_version_id"),
        pipeline_id: r.get("pipeline_id"),
        name: r.get("name"),
        display_name: r.get("display_name"),
        description: r.get("description"),
        created_at: from_ms(r.get("created_at_ms"))?,
        pipeline_spec: parse_json(&r.get::<String, _>("pipeline_spec"))?,
        platform_spec: opt_json(r.get("platform_spec"))?,
        code_source_url: r.get("code_source_url"),
        tags: parse_object(&r.get::<String, _>("tags"))?,
    })
}

/// What the API records about a run beyond what the engine needs.
#[derive(Debug, Clone, PartialEq)]
pub struct RunMeta {
    /// The experiment it belongs to.
    pub experiment_id: String,
    /// Free text.
    pub description: String,
    /// Archived or not.
    pub storage_state: StorageState,
    /// Always empty in single-user mode.
    pub namespace: String,
    /// The pipeline it was started from, when started from a stored version.
    pub pipeline_id: Option<String>,
    /// The pipeline version it was started from.
    pub pipeline_version_id: Option<String>,
    /// The pipeline root it was given.
    pub pipeline_root: Option<String>,
    /// The service account it was given (recorded; a local run has no accounts).
    pub service_account: String,
    /// The recurring run that started it.
    pub recurring_run_id: Option<String>,
    /// When it was scheduled (its creation, or the recurring run's tick).
    pub scheduled_at: Option<Timestamp>,
}

impl RunMeta {
    /// The bookkeeping of a one-off run in `experiment_id`.
    pub fn in_experiment(experiment_id: String, run: &RunRecord) -> RunMeta {
        RunMeta {
            experiment_id,
            description: String::new(),
            storage_state: StorageState::Available,
            namespace: String::new(),
            pipeline_id: None,
            pipeline_version_id: None,
            pipeline_root: None,
            service_account: String::new(),
            recurring_run_id: None,
            scheduled_at: Some(run.created_at),
        }
    }
}

fn meta_from_row(r: &AnyRow) -> Result<RunMeta, StoreError> {
    Ok(RunMeta {
        experiment_id: r
            .get::<Option<String>, _>("experiment_id")
            .unwrap_or_default(),
        description: r.get("description"),
        storage_state: StorageState::parse(&r.get::<String, _>("storage_state"))?,
        namespace: r.get("namespace"),
        pipeline_id: r.get("pipeline_id"),
        pipeline_version_id: r.get("pipeline_version_id"),
        pipeline_root: r.get("pipeline_root"),
        service_account: r.get("service_account"),
        recurring_run_id: r.get("recurring_run_id"),
        scheduled_at: opt_from_ms(r.get("scheduled_at_ms"))?,
    })
}

/// Which artifacts a list shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactFilter {
    /// Only this type, e.g. `system.Model`.
    pub schema_title: Option<String>,
    /// Only names containing this text (case-insensitive for ASCII).
    pub name_contains: Option<String>,
    /// Only artifacts of runs in these namespaces (`None`: every namespace).
    pub namespaces: Option<Vec<String>>,
}

/// A recorded artifact.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArtifactRecord {
    /// Id.
    pub artifact_id: i64,
    /// Its output name.
    pub name: String,
    /// Its type, e.g. `system.Dataset`.
    pub schema_title: String,
    /// Where its content is.
    pub uri: String,
    /// Its metadata.
    pub metadata: Value,
    /// The run that recorded it first.
    pub run_id: Option<String>,
    /// The task that produced it.
    pub producer_task_id: Option<String>,
    /// When it was recorded (RFC 3339).
    pub created_at: String,
}

fn artifact_from_row(r: &AnyRow) -> Result<ArtifactRecord, StoreError> {
    Ok(ArtifactRecord {
        artifact_id: r.get("artifact_id"),
        name: r.get("name"),
        schema_title: r.get("schema_title"),
        uri: r.get("uri"),
        metadata: parse_json(&r.get::<String, _>("metadata"))?,
        run_id: r.get("run_id"),
        producer_task_id: r.get("producer_task_id"),
        created_at: r.get("created_at"),
    })
}

/// A task producing (OUTPUT) or consuming (INPUT) an artifact.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ArtifactEvent {
    /// The task.
    pub task_id: String,
    /// Its path in the run.
    pub task_path: String,
    /// The run.
    pub run_id: String,
    /// `INPUT` or `OUTPUT`.
    pub role: String,
    /// The input or output name.
    pub io_name: String,
}

/// A recurring run: a pipeline started on a trigger.
#[derive(Debug, Clone, PartialEq)]
pub struct RecurringRunRow {
    /// Id (UUID).
    pub recurring_run_id: String,
    /// Human name.
    pub display_name: String,
    /// Free text.
    pub description: String,
    /// The experiment its runs go to.
    pub experiment_id: String,
    /// Always empty in single-user mode.
    pub namespace: String,
    /// The pipeline, when it refers to a stored one.
    pub pipeline_id: Option<String>,
    /// The version; `None` with a pipeline id means "the latest at each tick".
    pub pipeline_version_id: Option<String>,
    /// The inline pipeline spec, when not a reference.
    pub pipeline_spec: Option<Value>,
    /// The inline platform spec.
    pub platform_spec: Option<Value>,
    /// Run parameters.
    pub parameters: Map<String, Value>,
    /// Pipeline root of its runs.
    pub pipeline_root: Option<String>,
    /// Recorded service account.
    pub service_account: String,
    /// At most this many of its runs active at once.
    pub max_concurrency: i64,
    /// The KFP `Trigger` object (`cron_schedule` or `periodic_schedule`), validated.
    pub trigger: Value,
    /// Whether it fires.
    pub enabled: bool,
    /// Start only the latest missed tick after downtime.
    pub no_catchup: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// The scheduled time of the last tick fired.
    pub last_tick: Option<Timestamp>,
    /// How many ticks were fired (the last `[[Index]]`).
    pub last_index: i64,
    /// Why the last tick could not start a run, if it could not.
    pub last_error: Option<String>,
}

fn recurring_from_row(r: &AnyRow) -> Result<RecurringRunRow, StoreError> {
    Ok(RecurringRunRow {
        recurring_run_id: r.get("recurring_run_id"),
        display_name: r.get("display_name"),
        description: r.get("description"),
        experiment_id: r.get("experiment_id"),
        namespace: r.get("namespace"),
        pipeline_id: r.get("pipeline_id"),
        pipeline_version_id: r.get("pipeline_version_id"),
        pipeline_spec: opt_json(r.get("pipeline_spec"))?,
        platform_spec: opt_json(r.get("platform_spec"))?,
        parameters: parse_object(&r.get::<String, _>("parameters"))?,
        pipeline_root: r.get("pipeline_root"),
        service_account: r.get("service_account"),
        max_concurrency: r.get("max_concurrency"),
        trigger: parse_json(&r.get::<String, _>("trigger_spec"))?,
        enabled: r.get::<i64, _>("enabled") != 0,
        no_catchup: r.get::<i64, _>("no_catchup") != 0,
        created_at: from_ms(r.get("created_at_ms"))?,
        updated_at: from_ms(r.get("updated_at_ms"))?,
        last_tick: opt_from_ms(r.get("last_tick_ms"))?,
        last_index: r.get("last_index"),
        last_error: r.get("last_error"),
    })
}

/// The id of the "Default" experiment, creating it on first use (as KFP's API server does).
pub(crate) async fn ensure_default_experiment(writer: &AnyPool) -> Result<String, StoreError> {
    let found: Option<String> = sqlx::query_scalar(
        "SELECT experiment_id FROM experiments WHERE namespace = '' AND display_name = 'Default'",
    )
    .fetch_optional(writer)
    .await
    .map_err(err)?;
    if let Some(id) = found {
        return Ok(id);
    }
    let id = uuid_v4();
    // Servers sharing a PostgreSQL database may start together: the one whose insert loses on
    // the unique name uses the winner's experiment.
    let inserted = sqlx::query(
        "INSERT INTO experiments (experiment_id, display_name, description, created_at_ms)
         VALUES ($1, 'Default', 'All runs created without specifying an experiment are grouped here.', $2)
         ON CONFLICT (namespace, display_name) DO NOTHING",
    )
    .bind(&id)
    .bind(ms(Timestamp::now()))
    .execute(writer)
    .await
    .map_err(err)?;
    if inserted.rows_affected() == 0 {
        return sqlx::query_scalar(
            "SELECT experiment_id FROM experiments WHERE namespace = '' AND display_name = 'Default'",
        )
        .fetch_one(writer)
        .await
        .map_err(err);
    }
    // Runs recorded before experiments existed belong to it.
    sqlx::query("UPDATE runs SET experiment_id = $1 WHERE experiment_id IS NULL")
        .bind(&id)
        .execute(writer)
        .await
        .map_err(err)?;
    Ok(id)
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Inserts a run row with its bookkeeping (in the caller's transaction).
/// The run is owned by `store`'s replica, with a fresh lease.
pub(crate) async fn insert_run_row(
    tx: &mut Transaction<'_, Any>,
    store: &Store,
    run: &RunRecord,
    meta: &RunMeta,
) -> Result<(), StoreError> {
    let sql = format!(
        "INSERT INTO runs (run_id, display_name, pipeline_name, pipeline_spec, platform_spec, parameters, state,
         error, created_at, created_at_ms, started_at, finished_at, outputs, experiment_id, description,
         storage_state, namespace, pipeline_id, pipeline_version_id, pipeline_root, service_account,
         recurring_run_id, scheduled_at_ms, finished_at_ms, owner_pid, timeout_seconds, owner_replica,
         owner_host, lease_until_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26,
         $27, $28, {} + $29)",
        store.backend.now_ms()
    );
    let replica = store.replica();
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&run.run_id)
        .bind(&run.display_name)
        .bind(&run.pipeline_name)
        .bind(json(&run.pipeline_spec)?)
        .bind(run.platform_spec.as_ref().map(json).transpose()?)
        .bind(json(&run.parameters)?)
        .bind(run.state.name())
        .bind(&run.error)
        .bind(run.created_at.to_string())
        .bind(run.created_at.as_millisecond())
        .bind(run.started_at.map(|t| t.to_string()))
        .bind(run.finished_at.map(|t| t.to_string()))
        .bind(json(&run.outputs)?)
        .bind(&meta.experiment_id)
        .bind(&meta.description)
        .bind(meta.storage_state.name())
        .bind(&meta.namespace)
        .bind(&meta.pipeline_id)
        .bind(&meta.pipeline_version_id)
        .bind(&meta.pipeline_root)
        .bind(&meta.service_account)
        .bind(&meta.recurring_run_id)
        .bind(meta.scheduled_at.map(ms))
        .bind(run.finished_at.map(ms))
        .bind(replica.pid)
        .bind(run.timeout_seconds.and_then(|s| i64::try_from(s).ok()))
        .bind(&replica.id)
        .bind(&replica.pid_scope)
        .bind(crate::lease::lease_ms())
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    sqlx::query(
        "UPDATE experiments SET last_run_created_at_ms = CASE
         WHEN last_run_created_at_ms IS NOT NULL AND last_run_created_at_ms > $1
         THEN last_run_created_at_ms ELSE $1 END WHERE experiment_id = $2",
    )
    .bind(ms(run.created_at))
    .bind(&meta.experiment_id)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    Ok(())
}

impl Store {
    async fn page<T>(
        &self,
        entity: Entity,
        query: &ListQuery,
        map: impl Fn(&AnyRow) -> Result<T, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let limit = query.limit as usize;
        let mut rows = match &query.sort_metric {
            Some(metric) => self.metric_rows(metric, query).await?,
            None => page_sql(self.backend, entity, "*", query)
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(err)?,
        };
        let total_size: i64 = group_count_sql(self.backend, entity, &query.predicates)
            .unwrap_or_else(|| count_sql(self.backend, entity, &query.predicates))
            .build_scalar()
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match (more, rows.last()) {
            (true, Some(last)) => {
                let value = match (&query.sort_metric, query.sort.kind) {
                    (Some(_), _) => match last
                        .try_get::<Option<f64>, _>("page_sort_value")
                        .map_err(err)?
                    {
                        Some(v) => FieldValue::Float(v),
                        None => FieldValue::MetricAbsent {
                            created_at_ms: last.try_get("created_at_ms").map_err(err)?,
                        },
                    },
                    (None, FieldKind::Time) => {
                        FieldValue::Int(last.try_get("page_sort_value").map_err(err)?)
                    }
                    (None, FieldKind::Text) => {
                        FieldValue::Text(last.try_get("page_sort_value").map_err(err)?)
                    }
                };
                Some(Cursor {
                    value,
                    key: last.try_get(entity.key()).map_err(err)?,
                })
            }
            _ => None,
        };
        let items = rows.iter().map(map).collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            items,
            total_size,
            next,
        })
    }

    /// Up to `limit + 1` runs of a metric-sorted page: from the runs with the metric (unless the
    /// cursor is already past them), then, if the page is not full, from the runs without it.
    async fn metric_rows(
        &self,
        metric: &str,
        query: &ListQuery,
    ) -> Result<Vec<AnyRow>, StoreError> {
        let wanted = query.limit as i64 + 1;
        let mut rows = Vec::new();
        let without_after = match &query.after {
            Some(c) if matches!(c.value, FieldValue::MetricAbsent { .. }) => Some(c),
            after => {
                rows = metric_segment_sql(
                    self.backend,
                    metric,
                    MetricSegment::With,
                    query,
                    after.as_ref(),
                    wanted,
                )
                .build()
                .fetch_all(&self.pool)
                .await
                .map_err(err)?;
                None
            }
        };
        let missing = wanted - rows.len() as i64;
        if missing > 0 {
            let more = metric_segment_sql(
                self.backend,
                metric,
                MetricSegment::Without,
                query,
                without_after,
                missing,
            )
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
            rows.extend(more);
        }
        Ok(rows)
    }

    /// The "Default" experiment's id.
    pub fn default_experiment_id(&self) -> &str {
        &self.default_experiment_id
    }

    // ----- experiments -------------------------------------------------------------------

    /// Records a new experiment; its name must be unused in its namespace.
    pub async fn insert_experiment(&self, e: &ExperimentRow) -> Result<(), CatalogError> {
        sqlx::query(
            "INSERT INTO experiments (experiment_id, display_name, description, namespace, storage_state,
             created_at_ms, last_run_created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&e.experiment_id)
        .bind(&e.display_name)
        .bind(&e.description)
        .bind(&e.namespace)
        .bind(e.storage_state.name())
        .bind(ms(e.created_at))
        .bind(e.last_run_created_at.map(ms))
        .execute(&self.writer)
        .await
        .map_err(|e2| {
            if unique_violation(&e2) {
                CatalogError::AlreadyExists(format!(
                    "an experiment named '{}' already exists",
                    e.display_name
                ))
            } else {
                db(e2)
            }
        })?;
        Ok(())
    }

    /// An experiment by id.
    pub async fn get_experiment(&self, id: &str) -> Result<ExperimentRow, CatalogError> {
        let row = sqlx::query("SELECT * FROM experiments WHERE experiment_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        found(row, experiment_from_row, || {
            format!("experiment '{id}' not found")
        })
    }

    /// The experiment with this name (single-user namespace), if any.
    pub async fn find_experiment_by_name(
        &self,
        name: &str,
    ) -> Result<Option<ExperimentRow>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM experiments WHERE namespace = '' AND display_name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(err)?;
        row.as_ref().map(experiment_from_row).transpose()
    }

    /// A page of experiments.
    pub async fn list_experiments(
        &self,
        query: &ListQuery,
    ) -> Result<Page<ExperimentRow>, StoreError> {
        self.page(Entity::Experiments, query, experiment_from_row)
            .await
    }

    /// Archives an experiment with its runs, and disables its recurring runs (KFP's rule);
    /// or restores the experiment alone.
    pub async fn set_experiment_storage(
        &self,
        id: &str,
        state: StorageState,
        now: Timestamp,
    ) -> Result<(), CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        let done =
            sqlx::query("UPDATE experiments SET storage_state = $1 WHERE experiment_id = $2")
                .bind(state.name())
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        touched(&done, || format!("experiment '{id}'"))?;
        if state == StorageState::Archived {
            sqlx::query("UPDATE runs SET storage_state = 'ARCHIVED' WHERE experiment_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
            sqlx::query(
                "UPDATE recurring_runs SET enabled = 0, updated_at_ms = $1 WHERE experiment_id = $2 AND enabled = 1",
            )
            .bind(ms(now))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)
    }

    /// Deletes an experiment. Its runs and recurring runs stay (as in KFP).
    pub async fn delete_experiment(&self, id: &str) -> Result<(), CatalogError> {
        let done = sqlx::query("DELETE FROM experiments WHERE experiment_id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        touched(&done, || format!("experiment '{id}'"))?;
        Ok(())
    }

    // ----- pipelines ---------------------------------------------------------------------

    /// Records a pipeline and, when given, its first version, in one transaction.
    pub async fn insert_pipeline(
        &self,
        p: &PipelineRow,
        first_version: Option<&PipelineVersionRow>,
    ) -> Result<(), CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        sqlx::query(
            "INSERT INTO pipelines (pipeline_id, name, display_name, description, namespace, created_at_ms, tags)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&p.pipeline_id)
        .bind(&p.name)
        .bind(&p.display_name)
        .bind(&p.description)
        .bind(&p.namespace)
        .bind(ms(p.created_at))
        .bind(json(&p.tags)?)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if unique_violation(&e) {
                CatalogError::AlreadyExists(format!(
                    "a pipeline named '{}' already exists",
                    p.name
                ))
            } else {
                db(e)
            }
        })?;
        if let Some(v) = first_version {
            insert_version_row(&mut tx, v).await?;
        }
        tx.commit().await.map_err(db)
    }

    /// A pipeline by id.
    pub async fn get_pipeline(&self, id: &str) -> Result<PipelineRow, CatalogError> {
        let row = sqlx::query("SELECT * FROM pipelines WHERE pipeline_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        found(row, pipeline_from_row, || {
            format!("pipeline '{id}' not found")
        })
    }

    /// A pipeline by its unique name.
    pub async fn get_pipeline_by_name(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<PipelineRow, CatalogError> {
        let row = sqlx::query("SELECT * FROM pipelines WHERE namespace = $1 AND name = $2")
            .bind(namespace)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        found(row, pipeline_from_row, || {
            format!("pipeline named '{name}' not found")
        })
    }

    /// A page of pipelines.
    pub async fn list_pipelines(&self, query: &ListQuery) -> Result<Page<PipelineRow>, StoreError> {
        self.page(Entity::Pipelines, query, pipeline_from_row).await
    }

    /// Deletes a pipeline. Without `cascade` it must have no versions left.
    pub async fn delete_pipeline(&self, id: &str, cascade: bool) -> Result<(), CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        let versions: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM pipeline_versions WHERE pipeline_id = $1")
                .bind(id)
                .fetch_one(&mut *tx)
                .await
                .map_err(db)?;
        if versions > 0 && !cascade {
            return Err(CatalogError::FailedPrecondition(format!(
                "pipeline '{id}' still has {versions} version(s); delete them first or pass cascade=true"
            )));
        }
        let done = sqlx::query("DELETE FROM pipelines WHERE pipeline_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        touched(&done, || format!("pipeline '{id}'"))?;
        tx.commit().await.map_err(db)
    }

    /// Records a new version of an existing pipeline.
    pub async fn insert_version(&self, v: &PipelineVersionRow) -> Result<(), CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT pipeline_id FROM pipelines WHERE pipeline_id = $1")
                .bind(&v.pipeline_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if exists.is_none() {
            return Err(CatalogError::NotFound(format!(
                "pipeline '{}' not found",
                v.pipeline_id
            )));
        }
        insert_version_row(&mut tx, v).await?;
        tx.commit().await.map_err(db)
    }

    /// A version by id, within its pipeline.
    pub async fn get_version(
        &self,
        pipeline_id: Option<&str>,
        version_id: &str,
    ) -> Result<PipelineVersionRow, CatalogError> {
        let row = sqlx::query("SELECT * FROM pipeline_versions WHERE pipeline_version_id = $1")
            .bind(version_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => {
                let v = version_from_row(&r)?;
                if pipeline_id.is_some_and(|p| !p.is_empty() && p != v.pipeline_id) {
                    return Err(CatalogError::NotFound(format!(
                        "pipeline version '{version_id}' does not belong to pipeline '{}'",
                        pipeline_id.unwrap_or_default()
                    )));
                }
                Ok(v)
            }
            None => Err(CatalogError::NotFound(format!(
                "pipeline version '{version_id}' not found"
            ))),
        }
    }

    /// The newest version of a pipeline.
    pub async fn latest_version(
        &self,
        pipeline_id: &str,
    ) -> Result<PipelineVersionRow, CatalogError> {
        let row = sqlx::query(
            "SELECT * FROM pipeline_versions WHERE pipeline_id = $1
             ORDER BY created_at_ms DESC, rowid DESC LIMIT 1",
        )
        .bind(pipeline_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        match row {
            Some(r) => Ok(version_from_row(&r)?),
            None => {
                self.get_pipeline(pipeline_id).await?;
                Err(CatalogError::FailedPrecondition(format!(
                    "pipeline '{pipeline_id}' has no versions"
                )))
            }
        }
    }

    /// A page of a pipeline's versions (the caller adds the pipeline predicate).
    pub async fn list_versions(
        &self,
        query: &ListQuery,
    ) -> Result<Page<PipelineVersionRow>, StoreError> {
        self.page(Entity::PipelineVersions, query, version_from_row)
            .await
    }

    /// Deletes a version.
    pub async fn delete_version(
        &self,
        pipeline_id: &str,
        version_id: &str,
    ) -> Result<(), CatalogError> {
        let done = sqlx::query(
            "DELETE FROM pipeline_versions WHERE pipeline_id = $1 AND pipeline_version_id = $2",
        )
        .bind(pipeline_id)
        .bind(version_id)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        touched(&done, || {
            format!("pipeline version '{version_id}' of pipeline '{pipeline_id}'")
        })?;
        Ok(())
    }

    // ----- runs --------------------------------------------------------------------------

    /// Records a new run with its bookkeeping in one transaction. The experiment must exist
    /// and not be archived.
    pub async fn insert_run_with_meta(
        &self,
        run: &RunRecord,
        meta: &RunMeta,
    ) -> Result<(), CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT storage_state FROM experiments WHERE experiment_id = $1")
                .bind(&meta.experiment_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        match state.as_deref() {
            None => {
                return Err(CatalogError::NotFound(format!(
                    "experiment '{}' not found",
                    meta.experiment_id
                )))
            }
            Some("ARCHIVED") => {
                return Err(CatalogError::FailedPrecondition(format!(
                    "experiment '{}' is archived; restore it before starting runs in it",
                    meta.experiment_id
                )))
            }
            Some(_) => {}
        }
        insert_run_row(&mut tx, self, run, meta).await?;
        tx.commit().await.map_err(db)
    }

    /// A run and its bookkeeping.
    pub async fn get_run(&self, id: &str) -> Result<(RunRecord, RunMeta), CatalogError> {
        let row = sqlx::query("SELECT * FROM runs WHERE run_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        match row {
            Some(r) => Ok((run_from_row(&r)?, meta_from_row(&r)?)),
            None => Err(CatalogError::NotFound(format!("run '{id}' not found"))),
        }
    }

    /// A page of runs.
    pub async fn list_runs_page(
        &self,
        query: &ListQuery,
    ) -> Result<Page<(RunRecord, RunMeta)>, StoreError> {
        self.page(Entity::Runs, query, |r| {
            Ok((run_from_row(r)?, meta_from_row(r)?))
        })
        .await
    }

    /// Archives or restores a run.
    pub async fn set_run_storage(&self, id: &str, state: StorageState) -> Result<(), CatalogError> {
        let done = sqlx::query("UPDATE runs SET storage_state = $1 WHERE run_id = $2")
            .bind(state.name())
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        touched(&done, || format!("run '{id}'"))?;
        Ok(())
    }

    /// Deletes a run with its tasks, attempts, lineage events and cache entries.
    pub async fn delete_run(&self, id: &str) -> Result<(), CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        for sql in [
            "DELETE FROM cache_entries WHERE run_id = $1",
            "DELETE FROM artifact_events WHERE run_id = $1",
        ] {
            sqlx::query(sql)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        let done = sqlx::query("DELETE FROM runs WHERE run_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        touched(&done, || format!("run '{id}'"))?;
        sqlx::query("DELETE FROM artifacts WHERE run_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// Records a run that cannot go on as FAILED with `why`, with its unfinished tasks.
    pub async fn fail_run(
        &self,
        run_id: &str,
        why: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(err)?;
        crate::lease::ensure_owner(&mut tx, self, run_id).await?;
        fail_run_in(&mut tx, run_id, why, now).await?;
        tx.commit().await.map_err(err)
    }

    // ----- recurring runs ----------------------------------------------------------------

    /// Records a recurring run. Its experiment must exist.
    pub async fn insert_recurring_run(&self, r: &RecurringRunRow) -> Result<(), CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT experiment_id FROM experiments WHERE experiment_id = $1")
                .bind(&r.experiment_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if exists.is_none() {
            return Err(CatalogError::NotFound(format!(
                "experiment '{}' not found",
                r.experiment_id
            )));
        }
        sqlx::query(
            "INSERT INTO recurring_runs (recurring_run_id, display_name, description, experiment_id, namespace,
             pipeline_id, pipeline_version_id, pipeline_spec, platform_spec, parameters, pipeline_root,
             service_account, max_concurrency, trigger_spec, enabled, no_catchup, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(&r.recurring_run_id)
        .bind(&r.display_name)
        .bind(&r.description)
        .bind(&r.experiment_id)
        .bind(&r.namespace)
        .bind(&r.pipeline_id)
        .bind(&r.pipeline_version_id)
        .bind(r.pipeline_spec.as_ref().map(json).transpose()?)
        .bind(r.platform_spec.as_ref().map(json).transpose()?)
        .bind(json(&r.parameters)?)
        .bind(&r.pipeline_root)
        .bind(&r.service_account)
        .bind(r.max_concurrency)
        .bind(json(&r.trigger)?)
        .bind(r.enabled as i64)
        .bind(r.no_catchup as i64)
        .bind(ms(r.created_at))
        .bind(ms(r.updated_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)
    }

    /// A recurring run by id.
    pub async fn get_recurring_run(&self, id: &str) -> Result<RecurringRunRow, CatalogError> {
        let row = sqlx::query("SELECT * FROM recurring_runs WHERE recurring_run_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        found(row, recurring_from_row, || {
            format!("recurring run '{id}' not found")
        })
    }

    /// A page of recurring runs.
    pub async fn list_recurring_runs(
        &self,
        query: &ListQuery,
    ) -> Result<Page<RecurringRunRow>, StoreError> {
        self.page(Entity::RecurringRuns, query, recurring_from_row)
            .await
    }

    /// Enables or disables a recurring run.
    pub async fn set_recurring_run_enabled(
        &self,
        id: &str,
        enabled: bool,
        now: Timestamp,
    ) -> Result<(), CatalogError> {
        let done = sqlx::query(
            "UPDATE recurring_runs SET enabled = $1, updated_at_ms = $2 WHERE recurring_run_id = $3",
        )
        .bind(enabled as i64)
        .bind(ms(now))
        .bind(id)
        .execute(&self.writer)
        .await
        .map_err(db)?;
        touched(&done, || format!("recurring run '{id}'"))?;
        Ok(())
    }

    /// The scalars of these runs: `(run_id, task path, name, value)`.
    pub async fn run_scalars(
        &self,
        run_ids: &[String],
    ) -> Result<Vec<(String, String, String, f64)>, StoreError> {
        Ok(self
            .scalar_rows(run_ids)
            .await?
            .into_iter()
            .map(|r| (r.run_id, r.task_path, r.name, r.value))
            .collect())
    }

    /// Every scalar name any run produced (for choosing metric columns).
    pub async fn scalar_names(&self) -> Result<Vec<String>, StoreError> {
        // One index seek per distinct name (a skip scan over `run_metrics (name, …)`), not a
        // scan of every run's scalars.
        sqlx::query_scalar(
            "WITH RECURSIVE names (name) AS (
                 SELECT MIN(name) FROM run_metrics
                 UNION ALL
                 SELECT (SELECT MIN(m.name) FROM run_metrics m WHERE m.name > names.name)
                 FROM names WHERE names.name IS NOT NULL
             )
             SELECT name FROM names WHERE name IS NOT NULL LIMIT 500",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(err)
    }

    /// The scalar names of runs in these namespaces (for callers limited to some namespaces).
    pub async fn scalar_names_in(&self, namespaces: &[String]) -> Result<Vec<String>, StoreError> {
        let mut q = SqlBuilder::new(
            "SELECT DISTINCT s.name FROM run_scalars s JOIN runs r ON r.run_id = s.run_id
             WHERE r.namespace IN (",
        );
        // Never a namespace (PostgreSQL text cannot hold NUL): keeps `IN (...)` valid when the
        // list is empty.
        q.push_bind(String::from("\u{1}"));
        for n in namespaces {
            q.push(", ");
            q.push_bind(n.clone());
        }
        q.push(") ORDER BY s.name LIMIT 500");
        q.build_scalar().fetch_all(&self.pool).await.map_err(err)
    }

    /// The newest `per_experiment` available runs of each of these experiments:
    /// `(experiment_id, run_id, display_name, state)`, newest first within each experiment.
    pub async fn recent_runs_by_experiment(
        &self,
        experiment_ids: &[String],
        per_experiment: u32,
    ) -> Result<Vec<(String, String, String, String)>, StoreError> {
        let mut out = Vec::new();
        for id in experiment_ids {
            // One index range per experiment (`runs_by_experiment_storage`), each stopping after
            // `per_experiment` rows.
            let rows: Vec<(String, String, String, String)> = sqlx::query_as(
                "SELECT experiment_id, run_id, display_name, state FROM runs
                 WHERE experiment_id = $1 AND storage_state = 'AVAILABLE'
                 ORDER BY created_at_ms DESC, run_id DESC LIMIT $2",
            )
            .bind(id)
            .bind(per_experiment as i64)
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
            out.extend(rows);
        }
        Ok(out)
    }

    /// The newest artifacts first.
    pub async fn list_artifacts(
        &self,
        filter: &ArtifactFilter,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<ArtifactRecord>, StoreError> {
        let mut q = SqlBuilder::new("SELECT * FROM artifacts WHERE 1 = 1");
        if let Some(t) = &filter.schema_title {
            q.push(" AND schema_title = ");
            q.push_bind(t.clone());
        }
        if let Some(n) = &filter.name_contains {
            q.push(format!(" AND name {} ", self.backend.ilike()));
            q.push_bind(crate::list::contains_pattern(n));
            q.push(" ESCAPE '\\'");
        }
        if let Some(namespaces) = &filter.namespaces {
            q.push(" AND run_id IN (SELECT run_id FROM runs WHERE namespace IN (");
            // Never a namespace (PostgreSQL text cannot hold NUL): keeps `IN (...)` valid
            // when the list is empty.
            q.push_bind(String::from("\u{1}"));
            for n in namespaces {
                q.push(", ");
                q.push_bind(n.clone());
            }
            q.push("))");
        }
        if let Some(id) = before {
            q.push(" AND artifact_id < ");
            q.push_bind(id);
        }
        q.push(" ORDER BY artifact_id DESC LIMIT ");
        q.push_bind(limit as i64);
        let rows = q.build().fetch_all(&self.pool).await.map_err(err)?;
        rows.iter().map(artifact_from_row).collect()
    }

    /// An artifact with its lineage: which tasks produced and consumed it.
    pub async fn get_artifact(
        &self,
        id: i64,
    ) -> Result<(ArtifactRecord, Vec<ArtifactEvent>), CatalogError> {
        let row = sqlx::query("SELECT * FROM artifacts WHERE artifact_id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?;
        let artifact = found(row, artifact_from_row, || {
            format!("artifact {id} not found")
        })?;
        let events = sqlx::query(
            "SELECT e.task_id, e.run_id, e.role, e.io_name, COALESCE(t.path, e.task_id) AS task_path
             FROM artifact_events e LEFT JOIN tasks t ON t.task_id = e.task_id
             WHERE e.artifact_id = $1 ORDER BY e.role DESC, e.run_id, task_path",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| ArtifactEvent {
            task_id: r.get("task_id"),
            task_path: r.get("task_path"),
            run_id: r.get("run_id"),
            role: r.get("role"),
            io_name: r.get("io_name"),
        })
        .collect();
        Ok((artifact, events))
    }

    /// Every enabled recurring run (what the scheduler looks at).
    pub async fn enabled_recurring_runs(&self) -> Result<Vec<RecurringRunRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM recurring_runs WHERE enabled = 1")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(recurring_from_row).collect()
    }

    /// How many runs of a recurring run are PENDING or RUNNING.
    pub async fn active_runs_of(&self, recurring_run_id: &str) -> Result<usize, StoreError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM runs WHERE recurring_run_id = $1 AND state IN ('PENDING', 'RUNNING')",
        )
        .bind(recurring_run_id)
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        Ok(n as usize)
    }

    /// Records that a recurring run fired `tick` (its `index`-th tick): the run, when there
    /// is one, and the schedule's progress in one transaction. Returns false, recording
    /// nothing, when that tick (or a later one) was already fired or the schedule is gone or
    /// disabled, so a tick is never fired twice.
    pub async fn record_tick(
        &self,
        recurring_run_id: &str,
        tick: Timestamp,
        index: i64,
        run: Result<(&RunRecord, &RunMeta), &str>,
    ) -> Result<bool, CatalogError> {
        let mut tx = crate::backend::begin_write(&self.writer, self.backend)
            .await
            .map_err(db)?;
        let done = sqlx::query(
            "UPDATE recurring_runs SET last_tick_ms = $1, last_index = $2, last_error = $3
             WHERE recurring_run_id = $4 AND enabled = 1 AND (last_tick_ms IS NULL OR last_tick_ms < $5)",
        )
        .bind(ms(tick))
        .bind(index)
        .bind(run.err())
        .bind(recurring_run_id)
        .bind(ms(tick))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        if let Ok((record, meta)) = run {
            insert_run_row(&mut tx, self, record, meta).await?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    /// Deletes a recurring run (its runs stay).
    pub async fn delete_recurring_run(&self, id: &str) -> Result<(), CatalogError> {
        let done = sqlx::query("DELETE FROM recurring_runs WHERE recurring_run_id = $1")
            .bind(id)
            .execute(&self.writer)
            .await
            .map_err(db)?;
        touched(&done, || format!("recurring run '{id}'"))?;
        Ok(())
    }
}

async fn insert_version_row(
    tx: &mut Transaction<'_, Any>,
    v: &PipelineVersionRow,
) -> Result<(), CatalogError> {
    sqlx::query(
        "INSERT INTO pipeline_versions (pipeline_version_id, pipeline_id, name, display_name, description,
         created_at_ms, pipeline_spec, platform_spec, code_source_url, tags)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&v.pipeline_version_id)
    .bind(&v.pipeline_id)
    .bind(&v.name)
    .bind(&v.display_name)
    .bind(&v.description)
    .bind(ms(v.created_at))
    .bind(json(&v.pipeline_spec)?)
    .bind(v.platform_spec.as_ref().map(json).transpose()?)
    .bind(&v.code_source_url)
    .bind(json(&v.tags)?)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if unique_violation(&e) {
            CatalogError::AlreadyExists(format!(
                "pipeline '{}' already has a version named '{}'",
                v.pipeline_id, v.name
            ))
        } else {
            db(e)
        }
    })?;
    Ok(())
}

/// Within `tx`: the run and its PENDING/RUNNING tasks become FAILED with `why`.
async fn fail_run_in(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    why: &str,
    now: Timestamp,
) -> Result<(), StoreError> {
    let tasks: Vec<String> = sqlx::query_scalar(
        "SELECT task_id FROM tasks WHERE run_id = $1 AND state IN ('PENDING', 'RUNNING')",
    )
    .bind(id)
    .fetch_all(&mut **tx)
    .await
    .map_err(err)?;
    for task in &tasks {
        sqlx::query(
            "UPDATE tasks SET state = 'FAILED', error = $1, finished_at = $2 WHERE task_id = $3",
        )
        .bind(why)
        .bind(now.to_string())
        .bind(task)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
        sqlx::query(
            "INSERT INTO task_states (task_id, state, at, message) VALUES ($1, 'FAILED', $2, $3)",
        )
        .bind(task)
        .bind(now.to_string())
        .bind(why)
        .execute(&mut **tx)
        .await
        .map_err(err)?;
    }
    sqlx::query(
        "UPDATE runs SET state = 'FAILED', error = $1, finished_at = $2, finished_at_ms = $3 WHERE run_id = $4",
    )
    .bind(why)
    .bind(now.to_string())
    .bind(ms(now))
    .bind(id)
    .execute(&mut **tx)
    .await
    .map_err(err)?;
    Ok(())
}
