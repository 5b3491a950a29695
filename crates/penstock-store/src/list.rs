//! Filtered, sorted, keyset-paged listing of experiments, pipelines, pipeline versions, runs
//! and recurring runs.
//!
//! Callers name fields by the KFP API's names (`display_name`, `created_at`, …); each entity
//! knows which of its fields can be filtered and sorted and what column holds them. Paging is
//! keyset (`(sort value, id) > (last sort value, last id)`), so a page token stays correct
//! while rows are inserted, and a later page costs the same as the first.

use crate::backend::{Backend, SqlBuilder};

/// What a list is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entity {
    /// Experiments.
    Experiments,
    /// Pipelines.
    Pipelines,
    /// Versions of pipelines.
    PipelineVersions,
    /// Runs.
    Runs,
    /// Recurring runs.
    RecurringRuns,
}

/// How a field's column holds its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// Text.
    Text,
    /// A time, stored as milliseconds since the Unix epoch.
    Time,
}

/// A filterable and sortable field of an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The canonical API name.
    pub name: &'static str,
    column: &'static str,
    /// How its value is held.
    pub kind: FieldKind,
    nullable: bool,
}

impl Field {
    /// The SQL expression sorted and compared on (NULLs folded so keyset paging is total),
    /// qualified by its table.
    fn expr(&self, table: &str) -> String {
        match (self.nullable, self.kind) {
            (false, _) => format!("{table}.{}", self.column),
            (true, FieldKind::Time) => format!("COALESCE({table}.{}, 0)", self.column),
            (true, FieldKind::Text) => format!("COALESCE({table}.{}, '')", self.column),
        }
    }
}

const fn text(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: FieldKind::Text,
        nullable: false,
    }
}

const fn opt_text(name: &'static str, column: &'static str) -> Field {
    Field {
        name,
        column,
        kind: FieldKind::Text,
        nullable: true,
    }
}

const fn time(name: &'static str, column: &'static str, nullable: bool) -> Field {
    Field {
        name,
        column,
        kind: FieldKind::Time,
        nullable,
    }
}

impl Entity {
    /// The table.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Entity::Experiments => "experiments",
            Entity::Pipelines => "pipelines",
            Entity::PipelineVersions => "pipeline_versions",
            Entity::Runs => "runs",
            Entity::RecurringRuns => "recurring_runs",
        }
    }

    /// The id column (the keyset tie-breaker).
    pub(crate) fn key(self) -> &'static str {
        match self {
            Entity::Experiments => "experiment_id",
            Entity::Pipelines => "pipeline_id",
            Entity::PipelineVersions => "pipeline_version_id",
            Entity::Runs => "run_id",
            Entity::RecurringRuns => "recurring_run_id",
        }
    }

    /// The field named `name` in the API (with KFP's aliases such as `id` and `name`), if
    /// it can be filtered and sorted on.
    pub fn field(self, name: &str) -> Option<Field> {
        let f = match (self, name) {
            (_, "created_at") => time("created_at", "created_at_ms", false),
            (_, "description") => text("description", "description"),
            (Entity::Experiments, "experiment_id" | "id") => text("experiment_id", "experiment_id"),
            (Entity::Experiments, "display_name" | "name") => text("display_name", "display_name"),
            (Entity::Experiments, "last_run_created_at") => {
                time("last_run_created_at", "last_run_created_at_ms", true)
            }
            (Entity::Experiments, "namespace") => text("namespace", "namespace"),
            (Entity::Experiments, "storage_state") => text("storage_state", "storage_state"),
            (Entity::Pipelines, "pipeline_id" | "id") => text("pipeline_id", "pipeline_id"),
            (Entity::Pipelines, "name") => text("name", "name"),
            (Entity::Pipelines, "display_name") => text("display_name", "display_name"),
            (Entity::Pipelines, "namespace") => text("namespace", "namespace"),
            (Entity::PipelineVersions, "pipeline_version_id" | "id") => {
                text("pipeline_version_id", "pipeline_version_id")
            }
            (Entity::PipelineVersions, "pipeline_id") => text("pipeline_id", "pipeline_id"),
            (Entity::PipelineVersions, "name") => text("name", "name"),
            (Entity::PipelineVersions, "display_name") => text("display_name", "display_name"),
            (Entity::PipelineVersions, "status") => text("status", "status"),
            (Entity::PipelineVersions, "pipeline_spec") => text("pipeline_spec", "pipeline_spec"),
            (Entity::Runs, "run_id" | "id") => text("run_id", "run_id"),
            (Entity::Runs, "display_name" | "name") => text("display_name", "display_name"),
            (Entity::Runs, "finished_at") => time("finished_at", "finished_at_ms", true),
            (Entity::Runs, "scheduled_at") => time("scheduled_at", "scheduled_at_ms", true),
            (Entity::Runs, "storage_state") => text("storage_state", "storage_state"),
            (Entity::Runs, "state" | "status") => text("state", "state"),
            (Entity::Runs, "namespace") => text("namespace", "namespace"),
            (Entity::Runs, "experiment_id") => opt_text("experiment_id", "experiment_id"),
            (Entity::Runs, "recurring_run_id") => opt_text("recurring_run_id", "recurring_run_id"),
            (Entity::Runs, "pipeline_name") => text("pipeline_name", "pipeline_name"),
            (Entity::RecurringRuns, "recurring_run_id" | "id") => {
                text("recurring_run_id", "recurring_run_id")
            }
            (Entity::RecurringRuns, "display_name" | "name") => {
                text("display_name", "display_name")
            }
            (Entity::RecurringRuns, "updated_at") => time("updated_at", "updated_at_ms", false),
            (Entity::RecurringRuns, "experiment_id") => text("experiment_id", "experiment_id"),
            (Entity::RecurringRuns, "namespace") => text("namespace", "namespace"),
            _ => return None,
        };
        Some(f)
    }

    /// Every field name the API accepts for this entity (for error messages).
    pub fn field_names(self) -> Vec<&'static str> {
        let candidates = [
            "id",
            "experiment_id",
            "pipeline_id",
            "pipeline_version_id",
            "run_id",
            "recurring_run_id",
            "name",
            "display_name",
            "description",
            "created_at",
            "updated_at",
            "finished_at",
            "scheduled_at",
            "last_run_created_at",
            "storage_state",
            "state",
            "status",
            "namespace",
            "pipeline_name",
            "pipeline_spec",
        ];
        candidates
            .into_iter()
            .filter(|n| self.field(n).is_some())
            .collect()
    }
}

/// A value compared against a field: text, or a time in milliseconds.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum FieldValue {
    /// Milliseconds since the epoch (time fields).
    Int(i64),
    /// A metric value.
    Float(f64),
    /// Text.
    Text(String),
    /// In a metric-sorted runs list, a run without that metric (those come after the others,
    /// newest first): its creation time.
    MetricAbsent {
        /// The run's creation time in milliseconds since the epoch.
        created_at_ms: i64,
    },
}

/// A comparison (KFP's `Predicate.Operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `=`
    Equals,
    /// `!=`
    NotEquals,
    /// `>`
    GreaterThan,
    /// `>=`
    GreaterThanEquals,
    /// `<`
    LessThan,
    /// `<=`
    LessThanEquals,
    /// One of several values.
    In,
    /// Contains the text.
    IsSubstring,
}

/// One condition; a list's conditions are ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    /// The field compared.
    pub field: Field,
    /// How.
    pub op: Operation,
    /// The value (several for [`Operation::In`]).
    pub values: Vec<FieldValue>,
}

/// Where the previous page ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    /// The sort field's value in the last row.
    pub value: FieldValue,
    /// The last row's id.
    pub key: String,
}

/// A list request.
#[derive(Debug, Clone)]
pub struct ListQuery {
    /// ANDed conditions.
    pub predicates: Vec<Predicate>,
    /// The sort field.
    pub sort: Field,
    /// Descending?
    pub desc: bool,
    /// Continue after this row.
    pub after: Option<Cursor>,
    /// Runs only: sort by this metric (the largest value of that name any task produced)
    /// instead of `sort`. Runs without the metric come after those with it, in both directions,
    /// newest first.
    pub sort_metric: Option<String>,
    /// Rows per page.
    pub limit: u32,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// How many rows match the conditions in all.
    pub total_size: i64,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

fn push_value(b: &mut SqlBuilder, v: &FieldValue) {
    match v {
        FieldValue::Int(i) => b.push_bind(*i),
        FieldValue::Float(f) => b.push_bind(*f),
        FieldValue::Text(t) => b.push_bind(t.clone()),
        FieldValue::MetricAbsent { created_at_ms } => b.push_bind(*created_at_ms),
    };
}

fn push_conditions(b: &mut SqlBuilder, backend: Backend, table: &str, predicates: &[Predicate]) {
    for p in predicates {
        b.push(" AND ");
        // The bare column (not the NULL-folding sort expression), so indexes apply.
        let expr = format!("{table}.{}", p.field.column);
        let op = match p.op {
            Operation::Equals => "=",
            Operation::NotEquals => "!=",
            Operation::GreaterThan => ">",
            Operation::GreaterThanEquals => ">=",
            Operation::LessThan => "<",
            Operation::LessThanEquals => "<=",
            Operation::In => {
                if p.values.is_empty() {
                    b.push("1 = 0");
                    continue;
                }
                b.push(format!("{expr} IN ("));
                for (i, v) in p.values.iter().enumerate() {
                    if i > 0 {
                        b.push(", ");
                    }
                    push_value(b, v);
                }
                b.push(")");
                continue;
            }
            Operation::IsSubstring => {
                let needle = match p.values.first() {
                    Some(FieldValue::Text(t)) => t.clone(),
                    Some(FieldValue::Int(i)) => i.to_string(),
                    Some(FieldValue::Float(f)) => f.to_string(),
                    Some(FieldValue::MetricAbsent { .. }) | None => String::new(),
                };
                // Run names have a trigram index. On SQLite (an FTS5 table) three characters or
                // more without LIKE wildcards are looked up there explicitly (SQLite's LIKE is
                // case-insensitive, as is the index); PostgreSQL's planner serves ILIKE from
                // its pg_trgm index by itself.
                let plain = !needle.contains(['%', '_', '\\']);
                if backend == Backend::Sqlite
                    && table == "runs"
                    && p.field.name == "display_name"
                    && plain
                    && needle.chars().count() >= 3
                {
                    b.push("runs.rowid IN (SELECT rowid FROM runs_name_search WHERE display_name LIKE ");
                    b.push_bind(format!("%{needle}%"));
                    b.push(")");
                    continue;
                }
                b.push(format!("{expr} {} ", backend.ilike()));
                b.push_bind(contains_pattern(&needle));
                b.push(" ESCAPE '\\'");
                continue;
            }
        };
        b.push(format!("{expr} {op} "));
        match p.values.first() {
            Some(v) => push_value(b, v),
            None => {
                b.push("NULL");
            }
        }
    }
}

/// A `LIKE … ESCAPE '\\'` pattern matching text that contains `needle` literally (its `%`, `_`
/// and `\\` escaped).
pub(crate) fn contains_pattern(needle: &str) -> String {
    let escaped = needle
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The SELECT for one page sorted by a field (with one row more than the limit, to know whether
/// another page follows). `columns` is the select list. Metric sorts use [`metric_segment_sql`].
pub(crate) fn page_sql(
    backend: Backend,
    entity: Entity,
    columns: &str,
    query: &ListQuery,
) -> SqlBuilder {
    let table = entity.table();
    let key = format!("{}.{}", entity.table(), entity.key());
    let sort = query.sort.expr(table);
    let mut select = SqlBuilder::new(format!(
        "SELECT {table}.{columns}, {sort} AS page_sort_value FROM {table} WHERE 1 = 1"
    ));
    push_conditions(&mut select, backend, table, &query.predicates);
    if let Some(after) = &query.after {
        let cmp = if query.desc { "<" } else { ">" };
        select.push(format!(" AND ({sort}, {key}) {cmp} ("));
        push_value(&mut select, &after.value);
        select.push(", ");
        select.push_bind(after.key.clone());
        select.push(")");
    }
    let dir = if query.desc { "DESC" } else { "ASC" };
    select.push(format!(" ORDER BY {sort} {dir}, {key} {dir} LIMIT "));
    select.push_bind(query.limit as i64 + 1);
    select
}

/// The COUNT of the rows that match a list's conditions.
pub(crate) fn count_sql(backend: Backend, entity: Entity, predicates: &[Predicate]) -> SqlBuilder {
    let table = entity.table();
    let mut count = SqlBuilder::new(format!("SELECT COUNT(*) FROM {table} WHERE 1 = 1"));
    push_conditions(&mut count, backend, table, predicates);
    count
}

/// On PostgreSQL, the COUNT of a runs list whose conditions are all `=` or `IN` on a run's
/// experiment, storage state, namespace or state (every list the UI and kfp.Client ask for),
/// read from the per-group counts `run_count_deltas` keeps (migration 0010) instead of counting
/// every matching run. `None` when the conditions need the real count (or on SQLite, which
/// counts an index range directly from its b-tree).
pub(crate) fn group_count_sql(
    backend: Backend,
    entity: Entity,
    predicates: &[Predicate],
) -> Option<SqlBuilder> {
    if backend != Backend::Postgres || entity != Entity::Runs {
        return None;
    }
    let grouped = |p: &Predicate| {
        matches!(
            p.field.column,
            "experiment_id" | "storage_state" | "namespace" | "state"
        ) && matches!(p.op, Operation::Equals | Operation::In)
            && (p.op == Operation::In || p.values.len() == 1)
            && p.values.iter().all(|v| matches!(v, FieldValue::Text(_)))
    };
    if !predicates.iter().all(grouped) {
        return None;
    }
    let mut count = SqlBuilder::new(
        "SELECT CAST(COALESCE(SUM(n), 0) AS BIGINT) FROM run_count_deltas WHERE 1 = 1",
    );
    push_conditions(&mut count, backend, "run_count_deltas", predicates);
    Some(count)
}

/// The two parts of a runs list sorted by a metric, read one after the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricSegment {
    /// Runs that have the metric, in metric order, read from a `run_metrics` index (by name,
    /// optionally experiment and storage state, then value and run id).
    With,
    /// Runs without it, newest first (whatever the direction of the metric sort).
    Without,
}

/// The SELECT for up to `limit` runs of one [`MetricSegment`], after `after` (a cursor inside
/// that segment). Each segment is a range read of an index, so a page costs the same wherever
/// it is — unlike sorting a LEFT JOIN over every run. `page_sort_value` is the metric, NULL in
/// the second segment (whose cursor is the creation time).
pub(crate) fn metric_segment_sql(
    backend: Backend,
    metric: &str,
    segment: MetricSegment,
    query: &ListQuery,
    after: Option<&Cursor>,
    limit: i64,
) -> SqlBuilder {
    let dir = if query.desc { "DESC" } else { "ASC" };
    let cmp = if query.desc { "<" } else { ">" };
    let mut select;
    match segment {
        MetricSegment::With => {
            select = SqlBuilder::new(
                "SELECT runs.*, m.value AS page_sort_value FROM run_metrics m \
                 JOIN runs ON runs.run_id = m.run_id WHERE m.name = ",
            );
            select.push_bind(metric.to_string());
            // run_metrics carries copies of the run's experiment and storage state: conditions
            // on them are repeated there so the index read stays inside the matching runs.
            for p in &query.predicates {
                let copied = matches!(p.field.column, "experiment_id" | "storage_state");
                if let (true, Operation::Equals, [value]) = (copied, p.op, p.values.as_slice()) {
                    select.push(format!(" AND m.{} = ", p.field.column));
                    push_value(&mut select, value);
                }
            }
            push_conditions(&mut select, backend, "runs", &query.predicates);
            if let Some(after) = after {
                select.push(format!(" AND (m.value, m.run_id) {cmp} ("));
                push_value(&mut select, &after.value);
                select.push(", ");
                select.push_bind(after.key.clone());
                select.push(")");
            }
            select.push(format!(" ORDER BY m.value {dir}, m.run_id {dir} LIMIT "));
        }
        MetricSegment::Without => {
            select = SqlBuilder::new(
                "SELECT runs.*, CAST(NULL AS DOUBLE PRECISION) AS page_sort_value FROM runs WHERE NOT EXISTS \
                 (SELECT 1 FROM run_metrics m WHERE m.run_id = runs.run_id AND m.name = ",
            );
            select.push_bind(metric.to_string());
            select.push(")");
            push_conditions(&mut select, backend, "runs", &query.predicates);
            if let Some(after) = after {
                select.push(" AND (runs.created_at_ms, runs.run_id) < (");
                push_value(&mut select, &after.value);
                select.push(", ");
                select.push_bind(after.key.clone());
                select.push(")");
            }
            select.push(" ORDER BY runs.created_at_ms DESC, runs.run_id DESC LIMIT ");
        }
    }
    select.push_bind(limit);
    select
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_canonical_fields() {
        assert_eq!(
            Entity::Runs.field("name").map(|f| f.name),
            Some("display_name")
        );
        assert_eq!(
            Entity::Experiments.field("id").map(|f| f.name),
            Some("experiment_id")
        );
        assert!(Entity::Pipelines.field("state").is_none());
        assert!(Entity::Runs.field_names().contains(&"finished_at"));
    }

    #[test]
    fn keyset_sql_compares_sort_value_then_key() {
        let q = ListQuery {
            predicates: vec![Predicate {
                field: Entity::Runs.field("display_name").unwrap_or(text("x", "x")),
                op: Operation::IsSubstring,
                values: vec![FieldValue::Text("50%_off".into())],
            }],
            sort: Entity::Runs.field("finished_at").unwrap_or(text("x", "x")),
            desc: true,
            after: Some(Cursor {
                value: FieldValue::Int(5),
                key: "k".into(),
            }),
            limit: 10,
            sort_metric: None,
        };
        let select = page_sql(Backend::Sqlite, Entity::Runs, "*", &q);
        let count = count_sql(Backend::Sqlite, Entity::Runs, &q.predicates);
        let sql = select.sql().to_string();
        assert!(sql.contains("runs.display_name LIKE $1 ESCAPE"), "{sql}");
        assert!(
            sql.contains("(COALESCE(runs.finished_at_ms, 0), runs.run_id) < ("),
            "{sql}"
        );
        assert!(
            sql.ends_with(
                "ORDER BY COALESCE(runs.finished_at_ms, 0) DESC, runs.run_id DESC LIMIT $4"
            ),
            "{sql}"
        );
        assert!(!count.sql().to_string().contains("LIMIT"));
    }

    #[test]
    fn metric_segments_read_the_scoped_index_and_continue_by_creation() {
        let field = |n| Entity::Runs.field(n).unwrap_or(text("x", "x"));
        let q = ListQuery {
            predicates: vec![
                Predicate {
                    field: field("experiment_id"),
                    op: Operation::Equals,
                    values: vec![FieldValue::Text("e".into())],
                },
                Predicate {
                    field: field("storage_state"),
                    op: Operation::Equals,
                    values: vec![FieldValue::Text("AVAILABLE".into())],
                },
                Predicate {
                    field: field("state"),
                    op: Operation::Equals,
                    values: vec![FieldValue::Text("FAILED".into())],
                },
            ],
            sort: field("created_at"),
            desc: false,
            after: None,
            limit: 10,
            sort_metric: Some("acc".into()),
        };
        let after = Cursor {
            value: FieldValue::Float(0.5),
            key: "k".into(),
        };
        let with = metric_segment_sql(
            Backend::Sqlite,
            "acc",
            MetricSegment::With,
            &q,
            Some(&after),
            11,
        );
        let sql = with.sql().to_string();
        assert!(
            sql.contains("m.experiment_id = $2 AND m.storage_state = $3"),
            "{sql}"
        );
        assert!(!sql.contains("m.state"), "{sql}");
        assert!(sql.contains("runs.state = $6"), "{sql}");
        assert!(sql.contains("(m.value, m.run_id) > ($7, $8)"), "{sql}");
        assert!(
            sql.ends_with("ORDER BY m.value ASC, m.run_id ASC LIMIT $9"),
            "{sql}"
        );

        let after = Cursor {
            value: FieldValue::MetricAbsent { created_at_ms: 7 },
            key: "k".into(),
        };
        let without = metric_segment_sql(
            Backend::Sqlite,
            "acc",
            MetricSegment::Without,
            &q,
            Some(&after),
            3,
        );
        let sql = without.sql().to_string();
        assert!(sql.contains("NOT EXISTS"), "{sql}");
        assert!(
            sql.contains("(runs.created_at_ms, runs.run_id) < ($5, $6)"),
            "{sql}"
        );
        assert!(
            sql.ends_with("ORDER BY runs.created_at_ms DESC, runs.run_id DESC LIMIT $7"),
            "{sql}"
        );
    }

    #[test]
    fn metric_absent_cursor_round_trips_apart_from_numbers() {
        let c = Cursor {
            value: FieldValue::MetricAbsent { created_at_ms: 42 },
            key: "r".into(),
        };
        let text = serde_json::to_string(&c).unwrap_or_default();
        let back: Option<Cursor> = serde_json::from_str(&text).ok();
        assert_eq!(back, Some(c));
        let float: Option<FieldValue> = serde_json::from_str("3.0").ok();
        assert_eq!(float, Some(FieldValue::Float(3.0)));
    }
}
