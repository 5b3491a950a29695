//! The rest of KFP's v1beta1 API through the real `kfp==1.8.22` `kfp.Client` (and the
//! `kfp_server_api` it carries): experiments archive/unarchive/delete, pipeline versions and
//! templates, runs retry/archive/unarchive/delete, run metrics from a step's
//! `mlpipeline-metrics` output (`OutputPath("Metrics")` or `file_outputs`) and from `reportMetrics`, and jobs (recurring runs) that fire.

use crate::server::ServerProcess;
use crate::util::python_v1;
use serde_json::{json, Value};
use std::process::Command;

const SCRIPT: &str = r#"
import json, os, sys, time, urllib.error, urllib.request
import kfp, kfp_server_api
from kfp import dsl, compiler
from kfp.components import create_component_from_func, OutputPath
url, workdir = sys.argv[1:3]
client = kfp.Client(host=url)
out = {}

def status_of(call):
    try:
        call()
        return 200
    except kfp_server_api.ApiException as e:
        return e.status

def wait(run_id, want=None, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        got = client.get_run(run_id)
        if got.run.status in ("Succeeded", "Failed") and (want is None or got.run.status == want):
            return got
        time.sleep(0.2)
    raise SystemExit("run %s did not end %s" % (run_id, want))

def raw(method, path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method=method,
                                 headers={"content-type": "application/json"})
    try:
        return [200, json.load(urllib.request.urlopen(req))]
    except urllib.error.HTTPError as e:
        return [e.code, json.load(e)]

def hello(name: str) -> str:
    return "hello " + name

def scored(mlpipeline_metrics_path: OutputPath("Metrics")):
    import json
    with open(mlpipeline_metrics_path, "w") as f:
        json.dump({"metrics": [
            {"name": "accuracy-score", "numberValue": 0.875, "format": "PERCENTAGE"},
            {"name": "loss", "numberValue": 1.5},
        ]}, f)

def flaky(marker: str) -> str:
    import os
    if not os.path.exists(marker):
        open(marker, "w").close()
        raise SystemExit("the first attempt fails")
    return "second time lucky"

hello_op = create_component_from_func(hello)
scored_op = create_component_from_func(scored)
flaky_op = create_component_from_func(flaky)

@dsl.pipeline(name="v1 api hello")
def greet(name: str = "world"):
    hello_op(name)

@dsl.pipeline(name="v1 api metrics")
def measured():
    scored_op()

@dsl.pipeline(name="v1 api file metrics")
def filed():
    dsl.ContainerOp(name="file-metrics", image="alpine", command=["sh", "-c",
        'echo \'{"metrics": [{"name": "recall", "numberValue": 0.5}]}\' > /mlpipeline-metrics.json'],
        file_outputs={"mlpipeline-metrics": "/mlpipeline-metrics.json"})

@dsl.pipeline(name="v1 api flaky")
def wobbly(marker: str = ""):
    flaky_op(marker)

# Experiments: create, archive, unarchive, delete.
exp = client.create_experiment("v1-api-exp")
scratch = client.create_experiment("v1-api-scratch")
client.archive_experiment(scratch.id)
out["archived"] = str(client.get_experiment(experiment_id=scratch.id).storage_state)
client._experiment_api.unarchive_experiment(scratch.id)
out["unarchived"] = str(client.get_experiment(experiment_id=scratch.id).storage_state)
client.delete_experiment(scratch.id)
out["deleted_experiment"] = status_of(lambda: client.get_experiment(experiment_id=scratch.id))

# Run metrics from a step's mlpipeline-metrics output.
m = client.create_run_from_pipeline_func(measured, arguments={}, experiment_name="v1-api-exp")
done = wait(m.run_id)
out["metrics_run"] = done.run.status
out["metrics"] = sorted([x.name, x.number_value, x.format] for x in (done.run.metrics or []))
nodes = json.loads(done.pipeline_runtime.workflow_manifest)["status"]["nodes"]
out["metric_nodes_known"] = all(x.node_id in nodes for x in (done.run.metrics or []))
out["tracking"] = json.load(urllib.request.urlopen(url + "/apis/penstock/v1/runs/%s/metrics" % m.run_id))["scalars"]
f = client.create_run_from_pipeline_func(filed, arguments={}, experiment_name="v1-api-exp")
filed_run = wait(f.run_id)
out["file_metrics"] = [filed_run.run.status] + [[x.name, x.number_value, x.format] for x in (filed_run.run.metrics or [])]
out["scalar_names"] = json.load(urllib.request.urlopen(url + "/apis/penstock/v1/scalar-names"))

# reportMetrics: one good, one bad name, one duplicate.
node = sorted(nodes)[0]
body = kfp_server_api.ApiReportRunMetricsRequest(run_id=m.run_id, metrics=[
    kfp_server_api.ApiRunMetric(name="extra", node_id=node, number_value=2.0, format="RAW"),
    kfp_server_api.ApiRunMetric(name="Bad_Name", node_id=node, number_value=1.0),
    kfp_server_api.ApiRunMetric(name="extra", node_id=node, number_value=3.0),
    kfp_server_api.ApiRunMetric(name="elsewhere", node_id="no-such-node", number_value=1.0),
])
report = client._run_api.report_run_metrics(m.run_id, body)
out["report"] = [[r.metric_name, str(r.status), r.message or ""] for r in report.results]
out["reported"] = sorted([x.name, x.number_value] for x in client.get_run(m.run_id).run.metrics)
out["report_other_run"] = raw("POST", "/apis/v1beta1/runs/%s:reportMetrics" % m.run_id,
                              {"run_id": "another", "metrics": []})

# Pipelines and versions: upload, versions, templates, run a version, delete.
package = os.path.join(workdir, "greet.yaml")
compiler.Compiler().compile(greet, package)
pipe = client.upload_pipeline(package, pipeline_name="v1-api-pipe")
ver = client.upload_pipeline_version(package, "v1-api-pipe-v2", pipeline_id=pipe.id, description="second")
out["versions"] = sorted(v.name for v in client.list_pipeline_versions(pipe.id).versions)
out["version_get"] = client._pipelines_api.get_pipeline_version(version_id=ver.id).name
out["version_owner"] = client._pipelines_api.get_pipeline_version(version_id=ver.id).resource_references[0].key.id == pipe.id
out["template"] = "hello" in client._pipelines_api.get_template(id=pipe.id).template
out["version_template"] = "hello" in client._pipelines_api.get_pipeline_version_template(version_id=ver.id).template
by_version = client.run_pipeline(exp.id, "v1-api-by-version", version_id=ver.id, params={"name": "ver"})
out["by_version"] = wait(by_version.id).run.status
client.delete_pipeline_version(ver.id)
out["deleted_version"] = status_of(lambda: client._pipelines_api.get_pipeline_version(version_id=ver.id))
client.delete_pipeline(pipe.id)
out["deleted_pipeline"] = status_of(lambda: client.get_pipeline(pipe.id))
req = urllib.request.Request(url + "/apis/v1beta1/pipeline_versions")
try:
    urllib.request.urlopen(req)
    out["versions_without_pipeline"] = "accepted"
except urllib.error.HTTPError as e:
    out["versions_without_pipeline"] = [e.code, json.load(e)]

# Runs: a failed run retried, archived, unarchived, deleted.
marker = os.path.join(workdir, "flaky-marker")
flaky_run = client.create_run_from_pipeline_func(wobbly, arguments={"marker": marker}, experiment_name="v1-api-exp")
out["first_attempt"] = wait(flaky_run.run_id).run.status
client._run_api.retry_run(flaky_run.run_id)
out["retried"] = wait(flaky_run.run_id, want="Succeeded").run.status
client._run_api.archive_run(flaky_run.run_id)
out["run_archived"] = str(client.get_run(flaky_run.run_id).run.storage_state)
client._run_api.unarchive_run(flaky_run.run_id)
out["run_unarchived"] = str(client.get_run(flaky_run.run_id).run.storage_state)
client._run_api.delete_run(flaky_run.run_id)
out["deleted_run"] = status_of(lambda: client.get_run(flaky_run.run_id))

# Jobs: one that fires every second, disabled, enabled, deleted; a cron one created disabled.
job_exp = client.create_experiment("v1-api-jobs")
job = client.create_recurring_run(job_exp.id, "v1-api-job", interval_second=1, max_concurrency=1,
                                  no_catchup=True, params={"name": "job"}, pipeline_package_path=package)
fired = None
deadline = time.time() + 120
while fired is None and time.time() < deadline:
    for r in client.list_runs(experiment_id=job_exp.id, page_size=100).runs or []:
        if any(ref.key.type == "JOB" and ref.key.id == job.id for ref in r.resource_references):
            fired = r.id
    time.sleep(0.2)
out["job_fired"] = fired is not None
out["job_run"] = wait(fired).run.status if fired else None
by_job = client._run_api.list_runs(resource_reference_key_type="JOB", resource_reference_key_id=job.id).runs or []
out["job_runs_listed"] = len(by_job) >= 1 and all(
    any(ref.key.type == "JOB" and ref.key.id == job.id for ref in r.resource_references) for r in by_job)
client.disable_job(job.id)
out["job_disabled"] = client.get_recurring_run(job.id).enabled
client._job_api.enable_job(job.id)
out["job_enabled"] = client.get_recurring_run(job.id).enabled
out["job_listed"] = [j.name for j in client.list_recurring_runs(experiment_id=job_exp.id).jobs or []]
out["job_params"] = [[p.name, p.value] for p in client.get_recurring_run(job.id).pipeline_spec.parameters]
client.delete_job(job.id)
out["deleted_job"] = status_of(lambda: client.get_recurring_run(job.id))
cron = client.create_recurring_run(job_exp.id, "v1-api-cron", cron_expression="0 0 9 ? * 2-6",
                                   pipeline_package_path=package, enabled=False)
got = client.get_recurring_run(cron.id)
out["cron"] = [got.trigger.cron_schedule.cron, got.enabled, got.max_concurrency]

# Bad input: the HTTP status and the field named.
exp_ref = [{"key": {"type": "EXPERIMENT", "id": job_exp.id}, "relationship": "OWNER"}]
spec = {"workflow_manifest": json.dumps(__import__("yaml").safe_load(open(package)))}
out["job_no_trigger"] = raw("POST", "/apis/v1beta1/jobs", {"name": "x", "max_concurrency": 1,
                             "pipeline_spec": spec, "resource_references": exp_ref})
out["job_concurrency"] = raw("POST", "/apis/v1beta1/jobs", {"name": "x", "max_concurrency": 0,
                              "trigger": {"periodic_schedule": {"interval_second": 5}},
                              "pipeline_spec": spec, "resource_references": exp_ref})
out["job_no_name"] = raw("POST", "/apis/v1beta1/jobs", {"pipeline_spec": spec})
out["job_bad_cron"] = raw("POST", "/apis/v1beta1/jobs", {"name": "x", "max_concurrency": 1,
                           "trigger": {"cron_schedule": {"cron": "every day"}},
                           "pipeline_spec": spec, "resource_references": exp_ref})
print(json.dumps(out))
"#;

/// Whether `[status, body]` is that HTTP status with a message containing `field`.
fn refused(answer: &Value, status: u16, field: &str) -> bool {
    answer[0] == status
        && answer[1]["message"]
            .as_str()
            .or_else(|| answer[1]["error"].as_str())
            .is_some_and(|m| m.contains(field))
}

/// Every v1beta1 endpoint `kfp==1.8.22`'s client reaches beyond create/get/list, driven by
/// that client: experiments archive/unarchive/delete; a step's `mlpipeline-metrics` on
/// `get_run().run.metrics`, in the tracking summary and the metric names; `reportMetrics`
/// with per-metric results; pipeline versions and templates; a failed run retried to success,
/// archived, unarchived, deleted; a job that fires, is disabled, enabled and deleted, and a cron
/// job; bad input refused with 400 naming the field.
#[test]
fn v1_client_drives_experiments_versions_runs_metrics_and_jobs() {
    let home = tempfile::tempdir().expect("temp dir");
    let dir = tempfile::tempdir().expect("temp dir");
    let server = ServerProcess::start(home.path());
    // A file, not `-c`: the v1 SDK reads component functions' source with `inspect`.
    let program = dir.path().join("client.py");
    std::fs::write(&program, SCRIPT).expect("write the client script");
    let out = Command::new(python_v1())
        .arg(&program)
        .arg(&server.url)
        .arg(dir.path())
        .env("PYTHONWARNINGS", "ignore")
        .output()
        .expect("python");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "kfp 1.8 client: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });

    assert_eq!(r["archived"], "STORAGESTATE_ARCHIVED", "{r}");
    assert_eq!(r["unarchived"], "STORAGESTATE_AVAILABLE", "{r}");
    assert_eq!(r["deleted_experiment"], 404, "{r}");

    assert_eq!(r["metrics_run"], "Succeeded", "{r}");
    assert_eq!(
        r["metrics"],
        json!([
            ["accuracy-score", 0.875, "PERCENTAGE"],
            ["loss", 1.5, "RAW"]
        ]),
        "{r}"
    );
    assert_eq!(r["metric_nodes_known"], true, "{r}");
    // `file_outputs` naming the path in the command (a ContainerOp) works the same way.
    assert_eq!(
        r["file_metrics"],
        json!(["Succeeded", ["recall", 0.5, "RAW"]]),
        "{r}"
    );
    let tracked: Vec<&str> = r["tracking"]
        .as_array()
        .map(|s| s.iter().filter_map(|x| x["name"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        tracked.contains(&"accuracy-score") && tracked.contains(&"loss"),
        "{r}"
    );
    assert!(
        r["scalar_names"].to_string().contains("accuracy-score"),
        "{r}"
    );

    let report = r["report"].as_array().expect("report results");
    assert_eq!(report[0][1], "OK", "{r}");
    assert_eq!(report[1][1], "INVALID_ARGUMENT", "{r}");
    assert!(
        report[1][2]
            .as_str()
            .is_some_and(|m| m.contains("Bad_Name")),
        "{r}"
    );
    assert_eq!(report[2][1], "DUPLICATE_REPORTING", "{r}");
    assert_eq!(report[3][1], "INVALID_ARGUMENT", "{r}");
    assert!(
        report[3][2].as_str().is_some_and(|m| m.contains("node_id")),
        "{r}"
    );
    assert!(
        r["reported"]
            .as_array()
            .is_some_and(|m| m.contains(&json!(["extra", 2.0]))),
        "{r}"
    );
    assert!(refused(&r["report_other_run"], 400, "run_id"), "{r}");

    assert_eq!(
        r["versions"],
        json!(["v1-api-pipe", "v1-api-pipe-v2"]),
        "{r}"
    );
    assert_eq!(r["version_get"], "v1-api-pipe-v2", "{r}");
    assert_eq!(r["version_owner"], true, "{r}");
    assert_eq!(r["template"], true, "{r}");
    assert_eq!(r["version_template"], true, "{r}");
    assert_eq!(r["by_version"], "Succeeded", "{r}");
    assert_eq!(r["deleted_version"], 404, "{r}");
    assert_eq!(r["deleted_pipeline"], 404, "{r}");
    assert!(
        refused(&r["versions_without_pipeline"], 400, "resource_key.id"),
        "{r}"
    );

    assert_eq!(r["first_attempt"], "Failed", "{r}");
    assert_eq!(r["retried"], "Succeeded", "{r}");
    assert_eq!(r["run_archived"], "STORAGESTATE_ARCHIVED", "{r}");
    assert_eq!(r["run_unarchived"], "STORAGESTATE_AVAILABLE", "{r}");
    assert_eq!(r["deleted_run"], 404, "{r}");

    assert_eq!(r["job_fired"], true, "{r}");
    assert_eq!(r["job_run"], "Succeeded", "{r}");
    assert_eq!(r["job_runs_listed"], true, "{r}");
    assert_eq!(r["job_disabled"], false, "{r}");
    assert_eq!(r["job_enabled"], true, "{r}");
    assert_eq!(r["job_listed"], json!(["v1-api-job"]), "{r}");
    assert_eq!(r["job_params"], json!([["name", "job"]]), "{r}");
    assert_eq!(r["deleted_job"], 404, "{r}");
    assert_eq!(r["cron"], json!(["0 0 9 ? * 2-6", false, "1"]), "{r}");

    assert!(refused(&r["job_no_trigger"], 400, "job.trigger"), "{r}");
    assert!(
        refused(&r["job_concurrency"], 400, "job.max_concurrency"),
        "{r}"
    );
    assert!(refused(&r["job_no_name"], 400, "job.name"), "{r}");
    assert!(
        refused(&r["job_bad_cron"], 400, "job.trigger.cron_schedule.cron"),
        "{r}"
    );
}
