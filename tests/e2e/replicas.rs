//! Several `penstock server` replicas on one PostgreSQL database are one service: any replica
//! answers any call, each run is executed by the one replica holding its lease, a replica
//! killed with `kill -9` has its runs taken over by another within 30 s without re-running
//! finished steps, a terminate asked of one replica cancels a run executed by another, and a
//! one-second schedule fires each tick once across replicas.
//!
//! Each replica has its own home and its own machine name (`PENSTOCK_HOSTNAME`), so a replica
//! cannot see whether another's process is alive and only the lease tells, as on separate
//! machines. Artifacts and logs live in an S3 pipeline root (moto's server) both read.

use crate::durable::{executions, spec_json, wait_until};
use crate::object_store::{Moto, BUCKET};
use crate::semantics::compile_source;
use crate::server::{get, get_text, post, scheduled_runs, tick_second, ServerProcess};
use crate::util::start_postgres;
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// Every step appends `start <name> <time>` and `end <name> <time>` to the shared log file;
/// `first` writes an artifact that `last` reads back into the log.
const TAKEOVER: &str = r#"
@dsl.container_component
def produce(name: str, log: str, out: dsl.Output[dsl.Artifact]):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'echo "start $0 $(date +%s.%N)" >> "$1"; mkdir -p "$(dirname "$2")"; echo "made-by-$0" > "$2"; echo "end $0 $(date +%s.%N)" >> "$1"'],
        args=[name, log, out.path],
    )

@dsl.container_component
def step(name: str, log: str, seconds: str):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'echo "start $0 $(date +%s.%N)" >> "$1"; sleep "$2"; echo "end $0 $(date +%s.%N)" >> "$1"'],
        args=[name, log, seconds],
    )

@dsl.container_component
def consume(name: str, log: str, data: dsl.Input[dsl.Artifact]):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'echo "start $0 $(date +%s.%N)" >> "$1"; echo "read $(cat "$2") 0" >> "$1"; echo "end $0 $(date +%s.%N)" >> "$1"'],
        args=[name, log, data.path],
    )

@dsl.pipeline(name="takeover")
def main(log: str, middle_seconds: str = "6"):
    first = produce(name="first", log=log)
    middle = step(name="middle", log=log, seconds=middle_seconds).after(first)
    consume(name="last", log=log, data=first.outputs["out"]).after(middle)
"#;

/// Replicas on one fresh PostgreSQL database and one S3 pipeline root.
struct Service {
    _postgres: penstock_store::testing::TestPostgres,
    database: String,
    moto: Moto,
    homes: Vec<tempfile::TempDir>,
}

impl Service {
    fn new() -> Service {
        let postgres = start_postgres();
        let database = postgres.url("postgres");
        Service {
            _postgres: postgres,
            database,
            moto: Moto::start(),
            homes: Vec::new(),
        }
    }

    /// Starts a replica on its own home, as machine `machine`.
    fn replica(&mut self, machine: &str) -> ServerProcess {
        let home = tempfile::tempdir().expect("temp dir");
        let root = format!("s3://{BUCKET}/replicas");
        let env = self.moto.env();
        let mut env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.push(("PENSTOCK_HOSTNAME", machine));
        let server = ServerProcess::start_with_env(
            home.path(),
            &["--database", &self.database, "--pipeline-root", &root],
            &env,
        );
        self.homes.push(home);
        server
    }
}

fn run_state(url: &str, run_id: &str) -> Value {
    get(&format!("{url}/apis/v2beta1/runs/{run_id}"))
}

fn wait_for_end(url: &str, run_id: &str, timeout: Duration) -> Value {
    let deadline = Instant::now() + timeout;
    loop {
        let got = run_state(url, run_id);
        if ["SUCCEEDED", "FAILED", "CANCELED"].contains(&got["state"].as_str().unwrap_or("")) {
            return got;
        }
        assert!(Instant::now() < deadline, "the run never finished: {got}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn metric(url: &str, name: &str) -> f64 {
    let text = get_text(&format!("{url}/metrics"));
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics: {text}"))
}

fn ran_once(log: &Path, name: &str) -> bool {
    executions(log)
        .get(name)
        .is_some_and(|runs| runs.len() == 1 && runs[0].1.is_some())
}

#[test]
fn a_killed_replicas_run_is_taken_over_within_30_s_without_rerunning_finished_steps() {
    let mut service = Service::new();
    let a = service.replica("machine-a");
    let b = service.replica("machine-b");
    let shared = tempfile::tempdir().expect("shared folder");
    let log = shared.path().join("steps.log");

    // Each replica says who it is; both are on PostgreSQL.
    let (ha, hb) = (
        get(&format!("{}/apis/v2beta1/healthz", a.url)),
        get(&format!("{}/apis/v2beta1/healthz", b.url)),
    );
    assert_eq!(ha["database"], "postgresql", "{ha}");
    assert_eq!(hb["database"], "postgresql", "{hb}");
    assert_ne!(ha["replica"], hb["replica"]);
    assert_eq!(ha["host"], "machine-a");

    let spec = spec_json(&compile_source(shared.path(), "takeover", TAKEOVER));
    let run = post(
        &format!("{}/apis/v2beta1/runs", a.url),
        &json!({"display_name": "taken over", "pipeline_spec": spec,
                "runtime_config": {"parameters": {"log": log.display().to_string()}}}),
    );
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    // Any replica answers: B sees the run A executes, in its list too.
    wait_until("B sees the run RUNNING", Duration::from_secs(30), || {
        run_state(&b.url, &run_id)["state"] == "RUNNING"
    });
    let listed = get(&format!("{}/apis/v2beta1/runs?page_size=10", b.url));
    assert!(
        listed["runs"]
            .as_array()
            .is_some_and(|rs| rs.iter().any(|r| r["run_id"] == run_id.as_str())),
        "{listed}"
    );
    wait_until("the middle step runs", Duration::from_secs(60), || {
        executions(&log)
            .get("middle")
            .is_some_and(|runs| runs.iter().any(|(_, end)| end.is_none()))
    });
    assert!(ran_once(&log, "first"));
    assert_eq!(metric(&a.url, "penstock_runs_executing"), 1.0);
    assert_eq!(metric(&b.url, "penstock_runs_executing"), 0.0);

    let killed = Instant::now();
    a.kill_hard();
    // B takes the run over once A's lease runs out: the middle step starts again there.
    wait_until(
        "replica B restarts the interrupted step",
        Duration::from_secs(30),
        || {
            executions(&log)
                .get("middle")
                .is_some_and(|runs| runs.len() == 2)
        },
    );
    let takeover = killed.elapsed();
    eprintln!("takeover after kill -9: {:.1} s", takeover.as_secs_f64());
    let done = wait_for_end(&b.url, &run_id, Duration::from_secs(60));
    assert_eq!(done["state"], "SUCCEEDED", "{done}");
    // The finished step kept its output and was not executed again; the last one read it.
    assert!(ran_once(&log, "first"), "{:?}", executions(&log));
    assert!(ran_once(&log, "last"), "{:?}", executions(&log));
    let text = std::fs::read_to_string(&log).expect("log");
    assert!(text.contains("read made-by-first"), "{text}");
    assert_eq!(metric(&b.url, "penstock_runs_taken_over_total"), 1.0);
    // The survivor serves the artifact and the log the killed replica wrote, from the bucket.
    let task = format!("{}/apis/penstock/v1/runs/{run_id}/tasks/produce", b.url);
    assert_eq!(
        get_text(&format!("{task}/artifacts/out")),
        "made-by-first\n"
    );
    assert!(get_text(&format!("{task}/logs")).contains("attempt 1"));
}

#[test]
fn a_terminate_asked_of_one_replica_cancels_the_run_another_executes() {
    let mut service = Service::new();
    let a = service.replica("machine-a");
    let b = service.replica("machine-b");
    let spec = crate::server::sleeper_spec();
    let run = post(
        &format!("{}/apis/v2beta1/runs", a.url),
        &json!({"display_name": "stopped elsewhere", "pipeline_spec": spec}),
    );
    let run_id = run["run_id"].as_str().expect("run id").to_string();
    wait_until("the run starts", Duration::from_secs(30), || {
        run_state(&a.url, &run_id)["state"] == "RUNNING"
    });
    let asked = Instant::now();
    post(
        &format!("{}/apis/v2beta1/runs/{run_id}:terminate", b.url),
        &json!({}),
    );
    let done = wait_for_end(&b.url, &run_id, Duration::from_secs(20));
    assert_eq!(done["state"], "CANCELED", "{done}");
    assert!(
        asked.elapsed() < Duration::from_secs(15),
        "cancelled at the owner's next renewal, not after the 30 s sleep"
    );
}

#[test]
fn a_one_second_schedule_on_two_replicas_fires_each_tick_once() {
    let mut service = Service::new();
    let a = service.replica("machine-a");
    let b = service.replica("machine-b");
    let mut spec = crate::server::sleeper_spec();
    spec["deploymentSpec"]["executors"]["exec-nap"]["container"]["command"] = json!(["true"]);
    let rr = post(
        &format!("{}/apis/v2beta1/recurringruns", a.url),
        &json!({"display_name": "every-second", "pipeline_spec": spec, "max_concurrency": 10,
                "trigger": {"periodic_schedule": {"interval_second": 1}}}),
    );
    let id = rr["recurring_run_id"].as_str().expect("id").to_string();
    std::thread::sleep(Duration::from_secs(8));
    post(
        &format!("{}/apis/v2beta1/recurringruns/{id}:disable", b.url),
        &json!({}),
    );
    let runs = scheduled_runs(&b.url, &id);
    let seconds: Vec<i64> = runs.iter().map(tick_second).collect();
    assert!(seconds.len() >= 5, "the schedule fired: {seconds:?}");
    let steps: Vec<i64> = seconds.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        steps.iter().all(|s| *s == 1),
        "one run per tick across both replicas, none twice, none lost: {seconds:?}"
    );
    // Every fired run is executed (by whichever replica fired it) to the end.
    for r in &runs {
        let id = r["run_id"].as_str().expect("id");
        let done = wait_for_end(&a.url, id, Duration::from_secs(30));
        assert_eq!(done["state"], "SUCCEEDED", "{done}");
    }
}
