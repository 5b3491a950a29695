//! The engine driven by in-memory fakes: no processes, no database, no real time.

use async_trait::async_trait;
use jiff::Timestamp;
use penstock_engine::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct MemoryStore {
    tasks: Mutex<BTreeMap<String, TaskRecord>>,
    history: Mutex<Vec<(String, TaskState)>>,
    cache: Mutex<Vec<CacheEntry>>,
    attempts: Mutex<Vec<AttemptRecord>>,
}

#[async_trait]
impl RunStore for MemoryStore {
    async fn insert_run(&self, _run: &RunRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn update_run(&self, _run: &RunRecord) -> Result<(), StoreError> {
        Ok(())
    }
    async fn upsert_task(&self, task: &TaskRecord, _m: Option<&str>) -> Result<(), StoreError> {
        self.history
            .lock()
            .unwrap()
            .push((task.path.clone(), task.state));
        self.tasks
            .lock()
            .unwrap()
            .insert(task.path.clone(), task.clone());
        Ok(())
    }
    async fn insert_attempt(&self, a: &AttemptRecord) -> Result<(), StoreError> {
        self.attempts.lock().unwrap().push(a.clone());
        Ok(())
    }
    async fn record_artifacts(
        &self,
        _t: &TaskRecord,
        _r: ArtifactRole,
        _a: &ArtifactMap,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    async fn find_cache_entry(&self, fingerprint: &str) -> Result<Option<CacheEntry>, StoreError> {
        Ok(self
            .cache
            .lock()
            .unwrap()
            .iter()
            .find(|e| e.fingerprint == fingerprint)
            .cloned())
    }
    async fn insert_cache_entry(&self, entry: &CacheEntry) -> Result<(), StoreError> {
        self.cache.lock().unwrap().push(entry.clone());
        Ok(())
    }
}

/// Echo: output `Output` = input `x` (+1); fails while `failures` remain for that task name.
#[derive(Default)]
struct FakeLauncher {
    failures: Mutex<BTreeMap<String, u32>>,
    launched: Mutex<Vec<String>>,
}

#[async_trait]
impl TaskLauncher for FakeLauncher {
    async fn launch(&self, request: LaunchRequest, _cancel: CancellationToken) -> LaunchOutcome {
        self.launched
            .lock()
            .unwrap()
            .push(request.task_path.clone());
        if let Some(left) = self.failures.lock().unwrap().get_mut(&request.task_name) {
            if *left > 0 {
                *left -= 1;
                return LaunchOutcome::Failed {
                    message: "boom".into(),
                    exit_code: Some(1),
                };
            }
        }
        let x = request
            .parameters
            .get("x")
            .and_then(|v| v.as_i64())
            .unwrap_or(0);
        let mut parameters = ParameterMap::new();
        parameters.insert("Output".into(), json!(x + 1));
        LaunchOutcome::Succeeded {
            parameters,
            artifacts: ArtifactMap::new(),
        }
    }
    fn output_artifact_uri(&self, run_id: &str, task_path: &str, name: &str) -> String {
        format!("/mem/{run_id}/{task_path}/{name}")
    }
    fn log_uri(&self, _r: &str, _t: &str) -> Option<String> {
        None
    }
    async fn artifact_exists(&self, _uri: &str) -> bool {
        true
    }
    async fn log_tail(&self, _r: &str, _t: &str, _n: usize) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Default)]
struct FakeClock {
    slept: Mutex<Vec<Duration>>,
}

#[async_trait]
impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        Timestamp::UNIX_EPOCH
    }
    async fn sleep(&self, d: Duration) {
        self.slept.lock().unwrap().push(d);
    }
}

const SPEC: &str = r#"
pipelineInfo: {name: fake}
schemaVersion: 2.1.0
deploymentSpec:
  executors:
    exec-inc: {container: {image: x, command: [inc]}}
components:
  comp-inc:
    executorLabel: exec-inc
    inputDefinitions: {parameters: {x: {parameterType: NUMBER_INTEGER}}}
    outputDefinitions: {parameters: {Output: {parameterType: NUMBER_INTEGER}}}
  comp-branch:
    inputDefinitions: {parameters: {pipelinechannel--first-Output: {parameterType: NUMBER_INTEGER}}}
    dag:
      tasks:
        in-branch:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {componentInputParameter: pipelinechannel--first-Output}}}
          taskInfo: {name: in-branch}
root:
  inputDefinitions: {parameters: {start: {parameterType: NUMBER_INTEGER, defaultValue: 1}}}
  dag:
    outputs:
      parameters:
        Output: {valueFromParameter: {producerSubtask: second, outputParameterKey: Output}}
    tasks:
      first:
        componentRef: {name: comp-inc}
        cachingOptions: {enableCache: true}
        retryPolicy: {maxRetryCount: 2, backoffDuration: 2s, backoffFactor: 3, backoffMaxDuration: 60s}
        inputs: {parameters: {x: {componentInputParameter: start}}}
        taskInfo: {name: first}
      second:
        componentRef: {name: comp-inc}
        inputs: {parameters: {x: {taskOutputParameter: {producerTask: first, outputParameterKey: Output}}}}
        taskInfo: {name: second}
      branch:
        componentRef: {name: comp-branch}
        triggerPolicy: {condition: "int(inputs.parameter_values['pipelinechannel--first-Output']) > 5"}
        inputs: {parameters: {pipelinechannel--first-Output: {taskOutputParameter: {producerTask: first, outputParameterKey: Output}}}}
        taskInfo: {name: branch}
"#;

struct Harness {
    store: Arc<MemoryStore>,
    launcher: Arc<FakeLauncher>,
    clock: Arc<FakeClock>,
    engine: RunEngine,
    pipeline: Arc<penstock_spec::Pipeline>,
}

fn harness() -> Harness {
    let store = Arc::new(MemoryStore::default());
    let launcher = Arc::new(FakeLauncher::default());
    let clock = Arc::new(FakeClock::default());
    let engine = RunEngine::new(store.clone(), launcher.clone(), clock.clone());
    let pipeline = Arc::new(penstock_spec::parse_pipeline("fake.yaml", SPEC.as_bytes()).unwrap());
    Harness {
        store,
        launcher,
        clock,
        engine,
        pipeline,
    }
}

async fn run(h: &Harness, id: &str, start: i64, options: RunOptions) -> RunRecord {
    let mut given = ParameterMap::new();
    given.insert("start".into(), json!(start));
    let params = params::resolve_run_parameters(&h.pipeline.spec.root, given).unwrap();
    let record = h
        .engine
        .create_run(id.into(), id.into(), &h.pipeline, params)
        .await
        .unwrap();
    h.engine
        .execute(
            record,
            h.pipeline.clone(),
            options,
            CancellationToken::new(),
        )
        .await
        .unwrap()
}

fn state_of(h: &Harness, path: &str) -> TaskState {
    h.store.tasks.lock().unwrap()[path].state
}

#[tokio::test]
async fn data_flows_and_false_conditions_skip() {
    let h = harness();
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Succeeded);
    assert_eq!(r.outputs.parameters["Output"], json!(3));
    assert_eq!(state_of(&h, "branch"), TaskState::Skipped);
    assert!(!h
        .store
        .tasks
        .lock()
        .unwrap()
        .contains_key("branch/in-branch"));

    let r = run(&h, "r2", 10, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Succeeded);
    assert_eq!(state_of(&h, "branch/in-branch"), TaskState::Succeeded);
}

#[tokio::test]
async fn retries_back_off_and_count_attempts() {
    let h = harness();
    h.launcher
        .failures
        .lock()
        .unwrap()
        .insert("first".into(), 2);
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Succeeded);
    let first = h.store.tasks.lock().unwrap()["first"].clone();
    assert_eq!(first.attempts, 3);
    assert_eq!(
        *h.clock.slept.lock().unwrap(),
        vec![Duration::from_secs(2), Duration::from_secs(6)]
    );
    let states: Vec<TaskState> = h
        .store
        .attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.task_id == first.task_id)
        .map(|a| a.state)
        .collect();
    assert_eq!(
        states,
        vec![TaskState::Failed, TaskState::Failed, TaskState::Succeeded]
    );
}

#[tokio::test]
async fn a_failure_fails_the_run_and_skips_downstream() {
    let h = harness();
    h.launcher
        .failures
        .lock()
        .unwrap()
        .insert("first".into(), 5);
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert!(r.error.as_deref().unwrap_or_default().contains("boom"));
    assert_eq!(state_of(&h, "first"), TaskState::Failed);
    assert_eq!(state_of(&h, "second"), TaskState::Skipped);
    assert!(h.store.tasks.lock().unwrap()["second"]
        .error
        .as_deref()
        .unwrap()
        .contains("upstream task 'first'"));
}

#[tokio::test]
async fn identical_tasks_are_served_from_cache_unless_disabled() {
    let h = harness();
    run(&h, "r1", 1, RunOptions::default()).await;
    run(&h, "r2", 1, RunOptions::default()).await;
    assert_eq!(state_of(&h, "first"), TaskState::Cached);
    let decision = h.store.tasks.lock().unwrap()["first"]
        .cache
        .clone()
        .unwrap();
    assert!(
        decision.hit && decision.reason.contains("run r1"),
        "{decision:?}"
    );
    let launched_first = h
        .launcher
        .launched
        .lock()
        .unwrap()
        .iter()
        .filter(|p| *p == "first")
        .count();
    assert_eq!(launched_first, 1);

    run(
        &h,
        "r3",
        1,
        RunOptions {
            disable_cache: true,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(state_of(&h, "first"), TaskState::Succeeded);
    run(
        &h,
        "r4",
        1,
        RunOptions {
            cache_max_age: Some(Duration::ZERO),
            ..Default::default()
        },
    )
    .await;
    // The clock is frozen, so an age of zero is not older than zero: still a hit.
    assert_eq!(state_of(&h, "first"), TaskState::Cached);
}

#[tokio::test]
async fn every_change_is_recorded_and_transitions_are_legal() {
    let h = harness();
    run(&h, "r1", 1, RunOptions::default()).await;
    let history = h.store.history.lock().unwrap().clone();
    let second: Vec<TaskState> = history
        .iter()
        .filter(|(p, _)| p == "second")
        .map(|(_, s)| *s)
        .collect();
    assert_eq!(
        second,
        vec![TaskState::Pending, TaskState::Running, TaskState::Succeeded]
    );
    for pair in second.windows(2) {
        assert!(pair[0].can_become(pair[1]));
    }
}

#[tokio::test]
async fn retry_reexecutes_only_tasks_that_did_not_succeed() {
    let h = harness();
    h.launcher
        .failures
        .lock()
        .unwrap()
        .insert("second".into(), 1);
    let failed = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(failed.state, RunState::Failed);
    assert_eq!(state_of(&h, "first"), TaskState::Succeeded);
    assert_eq!(state_of(&h, "second"), TaskState::Failed);
    h.launcher.launched.lock().unwrap().clear();

    let earlier: BTreeMap<String, TaskRecord> = h.store.tasks.lock().unwrap().clone();
    let retried = h
        .engine
        .retry(
            failed.clone(),
            h.pipeline.clone(),
            RunOptions {
                earlier_tasks: earlier,
                ..Default::default()
            },
            CancellationToken::new(),
        )
        .await
        .unwrap();
    assert_eq!(retried.state, RunState::Succeeded);
    assert_eq!(retried.error, None);
    assert_eq!(retried.outputs.parameters["Output"], json!(3));
    // Only the failed task ran again; the succeeded one kept its outputs.
    assert_eq!(
        *h.launcher.launched.lock().unwrap(),
        vec!["second".to_string()]
    );
    let second = h.store.tasks.lock().unwrap()["second"].clone();
    assert_eq!(second.attempts, 2, "attempt numbers continue");
    let numbers: Vec<u32> = h
        .store
        .attempts
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a.task_id == second.task_id)
        .map(|a| a.attempt)
        .collect();
    assert_eq!(numbers, vec![1, 2]);

    // A run that did not fail cannot be retried.
    let err = h
        .engine
        .retry(
            retried,
            h.pipeline.clone(),
            RunOptions::default(),
            CancellationToken::new(),
        )
        .await;
    assert!(matches!(err, Err(EngineError::IllegalTransition { .. })));
}
