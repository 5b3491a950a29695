//! The store conformance suite: every store behaviour, run once against SQLite (a temporary
//! file) and once against a real PostgreSQL server (started by the tests from the machine's
//! server binaries, see [`crate::testing`]). Each case is one function taking a fresh, empty
//! store; the `conformance!` macro makes a `sqlite::<case>` and a `postgres::<case>` test of it.
//!
//! Run: `cargo test -p penstock-store conformance` (both backends). PostgreSQL missing is a
//! failure, never a skip.

use crate::list::{Cursor, Entity, FieldValue, ListQuery, Operation, Predicate};
use crate::testing::TestPostgres;
use crate::{
    lease::Replica, ArtifactFilter, Backend, CatalogError, ExperimentRow, PipelineRow,
    PipelineVersionRow, RecurringRunRow, RunMeta, StorageState, Store, TokenError,
};
use jiff::Timestamp;
use penstock_engine::{
    ArtifactMap, ArtifactRole, AttemptRecord, CacheEntry, RunRecord, RunState, RunStore, RunWrite,
    RuntimeArtifact, TaskIo, TaskKind, TaskRecord, TaskState,
};
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// One PostgreSQL server for the whole test binary (each test gets its own database on it).
/// It is never dropped: its watchdog stops it when the test process ends, pass or fail.
fn postgres() -> &'static TestPostgres {
    static SERVER: OnceLock<TestPostgres> = OnceLock::new();
    SERVER.get_or_init(|| {
        TestPostgres::start().unwrap_or_else(|e| {
            panic!("the PostgreSQL half of the store conformance suite needs a server: {e}")
        })
    })
}

/// A store in a fresh database of the shared PostgreSQL server.
pub(crate) async fn postgres_store() -> Store {
    let url = postgres()
        .fresh_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let store = Store::connect(&url)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", postgres().log()));
    assert_eq!(store.backend(), Backend::Postgres);
    store
}

/// A store in a fresh SQLite file (the folder lives as long as the returned guard).
pub(crate) async fn sqlite_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("t.db"))
        .await
        .expect("open sqlite");
    assert_eq!(store.backend(), Backend::Sqlite);
    (store, dir)
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $case() {
                    let (store, _dir) = super::sqlite_store().await;
                    super::$case(&store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $case() {
                    let store = super::postgres_store().await;
                    super::$case(&store).await;
                }
            )*
        }
    };
}

conformance!(
    runs_tasks_and_history,
    attempts_replace_by_number,
    artifacts_with_lineage,
    cache_entries_newest_first,
    experiments_archive_and_delete,
    pipelines_and_versions,
    runs_with_bookkeeping,
    list_paging_and_filters,
    metric_sorts_and_scalars,
    reported_scalars_keep_the_first_value,
    tokens_authenticate_until_revoked,
    interrupted_runs_are_claimed_once,
    leases_pass_runs_between_replicas,
    recurring_runs_fire_each_tick_once,
    default_experiment_survives_reopen,
    list_totals_follow_every_change,
    group_commit_keeps_units_apart,
    engine_and_catalog_writes_interleave,
);

fn t(ms: i64) -> Timestamp {
    Timestamp::from_millisecond(1_700_000_000_000 + ms).expect("time")
}

fn run(id: &str, name: &str, created_ms: i64) -> RunRecord {
    RunRecord {
        run_id: id.to_string(),
        display_name: name.to_string(),
        pipeline_name: "p".into(),
        pipeline_spec: json!({"pipelineInfo": {"name": "p"}}),
        platform_spec: None,
        parameters: [("x".to_string(), json!(1))].into(),
        state: RunState::Pending,
        error: None,
        created_at: t(created_ms),
        started_at: None,
        finished_at: None,
        outputs: TaskIo::default(),
        timeout_seconds: Some(60),
    }
}

fn task(run_id: &str, path: &str, state: TaskState) -> TaskRecord {
    TaskRecord {
        task_id: format!("{run_id}/{path}"),
        run_id: run_id.to_string(),
        parent_task_id: None,
        path: path.to_string(),
        name: path.to_string(),
        kind: TaskKind::Container,
        state,
        iteration: None,
        created_at: t(1),
        started_at: None,
        finished_at: None,
        inputs: TaskIo::default(),
        outputs: TaskIo::default(),
        error: None,
        attempts: 0,
        cache: None,
        fingerprint: Some(format!("fp-{path}")),
        log_uri: None,
    }
}

fn experiment(id: &str, name: &str, created_ms: i64) -> ExperimentRow {
    ExperimentRow {
        experiment_id: id.to_string(),
        display_name: name.to_string(),
        description: String::new(),
        namespace: String::new(),
        storage_state: StorageState::Available,
        created_at: t(created_ms),
        last_run_created_at: None,
    }
}

fn query(entity: Entity, sort: &str, desc: bool, limit: u32) -> ListQuery {
    ListQuery {
        predicates: Vec::new(),
        sort: entity.field(sort).expect("sort field"),
        desc,
        after: None,
        sort_metric: None,
        limit,
    }
}

fn predicate(entity: Entity, field: &str, op: Operation, values: Vec<FieldValue>) -> Predicate {
    Predicate {
        field: entity.field(field).expect("field"),
        op,
        values,
    }
}

fn text(s: &str) -> FieldValue {
    FieldValue::Text(s.to_string())
}

/// Every page of a list, following cursors; the ids in order.
async fn all_pages(
    store: &Store,
    mut q: ListQuery,
    id: impl Fn(&(RunRecord, RunMeta)) -> String,
) -> (Vec<String>, i64) {
    let mut ids = Vec::new();
    let mut total = -1;
    for _ in 0..1000 {
        let page = store.list_runs_page(&q).await.expect("page");
        if total >= 0 {
            assert_eq!(page.total_size, total, "total_size changes between pages");
        }
        total = page.total_size;
        ids.extend(page.items.iter().map(&id));
        match page.next {
            Some(c) => {
                // Cursors travel through page tokens as JSON.
                let c: Cursor =
                    serde_json::from_str(&serde_json::to_string(&c).expect("json")).expect("json");
                q.after = Some(c);
            }
            None => return (ids, total),
        }
    }
    panic!("paging never ended")
}

async fn runs_tasks_and_history(store: &Store) {
    let mut r = run("0a1b2c3d-run", "first", 10);
    store.insert_run(&r).await.expect("insert run");
    store
        .insert_run(&run("0a1bffff-run", "second", 20))
        .await
        .expect("insert run");
    r.state = RunState::Running;
    r.started_at = Some(t(11));
    store.update_run(&r).await.expect("update run");
    assert!(store.update_run(&run("missing", "x", 0)).await.is_err());

    let found = store
        .find_run("0a1b2c")
        .await
        .expect("find")
        .expect("found");
    assert_eq!(found.run_id, r.run_id);
    assert_eq!(found.state, RunState::Running);
    assert_eq!(found.started_at, Some(t(11)));
    assert_eq!(found.parameters, r.parameters);
    assert_eq!(found.pipeline_spec, r.pipeline_spec);
    assert_eq!(found.timeout_seconds, Some(60));
    assert!(store.find_run("0a1b").await.is_err(), "ambiguous prefix");
    assert!(store.find_run("zzz").await.expect("find").is_none());
    // LIKE wildcards in a prefix are not wildcards.
    assert!(store.find_run("0a1b%").await.is_err());
    let newest: Vec<String> = store
        .list_runs(10)
        .await
        .expect("list")
        .into_iter()
        .map(|r| r.run_id)
        .collect();
    assert_eq!(newest, ["0a1bffff-run", "0a1b2c3d-run"]);

    let mut a = task(&r.run_id, "a", TaskState::Pending);
    store.upsert_task(&a, None).await.expect("task");
    store.upsert_task(&a, None).await.expect("same state again");
    a.state = TaskState::Running;
    a.started_at = Some(t(12));
    a.attempts = 1;
    store.upsert_task(&a, Some("started")).await.expect("task");
    store
        .upsert_task(&a, Some("still going"))
        .await
        .expect("a running task's message");
    a.state = TaskState::Succeeded;
    a.finished_at = Some(t(13));
    a.outputs
        .parameters
        .insert("answer".into(), json!("forty-two"));
    store.upsert_task(&a, None).await.expect("task");
    let mut b = task(&r.run_id, "b", TaskState::Pending);
    b.iteration = Some(3);
    b.kind = TaskKind::Iteration;
    b.parent_task_id = Some(a.task_id.clone());
    store.upsert_task(&b, None).await.expect("task");

    let got = store
        .get_task(&a.task_id)
        .await
        .expect("get")
        .expect("some");
    assert_eq!(got, a);
    let tasks = store.list_tasks(&r.run_id).await.expect("tasks");
    assert_eq!(
        tasks.iter().map(|t| t.path.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    assert_eq!(tasks[1].iteration, Some(3));
    assert_eq!(tasks[1].parent_task_id.as_deref(), Some(a.task_id.as_str()));
    let history = store.task_history(&a.task_id).await.expect("history");
    let states: Vec<(&str, Option<&str>)> = history
        .iter()
        .map(|h| (h.state.as_str(), h.message.as_deref()))
        .collect();
    assert_eq!(
        states,
        [
            ("PENDING", None),
            ("RUNNING", Some("started")),
            ("RUNNING", Some("still going")),
            ("SUCCEEDED", None)
        ]
    );
    assert!(store.get_task("nope").await.expect("get").is_none());
}

async fn attempts_replace_by_number(store: &Store) {
    let r = run("r1", "r", 0);
    store.insert_run(&r).await.expect("run");
    let a = task("r1", "a", TaskState::Running);
    store.upsert_task(&a, None).await.expect("task");
    let mut first = AttemptRecord {
        task_id: a.task_id.clone(),
        run_id: "r1".into(),
        attempt: 1,
        started_at: t(1),
        finished_at: t(2),
        state: TaskState::Failed,
        exit_code: Some(3),
        error: Some("boom".into()),
    };
    store.insert_attempt(&first).await.expect("attempt");
    let second = AttemptRecord {
        attempt: 2,
        exit_code: None,
        error: None,
        state: TaskState::Succeeded,
        ..first.clone()
    };
    store.insert_attempt(&second).await.expect("attempt");
    first.error = Some("boom, recorded again".into());
    store
        .insert_attempt(&first)
        .await
        .expect("same number replaces");
    let got = store.list_attempts(&a.task_id).await.expect("attempts");
    assert_eq!(got, vec![first, second]);
}

fn artifact(name: &str, title: &str, uri: &str) -> RuntimeArtifact {
    RuntimeArtifact {
        name: name.into(),
        schema_title: title.into(),
        schema_version: "0.0.1".into(),
        uri: uri.into(),
        metadata: [("rows".to_string(), json!(5))].into_iter().collect(),
    }
}

async fn artifacts_with_lineage(store: &Store) {
    store.insert_run(&run("r1", "r", 0)).await.expect("run");
    let producer = task("r1", "train", TaskState::Succeeded);
    let consumer = task("r1", "eval", TaskState::Running);
    store.upsert_task(&producer, None).await.expect("task");
    store.upsert_task(&consumer, None).await.expect("task");
    let model = artifact("model", "system.Model", "/a/MODEL-1");
    let data = artifact("data", "system.Dataset", "/a/data_50%_off");
    let outputs: ArtifactMap = [
        ("model".to_string(), vec![model.clone()]),
        ("data".to_string(), vec![data.clone()]),
    ]
    .into();
    store
        .record_artifacts(&producer, ArtifactRole::Output, &outputs)
        .await
        .expect("outputs");
    let inputs: ArtifactMap = [("m".to_string(), vec![model.clone()])].into();
    store
        .record_artifacts(&consumer, ArtifactRole::Input, &inputs)
        .await
        .expect("inputs");
    store
        .record_artifacts(&consumer, ArtifactRole::Input, &inputs)
        .await
        .expect("recording the same event twice is harmless");
    store
        .record_artifacts(&consumer, ArtifactRole::Input, &ArtifactMap::new())
        .await
        .expect("nothing");

    let produced = store.task_artifacts(&producer.task_id).await.expect("rows");
    assert_eq!(produced.len(), 2);
    assert!(produced
        .iter()
        .all(|a| a.role == "OUTPUT"
            && a.producer_task_id.as_deref() == Some(producer.task_id.as_str())));
    let consumed = store.task_artifacts(&consumer.task_id).await.expect("rows");
    assert_eq!(consumed.len(), 1);
    assert_eq!(consumed[0].uri, model.uri);
    assert_eq!(consumed[0].role, "INPUT");
    assert_eq!(consumed[0].io_name, "m");
    assert_eq!(consumed[0].metadata, json!({"rows": 5}));
    // Consuming does not change the producer.
    assert_eq!(
        consumed[0].producer_task_id.as_deref(),
        Some(producer.task_id.as_str())
    );

    let all = store
        .list_artifacts(&ArtifactFilter::default(), None, 10)
        .await
        .expect("list");
    assert_eq!(all.len(), 2);
    assert!(all[0].artifact_id > all[1].artifact_id, "newest first");
    let older = store
        .list_artifacts(&ArtifactFilter::default(), Some(all[0].artifact_id), 10)
        .await
        .expect("list");
    assert_eq!(older.len(), 1);
    let models = store
        .list_artifacts(
            &ArtifactFilter {
                schema_title: Some("system.Model".into()),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .expect("list");
    assert_eq!(models.len(), 1);
    // Name search is case-insensitive (ASCII) and takes wildcards literally.
    let by_name = |n: &str| ArtifactFilter {
        name_contains: Some(n.into()),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_artifacts(&by_name("MOD"), None, 10)
            .await
            .expect("list")
            .len(),
        1
    );
    assert!(store
        .list_artifacts(&by_name("%"), None, 10)
        .await
        .expect("list")
        .is_empty());
    let in_namespaces = |ns: Vec<String>| ArtifactFilter {
        namespaces: Some(ns),
        ..Default::default()
    };
    assert_eq!(
        store
            .list_artifacts(&in_namespaces(vec![String::new()]), None, 10)
            .await
            .expect("list")
            .len(),
        2
    );
    assert!(store
        .list_artifacts(&in_namespaces(vec![]), None, 10)
        .await
        .expect("list")
        .is_empty());
    let (record, events) = store
        .get_artifact(models[0].artifact_id)
        .await
        .expect("artifact");
    assert_eq!(record.uri, model.uri);
    assert_eq!(record.run_id.as_deref(), Some("r1"));
    let roles: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.role.as_str(), e.task_path.as_str()))
        .collect();
    assert_eq!(roles, [("OUTPUT", "train"), ("INPUT", "eval")]);
    assert!(matches!(
        store.get_artifact(999_999).await,
        Err(CatalogError::NotFound(_))
    ));
}

async fn cache_entries_newest_first(store: &Store) {
    assert!(store.find_cache_entry("fp").await.expect("find").is_none());
    let mut outputs = TaskIo::default();
    outputs.parameters.insert("p".into(), json!("old"));
    let old = CacheEntry {
        fingerprint: "fp".into(),
        task_id: "t1".into(),
        run_id: "r1".into(),
        outputs: outputs.clone(),
        created_at: t(1),
    };
    store.insert_cache_entry(&old).await.expect("insert");
    outputs.parameters.insert("p".into(), json!("new"));
    let new = CacheEntry {
        task_id: "t2".into(),
        run_id: "r2".into(),
        outputs,
        created_at: t(2),
        ..old.clone()
    };
    store.insert_cache_entry(&new).await.expect("insert");
    assert_eq!(store.find_cache_entry("fp").await.expect("find"), Some(new));
    let again = CacheEntry {
        created_at: t(3),
        ..old.clone()
    };
    store.insert_cache_entry(&again).await.expect("replace");
    assert_eq!(
        store.find_cache_entry("fp").await.expect("find"),
        Some(again)
    );
}

fn recurring(id: &str, experiment_id: &str) -> RecurringRunRow {
    RecurringRunRow {
        recurring_run_id: id.into(),
        display_name: format!("every minute {id}"),
        description: String::new(),
        experiment_id: experiment_id.into(),
        namespace: String::new(),
        pipeline_id: None,
        pipeline_version_id: None,
        pipeline_spec: Some(json!({"pipelineInfo": {"name": "p"}})),
        platform_spec: None,
        parameters: Default::default(),
        pipeline_root: None,
        service_account: String::new(),
        max_concurrency: 1,
        trigger: json!({"cron_schedule": {"cron": "0 * * * * *"}}),
        enabled: true,
        no_catchup: false,
        created_at: t(0),
        updated_at: t(0),
        last_tick: None,
        last_index: 0,
        last_error: None,
    }
}

async fn experiments_archive_and_delete(store: &Store) {
    store
        .insert_experiment(&experiment("e1", "Team", 5))
        .await
        .expect("insert");
    assert!(matches!(
        store.insert_experiment(&experiment("e2", "Team", 6)).await,
        Err(CatalogError::AlreadyExists(_))
    ));
    store
        .insert_experiment(&experiment("e3", "another", 7))
        .await
        .expect("insert");
    let got = store.get_experiment("e1").await.expect("get");
    assert_eq!(got, experiment("e1", "Team", 5));
    assert_eq!(
        store
            .find_experiment_by_name("Team")
            .await
            .expect("find")
            .map(|e| e.experiment_id),
        Some("e1".to_string())
    );
    let r = run("r1", "in team", 100);
    store
        .insert_run_with_meta(&r, &RunMeta::in_experiment("e1".into(), &r))
        .await
        .expect("run");
    store
        .insert_recurring_run(&recurring("rr1", "e1"))
        .await
        .expect("recurring");
    assert_eq!(
        store
            .get_experiment("e1")
            .await
            .expect("get")
            .last_run_created_at,
        Some(t(100))
    );
    // An older run does not move last_run_created_at back.
    let older = run("r0", "older", 50);
    store
        .insert_run_with_meta(&older, &RunMeta::in_experiment("e1".into(), &older))
        .await
        .expect("run");
    assert_eq!(
        store
            .get_experiment("e1")
            .await
            .expect("get")
            .last_run_created_at,
        Some(t(100))
    );

    store
        .set_experiment_storage("e1", StorageState::Archived, t(200))
        .await
        .expect("archive");
    let (_, meta) = store.get_run("r1").await.expect("run");
    assert_eq!(meta.storage_state, StorageState::Archived);
    assert!(!store.get_recurring_run("rr1").await.expect("rr").enabled);
    let newer = run("r2", "refused", 300);
    assert!(matches!(
        store
            .insert_run_with_meta(&newer, &RunMeta::in_experiment("e1".into(), &newer))
            .await,
        Err(CatalogError::FailedPrecondition(_))
    ));
    assert!(matches!(
        store
            .insert_run_with_meta(&newer, &RunMeta::in_experiment("nope".into(), &newer))
            .await,
        Err(CatalogError::NotFound(_))
    ));
    store
        .set_experiment_storage("e1", StorageState::Available, t(300))
        .await
        .expect("restore");
    assert_eq!(
        store.get_experiment("e1").await.expect("get").storage_state,
        StorageState::Available
    );

    let page = store
        .list_experiments(&query(Entity::Experiments, "created_at", false, 10))
        .await
        .expect("list");
    let names: Vec<&str> = page.items.iter().map(|e| e.display_name.as_str()).collect();
    assert_eq!(page.total_size, 3);
    assert!(names.contains(&"Default") && names.contains(&"Team"));

    store.delete_experiment("e3").await.expect("delete");
    assert!(matches!(
        store.delete_experiment("e3").await,
        Err(CatalogError::NotFound(_))
    ));
    assert!(matches!(
        store.get_experiment("e3").await,
        Err(CatalogError::NotFound(_))
    ));
}

fn pipeline(id: &str, name: &str) -> PipelineRow {
    PipelineRow {
        pipeline_id: id.into(),
        name: name.into(),
        display_name: name.into(),
        description: "d".into(),
        namespace: String::new(),
        created_at: t(1),
        tags: [("team".to_string(), json!("ml"))].into_iter().collect(),
    }
}

fn version(id: &str, pipeline_id: &str, name: &str, created_ms: i64) -> PipelineVersionRow {
    PipelineVersionRow {
        pipeline_version_id: id.into(),
        pipeline_id: pipeline_id.into(),
        name: name.into(),
        display_name: name.into(),
        description: String::new(),
        created_at: t(created_ms),
        pipeline_spec: json!({"pipelineInfo": {"name": name}}),
        platform_spec: Some(json!({"platforms": {}})),
        code_source_url: String::new(),
        tags: Default::default(),
    }
}

async fn pipelines_and_versions(store: &Store) {
    store
        .insert_pipeline(
            &pipeline("p1", "flow"),
            Some(&version("v1", "p1", "one", 1)),
        )
        .await
        .expect("pipeline");
    assert!(matches!(
        store.insert_pipeline(&pipeline("p2", "flow"), None).await,
        Err(CatalogError::AlreadyExists(_))
    ));
    // A failed insert leaves nothing half-written.
    assert!(store
        .insert_pipeline(&pipeline("p3", "other"), Some(&version("v1", "p3", "x", 1)))
        .await
        .is_err());
    assert!(matches!(
        store.get_pipeline("p3").await,
        Err(CatalogError::NotFound(_))
    ));
    assert_eq!(
        store.get_pipeline("p1").await.expect("get"),
        pipeline("p1", "flow")
    );
    assert_eq!(
        store
            .get_pipeline_by_name("", "flow")
            .await
            .expect("by name")
            .pipeline_id,
        "p1"
    );
    // Two versions in the same millisecond: the one recorded last is the latest.
    store
        .insert_version(&version("v3", "p1", "three", 5))
        .await
        .expect("version");
    store
        .insert_version(&version("v2", "p1", "two", 5))
        .await
        .expect("version");
    assert!(matches!(
        store.insert_version(&version("v9", "p1", "two", 6)).await,
        Err(CatalogError::AlreadyExists(_))
    ));
    assert!(matches!(
        store.insert_version(&version("v9", "nope", "x", 6)).await,
        Err(CatalogError::NotFound(_))
    ));
    assert_eq!(
        store
            .latest_version("p1")
            .await
            .expect("latest")
            .pipeline_version_id,
        "v2"
    );
    let v = store.get_version(Some("p1"), "v3").await.expect("get");
    assert_eq!(v, version("v3", "p1", "three", 5));
    assert!(matches!(
        store.get_version(Some("other"), "v3").await,
        Err(CatalogError::NotFound(_))
    ));
    let mut q = query(Entity::PipelineVersions, "created_at", false, 2);
    q.predicates.push(predicate(
        Entity::PipelineVersions,
        "pipeline_id",
        Operation::Equals,
        vec![text("p1")],
    ));
    let first = store.list_versions(&q).await.expect("page");
    assert_eq!(first.total_size, 3);
    assert_eq!(first.items.len(), 2);
    q.after = first.next;
    let second = store.list_versions(&q).await.expect("page");
    assert_eq!(second.items.len(), 1);
    assert!(second.next.is_none());
    let pipelines = store
        .list_pipelines(&query(Entity::Pipelines, "name", false, 10))
        .await
        .expect("pipelines");
    assert_eq!(pipelines.items.len(), 1);

    assert!(matches!(
        store.delete_pipeline("p1", false).await,
        Err(CatalogError::FailedPrecondition(_))
    ));
    store.delete_version("p1", "v1").await.expect("delete");
    assert!(matches!(
        store.delete_version("p1", "v1").await,
        Err(CatalogError::NotFound(_))
    ));
    store.delete_pipeline("p1", true).await.expect("cascade");
    assert!(matches!(
        store.get_version(None, "v2").await,
        Err(CatalogError::NotFound(_))
    ));
    store
        .insert_pipeline(&pipeline("p4", "empty"), None)
        .await
        .expect("pipeline");
    assert!(matches!(
        store.latest_version("p4").await,
        Err(CatalogError::FailedPrecondition(_))
    ));
}

async fn runs_with_bookkeeping(store: &Store) {
    store
        .insert_experiment(&experiment("e1", "E", 0))
        .await
        .expect("experiment");
    let r = run("r1", "kept", 10);
    let meta = RunMeta {
        experiment_id: "e1".into(),
        description: "about".into(),
        storage_state: StorageState::Available,
        namespace: "team-a".into(),
        pipeline_id: Some("p".into()),
        pipeline_version_id: Some("v".into()),
        pipeline_root: Some("/root".into()),
        service_account: "sa".into(),
        recurring_run_id: Some("rr".into()),
        scheduled_at: Some(t(9)),
    };
    store.insert_run_with_meta(&r, &meta).await.expect("run");
    let (got, got_meta) = store.get_run("r1").await.expect("get");
    assert_eq!(got, r);
    assert_eq!(got_meta, meta);
    store
        .set_run_storage("r1", StorageState::Archived)
        .await
        .expect("archive");
    assert!(matches!(
        store.set_run_storage("nope", StorageState::Archived).await,
        Err(CatalogError::NotFound(_))
    ));
    // A run inserted through the engine lands in the Default experiment.
    let plain = run("r2", "plain", 20);
    store.insert_run(&plain).await.expect("run");
    let (_, plain_meta) = store.get_run("r2").await.expect("get");
    assert_eq!(plain_meta.experiment_id, store.default_experiment_id());
    let recent = store
        .recent_runs_by_experiment(&["e1".into(), store.default_experiment_id().into()], 5)
        .await
        .expect("recent");
    // r1 is archived.
    assert_eq!(
        recent
            .iter()
            .map(|(_, id, _, _)| id.as_str())
            .collect::<Vec<_>>(),
        ["r2"]
    );

    // Deleting a run takes its tasks, attempts, lineage and cache entries along.
    let a = task("r1", "a", TaskState::Succeeded);
    store.upsert_task(&a, None).await.expect("task");
    let outputs: ArtifactMap = [(
        "o".to_string(),
        vec![artifact("o", "system.Artifact", "/x")],
    )]
    .into();
    store
        .record_artifacts(&a, ArtifactRole::Output, &outputs)
        .await
        .expect("artifact");
    store
        .insert_cache_entry(&CacheEntry {
            fingerprint: "f".into(),
            task_id: a.task_id.clone(),
            run_id: "r1".into(),
            outputs: TaskIo::default(),
            created_at: t(1),
        })
        .await
        .expect("cache");
    store.delete_run("r1").await.expect("delete");
    assert!(matches!(
        store.get_run("r1").await,
        Err(CatalogError::NotFound(_))
    ));
    assert!(store.list_tasks("r1").await.expect("tasks").is_empty());
    assert!(store.find_cache_entry("f").await.expect("cache").is_none());
    assert!(store
        .list_artifacts(&ArtifactFilter::default(), None, 10)
        .await
        .expect("artifacts")
        .is_empty());
    assert!(matches!(
        store.delete_run("r1").await,
        Err(CatalogError::NotFound(_))
    ));
}

async fn list_paging_and_filters(store: &Store) {
    store
        .insert_experiment(&experiment("e1", "E", 0))
        .await
        .expect("experiment");
    // Names mix cases so that ordering must be byte-wise (as SQLite's) on both backends.
    let names = ["alpha", "Beta", "gamma 50%_off", "Delta", "epsilon"];
    for i in 0..25 {
        let mut r = run(
            &format!("run-{i:02}"),
            &format!("{} {i}", names[i % 5]),
            1000 + i as i64 * 10,
        );
        if i % 4 == 0 {
            r.state = RunState::Failed;
            r.finished_at = Some(t(2000 + i as i64));
        }
        let mut meta = RunMeta::in_experiment("e1".into(), &r);
        meta.namespace = if i % 2 == 0 { "even" } else { "odd" }.into();
        store.insert_run_with_meta(&r, &meta).await.expect("run");
    }
    let id = |r: &(RunRecord, RunMeta)| r.0.run_id.clone();

    // Newest first, in pages of 7, with a stable total.
    let (ids, total) = all_pages(store, query(Entity::Runs, "created_at", true, 7), id).await;
    assert_eq!(total, 25);
    let expected: Vec<String> = (0..25).rev().map(|i| format!("run-{i:02}")).collect();
    assert_eq!(ids, expected);

    // Sorted by name: byte order, upper case first.
    let (ids, _) = all_pages(store, query(Entity::Runs, "display_name", false, 6), id).await;
    let mut by_name: Vec<(String, String)> = (0..25)
        .map(|i| (format!("{} {i}", names[i % 5]), format!("run-{i:02}")))
        .collect();
    by_name.sort();
    assert_eq!(
        ids,
        by_name.into_iter().map(|(_, id)| id).collect::<Vec<_>>()
    );

    // A nullable sort field (finished_at): runs without one first when ascending.
    let (ids, _) = all_pages(store, query(Entity::Runs, "finished_at", false, 4), id).await;
    assert_eq!(ids.len(), 25);
    assert_eq!(ids.last().map(String::as_str), Some("run-24"));

    let filtered = |predicates: Vec<Predicate>| {
        let mut q = query(Entity::Runs, "created_at", true, 100);
        q.predicates = predicates;
        q
    };
    let count = |q: ListQuery| async move {
        let page = store.list_runs_page(&q).await.expect("page");
        assert_eq!(page.items.len() as i64, page.total_size);
        page.total_size
    };
    let p = |f: &str, op, v| predicate(Entity::Runs, f, op, v);
    assert_eq!(
        count(filtered(vec![p(
            "state",
            Operation::Equals,
            vec![text("FAILED")]
        )]))
        .await,
        7
    );
    assert_eq!(
        count(filtered(vec![p(
            "state",
            Operation::NotEquals,
            vec![text("FAILED")]
        )]))
        .await,
        18
    );
    assert_eq!(
        count(filtered(vec![p(
            "namespace",
            Operation::In,
            vec![text("odd"), text("none")]
        )]))
        .await,
        12
    );
    assert_eq!(
        count(filtered(vec![p("namespace", Operation::In, vec![])])).await,
        0
    );
    let created = t(1000 + 200).as_millisecond();
    assert_eq!(
        count(filtered(vec![p(
            "created_at",
            Operation::GreaterThanEquals,
            vec![FieldValue::Int(created)]
        )]))
        .await,
        5
    );
    assert_eq!(
        count(filtered(vec![p(
            "created_at",
            Operation::LessThan,
            vec![FieldValue::Int(created)]
        )]))
        .await,
        20
    );
    // Substring: the trigram path (3+ plain characters), case-insensitive.
    assert_eq!(
        count(filtered(vec![p(
            "display_name",
            Operation::IsSubstring,
            vec![text("ALPHA")]
        )]))
        .await,
        5
    );
    // Short and wildcard-bearing needles match literally.
    assert_eq!(
        count(filtered(vec![p(
            "display_name",
            Operation::IsSubstring,
            vec![text("a 1")]
        )]))
        .await,
        7
    );
    assert_eq!(
        count(filtered(vec![p(
            "display_name",
            Operation::IsSubstring,
            vec![text("50%_")]
        )]))
        .await,
        5
    );
    assert_eq!(
        count(filtered(vec![p(
            "display_name",
            Operation::IsSubstring,
            vec![text("%")]
        )]))
        .await,
        5
    );
    // Filters combine with paging.
    let mut q = filtered(vec![
        p("experiment_id", Operation::Equals, vec![text("e1")]),
        p("storage_state", Operation::Equals, vec![text("AVAILABLE")]),
        p("namespace", Operation::Equals, vec![text("even")]),
    ]);
    q.limit = 4;
    let (ids, total) = all_pages(store, q, id).await;
    assert_eq!(total, 13);
    assert_eq!(ids.len(), 13);
    // Rows inserted while paging do not shift later pages.
    let mut q = query(Entity::Runs, "created_at", true, 10);
    let first = store.list_runs_page(&q).await.expect("page");
    let newest = run("run-new", "newest", 99_999);
    store.insert_run(&newest).await.expect("run");
    q.after = first.next;
    let second = store.list_runs_page(&q).await.expect("page");
    assert_eq!(second.items[0].0.run_id, "run-14");
}

fn scored_task(run_id: &str, path: &str, score: f64) -> TaskRecord {
    let mut task = task(run_id, path, TaskState::Succeeded);
    task.outputs.parameters.insert("score".into(), json!(score));
    task.outputs
        .parameters
        .insert("label".into(), json!("not a number"));
    task
}

async fn metric_sorts_and_scalars(store: &Store) {
    store
        .insert_experiment(&experiment("e1", "E", 0))
        .await
        .expect("experiment");
    for i in 0..12 {
        let r = run(&format!("run-{i:02}"), "r", i * 10);
        let mut meta = RunMeta::in_experiment("e1".into(), &r);
        meta.namespace = "team".into();
        store.insert_run_with_meta(&r, &meta).await.expect("run");
        if i % 2 == 0 {
            // Two tasks: the run's metric is the larger value.
            let score = (i as f64) / 4.0;
            store
                .upsert_task(&scored_task(&r.run_id, "a", score), None)
                .await
                .expect("task");
            store
                .upsert_task(&scored_task(&r.run_id, "b", score - 100.0), None)
                .await
                .expect("task");
        }
    }
    // A task that succeeds again with another value replaces its scalar.
    store
        .upsert_task(&scored_task("run-00", "a", 50.0), None)
        .await
        .expect("task");

    let mut q = query(Entity::Runs, "created_at", true, 4);
    q.sort_metric = Some("score".into());
    let id = |r: &(RunRecord, RunMeta)| r.0.run_id.clone();
    let (ids, total) = all_pages(store, q.clone(), id).await;
    assert_eq!(total, 12);
    assert_eq!(
        ids,
        [
            "run-00", "run-10", "run-08", "run-06", "run-04", "run-02", // scored, desc
            "run-11", "run-09", "run-07", "run-05", "run-03",
            "run-01", // unscored, newest first
        ]
    );
    q.desc = false;
    let (ids, _) = all_pages(store, q.clone(), id).await;
    assert_eq!(
        ids,
        [
            "run-02", "run-04", "run-06", "run-08", "run-10", "run-00", "run-11", "run-09",
            "run-07", "run-05", "run-03", "run-01",
        ]
    );
    // Archiving a run moves its metric copy along (the scoped index follows the run).
    store
        .set_run_storage("run-10", StorageState::Archived)
        .await
        .expect("archive");
    q.desc = true;
    q.predicates.push(predicate(
        Entity::Runs,
        "storage_state",
        Operation::Equals,
        vec![text("AVAILABLE")],
    ));
    q.predicates.push(predicate(
        Entity::Runs,
        "experiment_id",
        Operation::Equals,
        vec![text("e1")],
    ));
    let (ids, total) = all_pages(store, q, id).await;
    assert_eq!(total, 11);
    assert_eq!(
        &ids[..5],
        ["run-00", "run-08", "run-06", "run-04", "run-02"]
    );

    assert_eq!(
        store.scalar_names().await.expect("names"),
        vec!["score".to_string()]
    );
    assert_eq!(
        store
            .scalar_names_in(&["team".into()])
            .await
            .expect("names"),
        vec!["score".to_string()]
    );
    assert!(store
        .scalar_names_in(&["other".into()])
        .await
        .expect("names")
        .is_empty());
    assert!(store.scalar_names_in(&[]).await.expect("names").is_empty());
    let scalars = store
        .run_scalars(&["run-02".into(), "run-00".into()])
        .await
        .expect("scalars");
    assert_eq!(
        scalars,
        vec![
            ("run-00".into(), "a".into(), "score".into(), 50.0),
            ("run-00".into(), "b".into(), "score".into(), -100.0),
            ("run-02".into(), "a".into(), "score".into(), 0.5),
            ("run-02".into(), "b".into(), "score".into(), 0.5 - 100.0),
        ]
    );
    assert!(store.run_scalars(&[]).await.expect("scalars").is_empty());
}

/// KFP v1 metrics: a step's metrics file keeps its formats, a reported metric is recorded once
/// per (run, step, name) and counts as the run's metric like any scalar.
async fn reported_scalars_keep_the_first_value(store: &Store) {
    use crate::scalars::ScalarRow;
    let r = run("run-v1", "r", 0);
    store.insert_run(&r).await.expect("run");
    let mut t = task("run-v1", "train", TaskState::Succeeded);
    let mut metrics = artifact("mlpipeline-metrics", "system.Metrics", "/m");
    metrics.metadata = penstock_engine::v1_metrics::metadata_from_text(
        r#"{"metrics": [{"name": "acc", "numberValue": 0.5, "format": "PERCENTAGE"}]}"#,
    )
    .expect("metrics");
    t.outputs
        .artifacts
        .insert("mlpipeline-metrics".into(), vec![metrics]);
    store.upsert_task(&t, None).await.expect("task");
    let row = |name: &str, value: f64| ScalarRow {
        run_id: "run-v1".into(),
        task_path: "train".into(),
        name: name.into(),
        value,
        format: Some("RAW".into()),
    };
    let recorded = store
        .report_scalars(&[row("loss", 2.0), row("loss", 3.0), row("acc", 0.9)])
        .await
        .expect("report");
    assert_eq!(recorded, vec![true, false, false]);
    let rows = store
        .scalar_rows(&["run-v1".into(), "missing".into()])
        .await
        .expect("rows");
    assert_eq!(
        rows,
        vec![
            ScalarRow {
                format: Some("PERCENTAGE".into()),
                ..row("acc", 0.5)
            },
            row("loss", 2.0),
        ]
    );
    assert!(store.scalar_rows(&[]).await.expect("rows").is_empty());
    let names = store.scalar_names().await.expect("names");
    assert!(names.contains(&"loss".to_string()), "{names:?}");
}

async fn tokens_authenticate_until_revoked(store: &Store) {
    let grant: BTreeSet<String> = ["team-a".to_string()].into();
    let (record, token) = store.create_token("ci", Some(&grant)).await.expect("token");
    assert!(token.starts_with(crate::tokens::TOKEN_PREFIX));
    let found = store
        .authenticate_token(&token)
        .await
        .expect("auth")
        .expect("valid");
    assert_eq!(found.token_id, record.token_id);
    assert_eq!(found.namespaces, Some(grant));
    assert!(store
        .authenticate_token("pst_wrong")
        .await
        .expect("auth")
        .is_none());
    // Only the digest is in the database.
    let stored: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_tokens WHERE token_sha256 = $1")
        .bind(&token)
        .fetch_one(&store.pool)
        .await
        .expect("count");
    assert_eq!(stored, 0);
    assert!(matches!(
        store.create_token("ci", None).await,
        Err(TokenError::NameTaken(_))
    ));
    let (_, all_token) = store.create_token("admin", None).await.expect("token");
    assert_eq!(
        store
            .authenticate_token(&all_token)
            .await
            .expect("auth")
            .expect("valid")
            .namespaces,
        None
    );
    let revoked = store.revoke_token("ci").await.expect("revoke");
    assert!(revoked.revoked_at.is_some());
    store.revoke_token("ci").await.expect("revoking twice");
    assert!(store
        .authenticate_token(&token)
        .await
        .expect("auth")
        .is_none());
    assert!(matches!(
        store.revoke_token("nope").await,
        Err(TokenError::NotFound(_))
    ));
    assert_eq!(store.list_tokens().await.expect("list").len(), 2);
}

/// Sets a run's recorded owner process, as a Penstock from before run leases recorded it.
async fn set_owner(store: &Store, run_id: &str, pid: Option<i64>) {
    sqlx::query(
        "UPDATE runs SET owner_pid = $1, owner_replica = NULL, owner_host = NULL,
         lease_until_ms = NULL WHERE run_id = $2",
    )
    .bind(pid)
    .bind(run_id)
    .execute(&store.writer)
    .await
    .expect("owner");
}

async fn interrupted_runs_are_claimed_once(store: &Store) {
    const DEAD: i64 = 999_999_001;
    const LIVE: i64 = 999_999_002;
    for (id, state, owner) in [
        ("dead-1", RunState::Running, Some(DEAD)),
        ("dead-2", RunState::Pending, Some(DEAD)),
        ("orphan", RunState::Running, None),
        ("live", RunState::Running, Some(LIVE)),
        ("done", RunState::Succeeded, Some(DEAD)),
    ] {
        let mut r = run(id, id, 0);
        r.state = state;
        store.insert_run(&r).await.expect("run");
        set_owner(store, id, owner).await;
    }
    store
        .insert_run(&run("mine", "mine", 0))
        .await
        .expect("run");
    let alive = |p: i64| p == LIVE;
    assert_eq!(
        store
            .claim_run("live", alive)
            .await
            .expect("claim")
            .map(|o| o.replica),
        Some(format!("pid {LIVE}"))
    );

    // Two claimers at once (each on its own connection) never take the same run.
    let other = store.as_replica(Replica::new("other-machine", 4242));
    let (a, b) = tokio::join!(
        store.claim_interrupted_runs(alive),
        other.claim_interrupted_runs(alive)
    );
    let (a, b) = (a.expect("claim"), b.expect("claim"));
    let mut claimed: Vec<String> = a.iter().chain(&b).cloned().collect();
    claimed.sort();
    assert_eq!(claimed, ["dead-1", "dead-2", "orphan"]);
    assert!(store
        .claim_interrupted_runs(alive)
        .await
        .expect("claim")
        .is_empty());
    // The winner now owns dead-1: claiming it again is a no-op success there, and it records.
    let store = if a.iter().any(|id| id == "dead-1") {
        store
    } else {
        &other
    };
    assert_eq!(store.claim_run("dead-1", alive).await.expect("claim"), None);

    let mut t1 = task("dead-1", "a", TaskState::Running);
    t1.started_at = Some(t(1));
    store.upsert_task(&t1, None).await.expect("task");
    store
        .upsert_task(&task("dead-1", "b", TaskState::Succeeded), None)
        .await
        .expect("task");
    store
        .fail_run("dead-1", "its server died", t(5))
        .await
        .expect("fail");
    let (r, _) = store.get_run("dead-1").await.expect("run");
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(r.error.as_deref(), Some("its server died"));
    assert_eq!(r.finished_at, Some(t(5)));
    let tasks = store.list_tasks("dead-1").await.expect("tasks");
    assert_eq!(tasks[0].state, TaskState::Failed);
    assert_eq!(tasks[1].state, TaskState::Succeeded);
    let history = store.task_history(&t1.task_id).await.expect("history");
    assert_eq!(
        history.last().map(|h| h.message.as_deref()),
        Some(Some("its server died"))
    );
}

async fn recurring_runs_fire_each_tick_once(store: &Store) {
    store
        .insert_experiment(&experiment("e1", "E", 0))
        .await
        .expect("experiment");
    assert!(matches!(
        store.insert_recurring_run(&recurring("rr0", "nope")).await,
        Err(CatalogError::NotFound(_))
    ));
    store
        .insert_recurring_run(&recurring("rr1", "e1"))
        .await
        .expect("insert");
    store
        .insert_recurring_run(&recurring("rr2", "e1"))
        .await
        .expect("insert");
    let got = store.get_recurring_run("rr1").await.expect("get");
    assert_eq!(got, recurring("rr1", "e1"));
    store
        .set_recurring_run_enabled("rr2", false, t(1))
        .await
        .expect("disable");
    assert!(matches!(
        store.set_recurring_run_enabled("nope", false, t(1)).await,
        Err(CatalogError::NotFound(_))
    ));
    let enabled: Vec<String> = store
        .enabled_recurring_runs()
        .await
        .expect("enabled")
        .into_iter()
        .map(|r| r.recurring_run_id)
        .collect();
    assert_eq!(enabled, ["rr1"]);
    let page = store
        .list_recurring_runs(&query(Entity::RecurringRuns, "created_at", false, 10))
        .await
        .expect("list");
    assert_eq!(page.total_size, 2);

    let r = run("tick-1", "tick", 60_000);
    let mut meta = RunMeta::in_experiment("e1".into(), &r);
    meta.recurring_run_id = Some("rr1".into());
    assert!(store
        .record_tick("rr1", t(60_000), 1, Ok((&r, &meta)))
        .await
        .expect("tick"));
    // The same tick again (another scheduler, a restart) records nothing.
    let again = run("tick-1b", "tick", 60_000);
    assert!(!store
        .record_tick("rr1", t(60_000), 1, Ok((&again, &meta)))
        .await
        .expect("tick"));
    assert!(matches!(
        store.get_run("tick-1b").await,
        Err(CatalogError::NotFound(_))
    ));
    assert!(store
        .record_tick("rr1", t(120_000), 2, Err("no version"))
        .await
        .expect("tick"));
    // A disabled schedule does not fire.
    assert!(!store
        .record_tick("rr2", t(60_000), 1, Err("x"))
        .await
        .expect("tick"));
    let got = store.get_recurring_run("rr1").await.expect("get");
    assert_eq!(got.last_tick, Some(t(120_000)));
    assert_eq!(got.last_index, 2);
    assert_eq!(got.last_error.as_deref(), Some("no version"));
    assert_eq!(store.active_runs_of("rr1").await.expect("active"), 1);
    store.delete_recurring_run("rr1").await.expect("delete");
    assert!(matches!(
        store.delete_recurring_run("rr1").await,
        Err(CatalogError::NotFound(_))
    ));
    // Its runs stay.
    assert!(store.get_run("tick-1").await.is_ok());
}

async fn default_experiment_survives_reopen(store: &Store) {
    let id = store.default_experiment_id().to_string();
    assert_eq!(
        store
            .get_experiment(&id)
            .await
            .expect("default")
            .display_name,
        "Default"
    );
    let reopened = Store {
        default_experiment_id: crate::catalog::ensure_default_experiment(&store.writer)
            .await
            .expect("ensure"),
        ..store.clone()
    };
    assert_eq!(reopened.default_experiment_id(), id);
    store.analyze().await.expect("analyze");
}

/// Opening PostgreSQL where nothing listens fails with an error that names the URL but not the
/// password.
#[tokio::test]
async fn an_unreachable_postgres_is_named_without_its_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let url = format!("postgres://penstock:hunter2@127.0.0.1:{port}/penstock");
    let e = Store::connect(&url).await.expect_err("nothing listens");
    let text = e.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(
        text.contains(&format!(
            "postgres://penstock:***@127.0.0.1:{port}/penstock"
        )),
        "{text}"
    );
}

/// Two stores opened on one PostgreSQL database at once (two servers starting together) both
/// migrate and agree on the Default experiment.
#[tokio::test]
async fn two_postgres_stores_open_together() {
    let url = postgres()
        .fresh_database()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (a, b) = tokio::join!(Store::connect(&url), Store::connect(&url));
    let (a, b) = (a.expect("first"), b.expect("second"));
    assert_eq!(a.default_experiment_id(), b.default_experiment_id());
}

/// The total of a runs list filtered by experiment, storage state, namespace and state (served
/// from per-group counts on PostgreSQL) follows inserts, state changes, archiving, moves and
/// deletions, before and after the counts are folded.
async fn list_totals_follow_every_change(store: &Store) {
    store
        .insert_experiment(&experiment("e1", "E", 0))
        .await
        .expect("experiment");
    store
        .insert_experiment(&experiment("e2", "F", 0))
        .await
        .expect("experiment");
    let total = |predicates: Vec<(&'static str, Operation, Vec<&'static str>)>| async move {
        let mut q = query(Entity::Runs, "created_at", true, 1);
        q.predicates = predicates
            .into_iter()
            .map(|(f, op, v)| predicate(Entity::Runs, f, op, v.into_iter().map(text).collect()))
            .collect();
        let fast = store.list_runs_page(&q).await.expect("page").total_size;
        let counted: i64 = crate::list::count_sql(store.backend(), Entity::Runs, &q.predicates)
            .build_scalar()
            .fetch_one(&store.pool)
            .await
            .expect("count");
        assert_eq!(fast, counted, "total_size against COUNT(*)");
        fast
    };
    for i in 0..6 {
        let mut r = run(&format!("r{i}"), "r", i);
        r.state = if i % 2 == 0 {
            RunState::Running
        } else {
            RunState::Succeeded
        };
        let mut meta = RunMeta::in_experiment(if i < 4 { "e1" } else { "e2" }.into(), &r);
        meta.namespace = if i % 3 == 0 { "a" } else { "b" }.into();
        store.insert_run_with_meta(&r, &meta).await.expect("run");
    }
    let check = |expected: [i64; 5]| async move {
        let got = [
            total(vec![]).await,
            total(vec![("experiment_id", Operation::Equals, vec!["e1"])]).await,
            total(vec![
                ("storage_state", Operation::Equals, vec!["AVAILABLE"]),
                ("state", Operation::In, vec!["RUNNING", "PENDING"]),
            ])
            .await,
            total(vec![("namespace", Operation::Equals, vec!["a"])]).await,
            total(vec![("state", Operation::In, vec![])]).await,
        ];
        assert_eq!(got, expected);
    };
    // Six runs plus none in Default; e1 has four; three RUNNING; namespace a: r0, r3.
    check([6, 4, 3, 2, 0]).await;
    store.analyze().await.expect("fold");
    check([6, 4, 3, 2, 0]).await;
    let (mut r0, _) = store.get_run("r0").await.expect("run");
    r0.state = RunState::Succeeded;
    store.update_run(&r0).await.expect("update");
    store.update_run(&r0).await.expect("same state again");
    check([6, 4, 2, 2, 0]).await;
    store
        .set_experiment_storage("e1", StorageState::Archived, t(1))
        .await
        .expect("archive");
    // r2 (RUNNING, e1) is archived now; r4 (RUNNING, e2) is still available.
    check([6, 4, 1, 2, 0]).await;
    store.delete_run("r3").await.expect("delete");
    check([5, 3, 1, 1, 0]).await;
    store.analyze().await.expect("fold");
    check([5, 3, 1, 1, 0]).await;
    store.fail_run("r4", "gone", t(2)).await.expect("fail");
    check([5, 3, 0, 1, 0]).await;
}

/// Forces a run's lease to have run out (as if its owner stopped renewing it long ago).
async fn expire_lease(store: &Store, run_id: &str) {
    sqlx::query("UPDATE runs SET lease_until_ms = 0 WHERE run_id = $1")
        .bind(run_id)
        .execute(&store.writer)
        .await
        .expect("expire");
}

async fn leases_pass_runs_between_replicas(store: &Store) {
    const DEAD: i64 = 999_999_003;
    let a = store.as_replica(Replica::new("machine-a", 101));
    let b = store.as_replica(Replica::new("machine-b", 102));
    let alive = |p: i64| p != DEAD;
    a.insert_run(&run("leased", "leased", 0))
        .await
        .expect("run");

    // A fresh lease keeps the run with its owner, wherever the claimer is.
    let owner = b
        .claim_run("leased", alive)
        .await
        .expect("claim")
        .expect("owned");
    assert_eq!(owner.replica, a.replica().id);
    assert!(owner.lease_left_ms.is_some_and(|ms| ms > 0 && ms <= 15_000));
    assert!(b
        .claim_interrupted_runs(alive)
        .await
        .expect("claim")
        .is_empty());
    let executing = |id: &str| vec![id.to_string()];
    let owned = a.renew_leases(&executing("leased")).await.expect("renew");
    assert_eq!(owned.len(), 1);
    assert_eq!(owned[0].run_id, "leased");
    assert!(!owned[0].cancel_requested);

    // A terminate asked elsewhere reaches the owner through its next renewal.
    assert!(b.request_cancel("leased").await.expect("cancel"));
    assert!(a.renew_leases(&executing("leased")).await.expect("renew")[0].cancel_requested);

    // Once the lease ran out another replica takes the run, and the old owner is fenced off.
    expire_lease(store, "leased").await;
    assert_eq!(
        b.claim_interrupted_runs(alive).await.expect("claim"),
        ["leased"]
    );
    assert!(a
        .renew_leases(&executing("leased"))
        .await
        .expect("renew")
        .is_empty());
    let mut r = run("leased", "leased", 0);
    r.state = RunState::Running;
    let lost = a.update_run(&r).await.expect_err("fenced");
    assert!(lost.0.contains("lost its lease"), "{lost}");
    let fenced = a
        .upsert_task(&task("leased", "late", TaskState::Succeeded), None)
        .await
        .expect_err("fenced");
    assert!(fenced.0.contains(&b.replica().id), "{fenced}");
    // Attempts, artifacts and cache entries (which other runs reuse) are fenced too.
    let attempt = AttemptRecord {
        task_id: "leased/late".into(),
        run_id: "leased".into(),
        attempt: 1,
        started_at: t(1),
        finished_at: t(2),
        state: TaskState::Succeeded,
        exit_code: Some(0),
        error: None,
    };
    assert!(a.insert_attempt(&attempt).await.is_err());
    let entry = CacheEntry {
        fingerprint: "late".into(),
        task_id: "leased/late".into(),
        run_id: "leased".into(),
        outputs: TaskIo::default(),
        created_at: t(1),
    };
    assert!(a.insert_cache_entry(&entry).await.is_err());
    assert!(store
        .find_cache_entry("late")
        .await
        .expect("find")
        .is_none());
    assert!(a.fail_run("leased", "late", t(3)).await.is_err());
    assert!(store.list_tasks("leased").await.expect("tasks").is_empty());
    b.update_run(&r).await.expect("the new owner records");
    b.upsert_task(&task("leased", "t", TaskState::Succeeded), None)
        .await
        .expect("task");
    assert_eq!(
        b.renew_leases(&executing("leased"))
            .await
            .expect("renew")
            .len(),
        1
    );
    // A run its owner no longer executes is not renewed; once its lease runs out the owner
    // itself claims it again (to resume it).
    assert!(b.renew_leases(&[]).await.expect("renew").is_empty());
    assert!(b
        .claim_interrupted_runs(alive)
        .await
        .expect("claim")
        .is_empty());
    expire_lease(store, "leased").await;
    assert_eq!(
        b.claim_interrupted_runs(alive).await.expect("claim"),
        ["leased"]
    );

    // On the owner's machine a dead owner process is known at once, before its lease runs out;
    // from another machine only the lease tells.
    let gone = store.as_replica(Replica::new("machine-b", DEAD));
    gone.insert_run(&run("local", "local", 0))
        .await
        .expect("run");
    let c = store.as_replica(Replica::new("machine-c", 103));
    assert!(c.claim_run("local", alive).await.expect("claim").is_some());
    assert_eq!(b.claim_run("local", alive).await.expect("claim"), None);
    assert_eq!(
        b.run_owner("local").await.expect("owner"),
        Some(b.replica().id.clone())
    );

    // A finished run executed again (retry) is adopted by the replica that retries it.
    r.state = RunState::Failed;
    b.update_run(&r).await.expect("failed");
    a.adopt_finished_run("leased").await.expect("adopt");
    r.state = RunState::Running;
    a.update_run(&r).await.expect("the adopter records");
    assert!(
        b.adopt_finished_run("leased").await.is_err(),
        "unfinished and A's"
    );
}

/// Writes committed together by the run writer stay independent: a fenced run's writes are
/// refused while another run's in the same group are recorded, and a unit whose statement
/// fails records none of its writes while the others are recorded.
async fn group_commit_keeps_units_apart(store: &Store) {
    for id in ["g-ours", "g-theirs"] {
        store.insert_run(&run(id, id, 0)).await.expect("run");
    }
    sqlx::query("UPDATE runs SET owner_replica = 'elsewhere:1:x' WHERE run_id = 'g-theirs'")
        .execute(&store.writer)
        .await
        .expect("hand the run to another replica");
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..30 {
        for run_id in ["g-ours", "g-theirs"] {
            let store = store.clone();
            let task = task(run_id, &format!("t{i}"), TaskState::Pending);
            writes.spawn(async move {
                (
                    task.run_id.clone(),
                    store.upsert_task(&task, Some("created")).await,
                )
            });
        }
    }
    // One unit whose second write breaks a foreign key: neither of its writes may stay.
    let broken = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .write_all(vec![
                    RunWrite::Task {
                        task: task("g-ours", "half", TaskState::Pending),
                        message: Some("created".into()),
                    },
                    RunWrite::Attempt(AttemptRecord {
                        task_id: "no-such-task".into(),
                        run_id: "g-ours".into(),
                        attempt: 1,
                        started_at: t(1),
                        finished_at: t(2),
                        state: TaskState::Failed,
                        exit_code: Some(1),
                        error: None,
                    }),
                ])
                .await
        })
    };
    while let Some(done) = writes.join_next().await {
        let (run_id, outcome) = done.expect("join");
        match run_id.as_str() {
            "g-ours" => outcome.expect("our run's writes are recorded"),
            _ => {
                let refused = outcome.expect_err("the other replica's run is fenced");
                assert!(refused.0.contains("elsewhere:1:x"), "{refused}");
            }
        }
    }
    assert!(broken.await.expect("join").is_err());
    let ours = store.list_tasks("g-ours").await.expect("tasks");
    assert_eq!(
        ours.len(),
        30,
        "{:?}",
        ours.iter().map(|t| &t.path).collect::<Vec<_>>()
    );
    assert!(ours.iter().all(|t| t.path != "half"));
    assert!(store
        .list_tasks("g-theirs")
        .await
        .expect("tasks")
        .is_empty());
    // Each recorded task has exactly its one history entry.
    let history = store.task_history("g-ours/t7").await.expect("history");
    assert_eq!(history.len(), 1, "{history:?}");
}

/// The engine's writes (the run writer's own connection) and the catalog's write transactions
/// that read before writing (the writer pool's connection) at once: on SQLite both begin
/// `IMMEDIATE`, so one waits for the other instead of failing on a stale snapshot.
async fn engine_and_catalog_writes_interleave(store: &Store) {
    store
        .insert_run(&run("i-busy", "i-busy", 0))
        .await
        .expect("run");
    for i in 0..40 {
        let id = format!("i-fail-{i}");
        store.insert_run(&run(&id, &id, i)).await.expect("run");
    }
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..200 {
        let store = store.clone();
        writes.spawn(async move {
            let task = task("i-busy", &format!("t{i}"), TaskState::Pending);
            store
                .upsert_task(&task, Some("created"))
                .await
                .map_err(|e| format!("task write {i}: {e}"))
        });
    }
    for i in 0..40 {
        let store = store.clone();
        writes.spawn(async move {
            // Reads the run's owner, then writes.
            store
                .fail_run(&format!("i-fail-{i}"), "stopped by the test", t(5))
                .await
                .map_err(|e| format!("fail_run {i}: {e}"))
        });
    }
    while let Some(done) = writes.join_next().await {
        done.expect("join").unwrap_or_else(|e| panic!("{e}"));
    }
    assert_eq!(store.list_tasks("i-busy").await.expect("tasks").len(), 200);
    for i in 0..40 {
        let failed = store.get_run(&format!("i-fail-{i}")).await.expect("run").0;
        assert_eq!(failed.state, RunState::Failed, "{failed:?}");
    }
}

/// The run writer keeps its PostgreSQL connection between groups; when the server closes it
/// (a restart, an idle timeout), the next write is made on a fresh connection instead of
/// failing.
#[tokio::test]
async fn a_writer_connection_closed_by_postgres_is_replaced() {
    let store = postgres_store().await;
    store
        .insert_run(&run("k-run", "k-run", 0))
        .await
        .expect("run");
    let first = task("k-run", "before", TaskState::Pending);
    store
        .upsert_task(&first, Some("created"))
        .await
        .expect("a first write opens the writer's connection");
    let closed: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid()) AS terminated",
    )
    .fetch_one(&store.writer)
    .await
    .expect("terminate the other connections");
    assert!(closed >= 1, "the writer's connection was not found");
    let second = task("k-run", "after", TaskState::Pending);
    store
        .upsert_task(&second, Some("created"))
        .await
        .expect("the write after the server closed the connection");
    let paths: Vec<String> = store
        .list_tasks("k-run")
        .await
        .expect("tasks")
        .into_iter()
        .map(|t| t.path)
        .collect();
    assert!(paths.contains(&"after".to_string()), "{paths:?}");
}
