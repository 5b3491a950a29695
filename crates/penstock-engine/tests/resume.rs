//! Crash points: the engine is "killed" after every store write of a run (the store refuses
//! every write after the n-th, as a dead process persists nothing more), then the run is
//! resumed from what was persisted, with `RunEngine::resume`. Every crash point must reach the
//! same final state and outputs as an uninterrupted run, and no task that had finished is
//! executed again.

use async_trait::async_trait;
use jiff::Timestamp;
use penstock_engine::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A store that persists its first `budget` writes and refuses the rest (budget < 0: all).
#[derive(Default)]
struct CrashingStore {
    budget: AtomicI64,
    run: Mutex<Option<RunRecord>>,
    tasks: Mutex<BTreeMap<String, TaskRecord>>,
    cache: Mutex<Vec<CacheEntry>>,
}

impl CrashingStore {
    fn with_budget(budget: i64) -> CrashingStore {
        CrashingStore {
            budget: AtomicI64::new(if budget < 0 { i64::MAX } else { budget }),
            ..Default::default()
        }
    }

    fn write(&self) -> Result<(), StoreError> {
        if self.budget.fetch_sub(1, Ordering::SeqCst) <= 0 {
            return Err(StoreError("the process died".into()));
        }
        Ok(())
    }
}

#[async_trait]
impl RunStore for CrashingStore {
    async fn insert_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write()?;
        *self.run.lock().unwrap() = Some(run.clone());
        Ok(())
    }
    async fn update_run(&self, run: &RunRecord) -> Result<(), StoreError> {
        self.write()?;
        *self.run.lock().unwrap() = Some(run.clone());
        Ok(())
    }
    async fn upsert_task(&self, task: &TaskRecord, _m: Option<&str>) -> Result<(), StoreError> {
        self.write()?;
        self.tasks
            .lock()
            .unwrap()
            .insert(task.path.clone(), task.clone());
        Ok(())
    }
    async fn insert_attempt(&self, _a: &AttemptRecord) -> Result<(), StoreError> {
        self.write()
    }
    async fn record_artifacts(
        &self,
        _t: &TaskRecord,
        _r: ArtifactRole,
        _a: &ArtifactMap,
    ) -> Result<(), StoreError> {
        self.write()
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
        self.write()?;
        self.cache.lock().unwrap().push(entry.clone());
        Ok(())
    }
}

/// `Output` = `x` + 1; records every launch; `fail` names a task that always fails.
#[derive(Default)]
struct CountingLauncher {
    launched: Mutex<Vec<String>>,
    fail: Option<String>,
}

#[async_trait]
impl TaskLauncher for CountingLauncher {
    async fn launch(&self, request: LaunchRequest, _cancel: CancellationToken) -> LaunchOutcome {
        self.launched
            .lock()
            .unwrap()
            .push(request.task_path.clone());
        if self.fail.as_deref() == Some(request.task_name.as_str()) {
            return LaunchOutcome::Failed {
                message: "boom".into(),
                exit_code: Some(1),
            };
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

struct FixedClock;

#[async_trait]
impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::UNIX_EPOCH
    }
    async fn sleep(&self, _d: Duration) {}
}

/// A chain, a condition with a sub-DAG, a loop of 3 and an exit handler reading the final
/// status.
const SPEC: &str = r#"
pipelineInfo: {name: crashy}
schemaVersion: 2.1.0
deploymentSpec:
  executors:
    exec-inc: {container: {image: x, command: [inc]}}
components:
  comp-inc:
    executorLabel: exec-inc
    inputDefinitions: {parameters: {x: {parameterType: NUMBER_INTEGER}}}
    outputDefinitions: {parameters: {Output: {parameterType: NUMBER_INTEGER}}}
  comp-notify:
    executorLabel: exec-inc
    inputDefinitions: {parameters: {status: {parameterType: TASK_FINAL_STATUS}}}
  comp-branch:
    inputDefinitions: {parameters: {pipelinechannel--first-Output: {parameterType: NUMBER_INTEGER}}}
    dag:
      tasks:
        in-branch:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {componentInputParameter: pipelinechannel--first-Output}}}
          taskInfo: {name: in-branch}
  comp-loop:
    inputDefinitions: {parameters: {pipelinechannel--loop-item-param-1: {parameterType: NUMBER_INTEGER}}}
    dag:
      tasks:
        in-loop:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {componentInputParameter: pipelinechannel--loop-item-param-1}}}
          taskInfo: {name: in-loop}
  comp-exit-handler-1:
    inputDefinitions: {parameters: {pipelinechannel--start: {parameterType: NUMBER_INTEGER}}}
    dag:
      tasks:
        first:
          componentRef: {name: comp-inc}
          inputs: {parameters: {x: {componentInputParameter: pipelinechannel--start}}}
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
        loop:
          componentRef: {name: comp-loop}
          dependentTasks: [second]
          parameterIterator:
            itemInput: pipelinechannel--loop-item-param-1
            items: {raw: "[10, 20, 30]"}
          taskInfo: {name: loop}
root:
  inputDefinitions: {parameters: {start: {parameterType: NUMBER_INTEGER, defaultValue: 5}}}
  dag:
    tasks:
      exit-handler-1:
        componentRef: {name: comp-exit-handler-1}
        inputs: {parameters: {pipelinechannel--start: {componentInputParameter: start}}}
        taskInfo: {name: exit-handler-1}
      notify:
        componentRef: {name: comp-notify}
        dependentTasks: [exit-handler-1]
        triggerPolicy: {strategy: ALL_UPSTREAM_TASKS_COMPLETED}
        inputs: {parameters: {status: {taskFinalStatus: {producerTask: exit-handler-1}}}}
        taskInfo: {name: notify}
"#;

/// What a finished run comes to: its state, and each task's state and output parameters.
type Outcome = (RunState, BTreeMap<String, (TaskState, ParameterMap)>);

fn outcome(store: &CrashingStore) -> Outcome {
    let run = store.run.lock().unwrap().clone().expect("a run");
    let tasks = store
        .tasks
        .lock()
        .unwrap()
        .iter()
        .map(|(p, t)| (p.clone(), (t.state, t.outputs.parameters.clone())))
        .collect();
    (run.state, tasks)
}

/// What a crash-and-resume comes to: the final outcome, the tasks launched before and after
/// the crash, and the tasks the dead process had recorded as finished with outputs.
struct Crash {
    outcome: Outcome,
    first: Vec<String>,
    second: Vec<String>,
    finished_before: Vec<String>,
}

/// Runs the pipeline with a store that dies after `budget` writes (never, when negative), then
/// resumes what was persisted. `None` when the run itself was never recorded.
async fn crash_and_resume(budget: i64, fail: Option<&str>) -> Option<Crash> {
    let pipeline = Arc::new(penstock_spec::parse_pipeline("crashy.yaml", SPEC.as_bytes()).unwrap());
    let params = params::resolve_run_parameters(&pipeline.spec.root, ParameterMap::new()).unwrap();
    let first_store = Arc::new(CrashingStore::with_budget(budget));
    let first_launcher = Arc::new(CountingLauncher {
        fail: fail.map(String::from),
        ..Default::default()
    });
    let engine = RunEngine::new(
        first_store.clone(),
        first_launcher.clone(),
        Arc::new(FixedClock),
    );
    if let Ok(run) = engine
        .create_run("run-1".into(), "crashy".into(), &pipeline, params)
        .await
    {
        let _ = engine
            .execute(
                run,
                pipeline.clone(),
                RunOptions::default(),
                CancellationToken::new(),
            )
            .await;
    }
    // What the dead process left: a new process starts from it.
    let run = first_store.run.lock().unwrap().clone()?; // never acknowledged: nothing to resume
    let persisted = first_store.tasks.lock().unwrap().clone();
    let finished_before: Vec<String> = persisted
        .values()
        .filter(|t| t.state.produced_outputs() && t.kind == TaskKind::Container)
        .map(|t| t.path.clone())
        .collect();
    let second_store = Arc::new(CrashingStore::with_budget(-1));
    *second_store.run.lock().unwrap() = Some(run.clone());
    *second_store.tasks.lock().unwrap() = persisted.clone();
    *second_store.cache.lock().unwrap() = first_store.cache.lock().unwrap().clone();
    let second_launcher = Arc::new(CountingLauncher {
        fail: fail.map(String::from),
        ..Default::default()
    });
    if !run.state.is_terminal() {
        let engine = RunEngine::new(
            second_store.clone(),
            second_launcher.clone(),
            Arc::new(FixedClock),
        );
        let options = RunOptions {
            earlier_tasks: persisted,
            ..Default::default()
        };
        engine
            .resume(run, pipeline, options, CancellationToken::new())
            .await
            .expect("resume");
    }
    let first = first_launcher.launched.lock().unwrap().clone();
    let second = second_launcher.launched.lock().unwrap().clone();
    Some(Crash {
        outcome: outcome(&second_store),
        first,
        second,
        finished_before,
    })
}

async fn check_every_crash_point(fail: Option<&str>) -> usize {
    let reference = crash_and_resume(-1, fail).await.expect("reference run");
    let mut points = 0;
    for budget in 0.. {
        assert!(budget < 10_000, "the run never finished");
        let Some(got) = crash_and_resume(budget, fail).await else {
            continue;
        };
        assert_eq!(
            got.outcome, reference.outcome,
            "crash after write {budget}: resuming reached another outcome"
        );
        // What had finished before the crash is not executed again.
        for p in &got.second {
            assert!(
                !got.finished_before.contains(p),
                "crash after write {budget}: {p} had finished, yet ran again"
            );
        }
        points += 1;
        if got.second.is_empty() && got.first.len() == reference.first.len() {
            // The crash came after everything was launched and recorded.
            let (state, _) = &got.outcome;
            if state.is_terminal() && budget > 0 {
                break;
            }
        }
    }
    points
}

#[tokio::test]
async fn resuming_after_every_store_write_reaches_the_uninterrupted_outcome() {
    let points = check_every_crash_point(None).await;
    println!("{points} crash points checked");
    assert!(points > 30, "{points}");
}

#[tokio::test]
async fn a_failure_before_the_crash_is_kept_and_the_exit_handler_still_reports_it() {
    let points = check_every_crash_point(Some("second")).await;
    let outcome = crash_and_resume(-1, Some("second")).await.unwrap().outcome;
    assert_eq!(outcome.0, RunState::Failed);
    assert_eq!(
        outcome.1["notify"].0,
        TaskState::Succeeded,
        "the exit handler ran"
    );
    println!("{points} crash points checked");
}

#[tokio::test]
async fn finished_tasks_are_not_executed_again() {
    // Crash when about half the writes are done; every task that had SUCCEEDED then keeps its
    // outcome and runs exactly once over both processes.
    let all = crash_and_resume(-1, None).await.unwrap().first;
    let got = crash_and_resume(20, None).await.unwrap();
    assert_eq!(got.outcome.0, RunState::Succeeded);
    let mut both = got.first.clone();
    both.extend(got.second.iter().cloned());
    for path in &all {
        let runs = both.iter().filter(|p| *p == path).count();
        let expected = if got.finished_before.contains(path) {
            1
        } else {
            runs.max(1)
        };
        assert_eq!(runs, expected, "{path} ran {runs} times");
    }
    assert!(!got.second.is_empty() && !got.first.is_empty());
}
