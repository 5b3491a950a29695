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
    /// Task names whose launch panics (a bug in a launcher).
    panics: Mutex<Vec<String>>,
    launched: Mutex<Vec<String>>,
}

#[async_trait]
impl TaskLauncher for FakeLauncher {
    async fn launch(&self, request: LaunchRequest, _cancel: CancellationToken) -> LaunchOutcome {
        self.launched
            .lock()
            .unwrap()
            .push(request.task_path.clone());
        if self.panics.lock().unwrap().contains(&request.task_name) {
            panic!("launcher bug");
        }
        if let Some(left) = self.failures.lock().unwrap().get_mut(&request.task_name) {
            if *left > 0 {
                *left -= 1;
                return LaunchOutcome::Failed {
                    message: "boom".into(),
                    exit_code: Some(1),
                };
            }
        }
        let mut parameters = ParameterMap::new();
        if let Some(state) = request
            .parameters
            .get("status")
            .and_then(|s| s.get("state"))
        {
            // A status reporter: `Output` = the final status' state.
            parameters.insert("Output".into(), state.clone());
        } else if let Some(n) = request.parameters.get("n").and_then(|v| v.as_i64()) {
            // A list maker: `Output` = [0, 1, ..., n - 1].
            parameters.insert("Output".into(), json!((0..n).collect::<Vec<_>>()));
        } else {
            let x = request
                .parameters
                .get("x")
                .and_then(|v| v.as_i64())
                .unwrap_or(0);
            parameters.insert("Output".into(), json!(x + 1));
        }
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
    harness_with(SPEC, RunLimits::default())
}

fn harness_with(spec: &str, limits: RunLimits) -> Harness {
    let store = Arc::new(MemoryStore::default());
    let launcher = Arc::new(FakeLauncher::default());
    let clock = Arc::new(FakeClock::default());
    let engine = RunEngine::new(store.clone(), launcher.clone(), clock.clone()).with_limits(limits);
    let pipeline = Arc::new(penstock_spec::parse_pipeline("fake.yaml", spec.as_bytes()).unwrap());
    Harness {
        store,
        launcher,
        clock,
        engine,
        pipeline,
    }
}

async fn run(h: &Harness, id: &str, start: i64, options: RunOptions) -> RunRecord {
    run_with(h, id, "start", start, options).await
}

async fn run_with(
    h: &Harness,
    id: &str,
    parameter: &str,
    value: i64,
    options: RunOptions,
) -> RunRecord {
    let mut given = ParameterMap::new();
    // Pipelines without the parameter run without it.
    if h.pipeline
        .spec
        .root
        .input_definitions
        .parameters
        .contains_key(parameter)
    {
        given.insert(parameter.into(), json!(value));
    }
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

/// `make` produces a list of `n` numbers at run time; `for-loop-1` runs `inc` on each item;
/// `after` waits for the loop.
const LOOP_SPEC: &str = r#"
pipelineInfo: {name: loops}
schemaVersion: 2.1.0
deploymentSpec:
  executors:
    exec-make: {container: {image: x, command: [make]}}
    exec-inc: {container: {image: x, command: [inc]}}
components:
  comp-make:
    executorLabel: exec-make
    inputDefinitions: {parameters: {n: {parameterType: NUMBER_INTEGER}}}
    outputDefinitions: {parameters: {Output: {parameterType: LIST}}}
  comp-inc:
    executorLabel: exec-inc
    inputDefinitions: {parameters: {x: {parameterType: NUMBER_INTEGER}}}
    outputDefinitions: {parameters: {Output: {parameterType: NUMBER_INTEGER}}}
  comp-for-loop-1:
    inputDefinitions:
      parameters:
        pipelinechannel--make-Output: {parameterType: LIST}
        pipelinechannel--make-Output-loop-item: {parameterType: NUMBER_INTEGER}
    dag:
      tasks:
        inc:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {componentInputParameter: pipelinechannel--make-Output-loop-item}}}
          taskInfo: {name: inc}
root:
  inputDefinitions: {parameters: {n: {parameterType: NUMBER_INTEGER}}}
  dag:
    tasks:
      make:
        componentRef: {name: comp-make}
        inputs: {parameters: {n: {componentInputParameter: n}}}
        taskInfo: {name: make}
      for-loop-1:
        componentRef: {name: comp-for-loop-1}
        dependentTasks: [make]
        inputs:
          parameters:
            pipelinechannel--make-Output: {taskOutputParameter: {producerTask: make, outputParameterKey: Output}}
        parameterIterator:
          itemInput: pipelinechannel--make-Output-loop-item
          items: {inputParameter: pipelinechannel--make-Output}
        taskInfo: {name: for-loop-1}
      after:
        componentRef: {name: comp-inc}
        dependentTasks: [for-loop-1]
        inputs: {parameters: {x: {runtimeValue: {constant: 1}}}}
        taskInfo: {name: after}
"#;

fn error_of(h: &Harness, path: &str) -> String {
    h.store.tasks.lock().unwrap()[path]
        .error
        .clone()
        .unwrap_or_default()
}

fn task_count(h: &Harness) -> usize {
    h.store.tasks.lock().unwrap().len()
}

#[tokio::test]
async fn a_loop_over_more_items_than_the_limit_fails_without_iterating() {
    let h = harness_with(LOOP_SPEC, RunLimits::default());
    let r = run_with(&h, "r1", "n", 20_000, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(state_of(&h, "for-loop-1"), TaskState::Failed);
    let error = error_of(&h, "for-loop-1");
    assert!(
        error.contains(
            "the loop has 20000 items, more than the limit of 10000 (max_loop_iterations)"
        ),
        "{error}"
    );
    assert!(r.error.unwrap_or_default().contains("max_loop_iterations"));
    assert_eq!(state_of(&h, "after"), TaskState::Skipped);
    assert_eq!(task_count(&h), 3, "no iteration was created");

    // Within a configured limit the loop runs.
    let limits = RunLimits {
        max_loop_iterations: 3,
        ..RunLimits::default()
    };
    let h = harness_with(LOOP_SPEC, limits);
    let r = run_with(&h, "r2", "n", 3, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Succeeded);
    assert_eq!(state_of(&h, "for-loop-1[2]/inc"), TaskState::Succeeded);
    let r = run_with(&h, "r3", "n", 4, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert!(error_of(&h, "for-loop-1").contains("limit of 3 (max_loop_iterations)"));
}

#[tokio::test]
async fn a_run_never_creates_more_tasks_than_the_limit() {
    // 3 root tasks + 5 iterations fit in 8; the iterations' tasks do not.
    let limits = RunLimits {
        max_tasks_per_run: 8,
        ..RunLimits::default()
    };
    let h = harness_with(LOOP_SPEC, limits);
    let r = run_with(&h, "r1", "n", 5, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    let error = r.error.unwrap_or_default();
    assert!(error.contains("(max_tasks_per_run)"), "{error}");
    assert!(task_count(&h) <= 8, "{} tasks", task_count(&h));
    let tasks = h.store.tasks.lock().unwrap().clone();
    assert!(!tasks.keys().any(|p| p.ends_with("/inc")), "{tasks:?}");
    let failed: Vec<&TaskRecord> = tasks
        .values()
        .filter(|t| t.state == TaskState::Failed)
        .collect();
    assert!(failed.iter().any(|t| t.path.starts_with("for-loop-1[")
        && t.error
            .as_deref()
            .unwrap_or_default()
            .contains("limit of 8 (max_tasks_per_run)")));
    assert_eq!(tasks["after"].state, TaskState::Skipped);

    // A loop whose iterations would not fit fails before creating any.
    let limits = RunLimits {
        max_tasks_per_run: 6,
        ..RunLimits::default()
    };
    let h = harness_with(LOOP_SPEC, limits);
    let r = run_with(&h, "r2", "n", 5, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(state_of(&h, "for-loop-1"), TaskState::Failed);
    assert_eq!(
        error_of(&h, "for-loop-1"),
        "task 'for-loop-1': the loop would create 5 more tasks, and the run already has 3: \
         more than the limit of 6 (max_tasks_per_run)"
    );
    assert_eq!(task_count(&h), 3);

    // A pipeline whose root DAG does not fit creates no task at all.
    let limits = RunLimits {
        max_tasks_per_run: 2,
        ..RunLimits::default()
    };
    let h = harness_with(SPEC, limits);
    let r = run(&h, "r3", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert!(r
        .error
        .unwrap_or_default()
        .contains("limit of 2 (max_tasks_per_run)"));
    assert_eq!(task_count(&h), 0);
}

#[tokio::test]
async fn everything_downstream_of_a_failure_is_skipped_not_left_pending() {
    let mut yaml = String::from(
        "pipelineInfo: {name: chain}\nschemaVersion: 2.1.0\ndeploymentSpec:\n  executors:\n    exec-inc: {container: {image: x, command: [inc]}}\ncomponents:\n  comp-inc:\n    executorLabel: exec-inc\n    inputDefinitions: {parameters: {x: {parameterType: NUMBER_INTEGER}}}\n    outputDefinitions: {parameters: {Output: {parameterType: NUMBER_INTEGER}}}\nroot:\n  dag:\n    tasks:\n",
    );
    for (name, after) in [
        ("a", None),
        ("b", Some("a")),
        ("c", Some("b")),
        ("d", Some("c")),
    ] {
        let input = match after {
            None => "{runtimeValue: {constant: 1}}".to_string(),
            Some(p) => format!(
                "{{taskOutputParameter: {{producerTask: {p}, outputParameterKey: Output}}}}"
            ),
        };
        yaml.push_str(&format!(
            "      {name}:\n        componentRef: {{name: comp-inc}}\n        inputs: {{parameters: {{x: {input}}}}}\n        taskInfo: {{name: {name}}}\n"
        ));
    }
    let h = harness_with(&yaml, RunLimits::default());
    h.launcher.failures.lock().unwrap().insert("a".into(), 1);
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(state_of(&h, "a"), TaskState::Failed);
    for t in ["b", "c", "d"] {
        assert_eq!(state_of(&h, t), TaskState::Skipped, "{t}");
    }
}

#[tokio::test]
async fn a_10k_task_chain_is_scheduled_in_linear_time() {
    let n = 10_000;
    let mut tasks = serde_json::Map::new();
    for i in 0..n {
        let x = if i == 0 {
            json!({"runtimeValue": {"constant": 0}})
        } else {
            json!({"taskOutputParameter": {"producerTask": format!("t{}", i - 1), "outputParameterKey": "Output"}})
        };
        tasks.insert(
            format!("t{i}"),
            json!({"componentRef": {"name": "comp-inc"}, "inputs": {"parameters": {"x": x}}}),
        );
    }
    let spec = json!({
        "pipelineInfo": {"name": "chain"},
        "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"exec-inc": {"container": {"image": "x", "command": ["inc"]}}}},
        "components": {"comp-inc": {
            "executorLabel": "exec-inc",
            "inputDefinitions": {"parameters": {"x": {"parameterType": "NUMBER_INTEGER"}}},
            "outputDefinitions": {"parameters": {"Output": {"parameterType": "NUMBER_INTEGER"}}}
        }},
        "root": {"dag": {
            "outputs": {"parameters": {"Output": {"valueFromParameter": {"producerSubtask": format!("t{}", n - 1), "outputParameterKey": "Output"}}}},
            "tasks": tasks
        }}
    });
    let h = harness_with(&spec.to_string(), RunLimits::default());
    let started = std::time::Instant::now();
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    println!(
        "running a 10,000-task chain with fakes took {:?}",
        started.elapsed()
    );
    assert_eq!(r.state, RunState::Succeeded, "{:?}", r.error);
    assert_eq!(r.outputs.parameters["Output"], json!(n));
}

/// As the SDK compiles an `ExitHandler` whose exit task is a pipeline: `notification` takes
/// the final status of `exit-handler-1`, `report` reads its state, and two `dsl.If` branches
/// act on it.
const EXIT_PIPELINE_SPEC: &str = r#"
pipelineInfo: {name: exit-pipe}
schemaVersion: 2.1.0
deploymentSpec:
  executors:
    exec-inc: {container: {image: x, command: [inc]}}
    exec-report: {container: {image: x, command: [report]}}
components:
  comp-inc:
    executorLabel: exec-inc
    inputDefinitions: {parameters: {x: {parameterType: NUMBER_INTEGER}}}
    outputDefinitions: {parameters: {Output: {parameterType: NUMBER_INTEGER}}}
  comp-report:
    executorLabel: exec-report
    inputDefinitions: {parameters: {status: {parameterType: STRUCT}}}
    outputDefinitions: {parameters: {Output: {parameterType: STRING}}}
  comp-condition-1:
    inputDefinitions: {parameters: {pipelinechannel--report-Output: {parameterType: STRING}}}
    dag:
      tasks:
        notify-failed:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {runtimeValue: {constant: 1}}}}
          taskInfo: {name: notify-failed}
  comp-condition-2:
    inputDefinitions: {parameters: {pipelinechannel--report-Output: {parameterType: STRING}}}
    dag:
      tasks:
        notify-fine:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {runtimeValue: {constant: 1}}}}
          taskInfo: {name: notify-fine}
  comp-notification:
    inputDefinitions: {parameters: {status: {parameterType: TASK_FINAL_STATUS, isOptional: true}}}
    dag:
      tasks:
        report:
          componentRef: {name: comp-report}
          inputs: {parameters: {status: {componentInputParameter: status}}}
          taskInfo: {name: report}
        condition-1:
          componentRef: {name: comp-condition-1}
          dependentTasks: [report]
          inputs:
            parameters:
              pipelinechannel--report-Output: {taskOutputParameter: {producerTask: report, outputParameterKey: Output}}
          taskInfo: {name: condition-1}
          triggerPolicy: {condition: "inputs.parameter_values['pipelinechannel--report-Output'] == 'FAILED'"}
        condition-2:
          componentRef: {name: comp-condition-2}
          dependentTasks: [report]
          inputs:
            parameters:
              pipelinechannel--report-Output: {taskOutputParameter: {producerTask: report, outputParameterKey: Output}}
          taskInfo: {name: condition-2}
          triggerPolicy: {condition: "inputs.parameter_values['pipelinechannel--report-Output'] != 'FAILED'"}
  comp-exit-handler-1:
    inputDefinitions: {parameters: {pipelinechannel--start: {parameterType: NUMBER_INTEGER}}}
    dag:
      tasks:
        work:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {componentInputParameter: pipelinechannel--start}}}
          taskInfo: {name: work}
root:
  inputDefinitions: {parameters: {start: {parameterType: NUMBER_INTEGER, defaultValue: 1}}}
  dag:
    tasks:
      exit-handler-1:
        componentRef: {name: comp-exit-handler-1}
        inputs: {parameters: {pipelinechannel--start: {componentInputParameter: start}}}
        taskInfo: {name: exit-handler-1}
      notification:
        componentRef: {name: comp-notification}
        dependentTasks: [exit-handler-1]
        inputs: {parameters: {status: {taskFinalStatus: {producerTask: exit-handler-1}}}}
        taskInfo: {name: notification}
        triggerPolicy: {strategy: ALL_UPSTREAM_TASKS_COMPLETED}
"#;

/// No task of a finished run may be left PENDING or RUNNING.
fn assert_all_tasks_final(h: &Harness) {
    let tasks = h.store.tasks.lock().unwrap().clone();
    let open: Vec<(String, TaskState)> = tasks
        .values()
        .filter(|t| !t.state.is_terminal())
        .map(|t| (t.path.clone(), t.state))
        .collect();
    assert!(open.is_empty(), "tasks left unfinished: {open:?}");
}

#[tokio::test]
async fn an_exit_pipeline_runs_completely_after_the_run_failed() {
    let h = harness_with(EXIT_PIPELINE_SPEC, RunLimits::default());
    h.launcher.failures.lock().unwrap().insert("work".into(), 1);
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(
        r.state,
        RunState::Failed,
        "the exit pipeline does not rescue the run"
    );
    assert_eq!(state_of(&h, "exit-handler-1/work"), TaskState::Failed);
    assert_eq!(state_of(&h, "exit-handler-1"), TaskState::Failed);
    assert_eq!(state_of(&h, "notification"), TaskState::Succeeded);
    assert_eq!(state_of(&h, "notification/report"), TaskState::Succeeded);
    assert_eq!(
        h.store.tasks.lock().unwrap()["notification/report"]
            .outputs
            .parameters["Output"],
        json!("FAILED")
    );
    assert_eq!(
        state_of(&h, "notification/condition-1"),
        TaskState::Succeeded
    );
    assert_eq!(
        state_of(&h, "notification/condition-1/notify-failed"),
        TaskState::Succeeded
    );
    assert_eq!(state_of(&h, "notification/condition-2"), TaskState::Skipped);
    assert!(error_of(&h, "notification/condition-2").contains("condition was false"));
    assert_all_tasks_final(&h);
}

#[tokio::test]
async fn an_exit_pipeline_runs_after_success_too() {
    let h = harness_with(EXIT_PIPELINE_SPEC, RunLimits::default());
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Succeeded, "{:?}", r.error);
    assert_eq!(
        h.store.tasks.lock().unwrap()["notification/report"]
            .outputs
            .parameters["Output"],
        json!("COMPLETE")
    );
    assert_eq!(state_of(&h, "notification/condition-1"), TaskState::Skipped);
    assert_eq!(
        state_of(&h, "notification/condition-2/notify-fine"),
        TaskState::Succeeded
    );
    assert_all_tasks_final(&h);
}

#[tokio::test]
async fn a_failure_inside_an_exit_pipeline_stops_it_and_fails_the_run() {
    let h = harness_with(EXIT_PIPELINE_SPEC, RunLimits::default());
    h.launcher
        .failures
        .lock()
        .unwrap()
        .insert("report".into(), 1);
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(state_of(&h, "exit-handler-1/work"), TaskState::Succeeded);
    assert_eq!(state_of(&h, "notification/report"), TaskState::Failed);
    assert_eq!(state_of(&h, "notification"), TaskState::Failed);
    for branch in ["notification/condition-1", "notification/condition-2"] {
        assert_eq!(state_of(&h, branch), TaskState::Skipped, "{branch}");
    }
    assert_all_tasks_final(&h);
}

#[tokio::test]
async fn a_panicking_task_is_recorded_failed_not_left_running() {
    let h = harness();
    h.launcher.panics.lock().unwrap().push("first".into());
    let r = run(&h, "r1", 1, RunOptions::default()).await;
    assert_eq!(r.state, RunState::Failed);
    assert_eq!(state_of(&h, "first"), TaskState::Failed);
    assert!(
        error_of(&h, "first").contains("panicked"),
        "{}",
        error_of(&h, "first")
    );
    assert_eq!(state_of(&h, "second"), TaskState::Skipped);
    assert_eq!(state_of(&h, "branch"), TaskState::Skipped);
    assert_all_tasks_final(&h);
}
