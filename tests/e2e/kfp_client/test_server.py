"""The real kfp==2.16.1 `kfp.Client` against a real `penstock server`.

Started by `tests/e2e/server.rs`, which runs the server and passes its URL in PENSTOCK_URL and
a scratch folder in PENSTOCK_TEST_TMP.
"""
import json
import os
import subprocess
import time
import urllib.error
import urllib.request

import kfp
import pytest
from kfp import compiler, dsl
from kfp_server_api.exceptions import ApiException

URL = os.environ["PENSTOCK_URL"]
TMP = os.environ["PENSTOCK_TEST_TMP"]
# The server runs with --auth tokens; every request carries this token.
TOKEN = os.environ["PENSTOCK_TOKEN"]
AUTH = {"authorization": f"Bearer {TOKEN}"}


def get_url(url):
    """urlopen with the token."""
    return urllib.request.urlopen(urllib.request.Request(url, headers=AUTH))


@pytest.fixture(scope="module")
def client():
    return kfp.Client(host=URL, existing_token=TOKEN)


# ---- pipelines used below (container components: no Python start-up per step) -------------

@dsl.container_component
def say(text: str, said: dsl.OutputPath(str)):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'echo "saying $0"; mkdir -p "$(dirname "$1")"; printf %s "$0" > "$1"'],
        args=[text, said],
    )


@dsl.container_component
def must_exist(marker: str, upstream: str):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'echo "checking $0 after $1"; test -f "$0"'],
        args=[marker, upstream],
    )


@dsl.container_component
def nap(seconds: str):
    return dsl.ContainerSpec(image="alpine", command=["sleep", seconds])


@dsl.container_component
def write_artifact(text: str, data: dsl.Output[dsl.Dataset]):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'mkdir -p "$(dirname "$1")"; printf "%s\\n" "$0" > "$1"'],
        args=[text, data.path],
    )


@dsl.container_component
def chatty(lines: int):
    return dsl.ContainerSpec(
        image="alpine",
        command=["sh", "-c", 'i=0; while [ $i -lt "$0" ]; do echo "line $i"; i=$((i+1)); sleep 0.2; done'],
        args=[lines],
    )


@dsl.pipeline(name="greeting")
def greeting(text: str = "hello"):
    say(text=text)


@dsl.pipeline(name="retryable")
def retryable(marker: str):
    first = say(text="first")
    must_exist(marker=marker, upstream=first.output)


@dsl.pipeline(name="napping")
def napping(seconds: str = "3600.0417"):
    nap(seconds=seconds)


@dsl.pipeline(name="artifact-writer")
def artifact_writer(text: str = "contents"):
    write_artifact(text=text)


@dsl.pipeline(name="chatter")
def chatter(lines: int = 10):
    chatty(lines=lines)


def compiled(pipeline_func, name):
    path = os.path.join(TMP, f"{name}.yaml")
    compiler.Compiler().compile(pipeline_func, path)
    return path


def wait(client, run_id, states=("SUCCEEDED", "FAILED", "CANCELED"), timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = client.get_run(run_id)
        if run.state in states:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not reach {states}: {client.get_run(run_id).state}")


def task(run, name):
    for t in run.run_details.task_details:
        if t.display_name == name:
            return t
    raise AssertionError(f"no task {name} in {[t.display_name for t in run.run_details.task_details]}")


def raw(method, path, body=None, prefix=""):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(URL + prefix + path, data=data, method=method,
                                 headers={"content-type": "application/json", **AUTH})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


# ---- experiments ------------------------------------------------------------------------

def test_experiments(client):
    listed = client.list_experiments(page_size=50)
    assert "Default" in [e.display_name for e in listed.experiments]
    exp = client.create_experiment("exp-a", description="first")
    assert client.create_experiment("exp-a").experiment_id == exp.experiment_id  # found, not duplicated
    assert client.get_experiment(experiment_id=exp.experiment_id).description == "first"
    assert client.get_experiment(experiment_name="exp-a").experiment_id == exp.experiment_id
    status, body = raw("POST", "/apis/v2beta1/experiments", {"display_name": "exp-a"})
    assert status == 409 and json.loads(body)["code"] == 6
    client.archive_experiment(exp.experiment_id)
    assert client.get_experiment(experiment_id=exp.experiment_id).storage_state == "ARCHIVED"
    client.unarchive_experiment(exp.experiment_id)
    assert client.get_experiment(experiment_id=exp.experiment_id).storage_state == "AVAILABLE"
    client.delete_experiment(exp.experiment_id)
    with pytest.raises(ApiException) as err:
        client.get_experiment(experiment_id=exp.experiment_id)
    assert err.value.status == 404


# ---- pipelines --------------------------------------------------------------------------

def test_pipelines_and_versions(client):
    path = compiled(greeting, "greeting")
    p = client.upload_pipeline(path, pipeline_name="greeting-p", description="says hello")
    assert client.get_pipeline(p.pipeline_id).description == "says hello"
    assert client.get_pipeline_id("greeting-p") == p.pipeline_id
    v2 = client.upload_pipeline_version(path, pipeline_version_name="v2", pipeline_id=p.pipeline_id)
    versions = client.list_pipeline_versions(p.pipeline_id, page_size=10)
    assert versions.total_size == 2
    assert client.get_pipeline_version(p.pipeline_id, v2.pipeline_version_id).display_name == "v2"
    assert client.get_pipeline_version(p.pipeline_id, v2.pipeline_version_id).pipeline_spec["pipelineInfo"]["name"] == "greeting"
    with pytest.raises(ApiException) as err:
        client.upload_pipeline(path, pipeline_name="greeting-p")
    assert err.value.status == 409
    # Deleting a pipeline that still has versions is refused (the SDK sends no cascade).
    with pytest.raises(ApiException) as err:
        client.delete_pipeline(p.pipeline_id)
    assert err.value.status == 400
    for v in versions.pipeline_versions:
        client.delete_pipeline_version(p.pipeline_id, v.pipeline_version_id)
    client.delete_pipeline(p.pipeline_id)
    with pytest.raises(ApiException) as err:
        client.get_pipeline(p.pipeline_id)
    assert err.value.status == 404


def test_invalid_upload_is_rejected_and_creates_nothing(client):
    bad = os.path.join(TMP, "bad.yaml")
    with open(bad, "w") as f:
        f.write("pipelineInfo: {name: bad}\nschemaVersion: 2.1.0\nroot:\n  dag:\n    tasks:\n      t: {componentRef: {name: comp-missing}, taskInfo: {name: t}}\n")
    before = client.list_pipelines(page_size=100).total_size or 0
    with pytest.raises(ApiException) as err:
        client.upload_pipeline(bad, pipeline_name="bad-p")
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert "comp-missing" in body["error_message"] and "bad.yaml" in body["error_message"]
    assert (client.list_pipelines(page_size=100).total_size or 0) == before


# ---- runs -------------------------------------------------------------------------------

def test_three_ways_to_start_a_run(client):
    exp = client.create_experiment("runs-exp")
    # 1. From a pipeline function (compiled by the client, sent inline).
    r1 = client.create_run_from_pipeline_func(greeting, arguments={"text": "from-func"}, experiment_name="runs-exp")
    # 2. From a compiled package.
    path = compiled(greeting, "greeting2")
    r2 = client.create_run_from_pipeline_package(path, arguments={"text": "from-package"}, experiment_name="runs-exp")
    # 3. From a stored pipeline version.
    p = client.upload_pipeline(path, pipeline_name="greeting-runs")
    latest = client.upload_pipeline_version(path, pipeline_version_name="latest", pipeline_id=p.pipeline_id)
    first = [v for v in client.list_pipeline_versions(p.pipeline_id).pipeline_versions if v.pipeline_version_id != latest.pipeline_version_id][0]
    r3 = client.run_pipeline(experiment_id=exp.experiment_id, job_name="from-version", pipeline_id=p.pipeline_id,
                             version_id=first.pipeline_version_id, params={"text": "from-version"})
    # A reference without a version id means the latest version.
    status, body = raw("POST", "/apis/v2beta1/runs", {
        "display_name": "from-latest", "experiment_id": exp.experiment_id,
        "pipeline_version_reference": {"pipeline_id": p.pipeline_id},
        "runtime_config": {"parameters": {"text": "from-latest"}}})
    assert status == 200, body
    r4 = json.loads(body)
    assert r4["pipeline_version_reference"]["pipeline_version_id"] == latest.pipeline_version_id
    for run_id, text in [(r1.run_id, "from-func"), (r2.run_id, "from-package"), (r3.run_id, "from-version"), (r4["run_id"], "from-latest")]:
        run = wait(client, run_id)
        assert run.state == "SUCCEEDED", run.error
        assert run.experiment_id == exp.experiment_id
        said = task(run, "say")
        assert said.state == "SUCCEEDED"
        assert run.runtime_config.parameters["text"] == text


def test_wrongly_typed_parameters_are_rejected(client):
    path = compiled(chatter, "chatter-typed")
    before = client.list_runs(page_size=1).total_size or 0
    with pytest.raises(ApiException) as err:
        client.create_run_from_pipeline_package(path, arguments={"lines": "many"})
    assert err.value.status == 400
    assert "lines" in json.loads(err.value.body)["message"]
    assert (client.list_runs(page_size=1).total_size or 0) == before


def test_failed_run_then_retry_reruns_only_what_did_not_succeed(client):
    marker = os.path.join(TMP, "retry-marker")
    run = client.create_run_from_pipeline_func(retryable, arguments={"marker": marker})
    failed = wait(client, run.run_id)
    assert failed.state == "FAILED"
    assert "must-exist" in failed.error.message
    first_before = task(failed, "say")
    assert first_before.state == "SUCCEEDED"
    open(marker, "w").close()
    client.runs.run_service_retry_run(run.run_id)
    assert client.get_run(run.run_id).state in ("RUNNING", "SUCCEEDED"), "retry answers once the run is reopened"
    retried = wait(client, run.run_id, states=("SUCCEEDED", "FAILED"))
    assert retried.state == "SUCCEEDED", retried.error
    first_after = task(retried, "say")
    assert first_after.start_time == first_before.start_time  # not executed again
    status, body = raw("GET", f"/apis/v2beta1/runs/{run.run_id}")
    details = {t["display_name"]: t for t in json.loads(body)["run_details"]["task_details"]}
    assert details["say"]["penstock"]["attempts"] == 1
    assert details["must-exist"]["penstock"]["attempts"] == 2
    # Only FAILED runs can be retried.
    with pytest.raises(ApiException) as err:
        client.runs.run_service_retry_run(run.run_id)
    assert err.value.status == 400


def test_terminate_cancels_within_two_seconds_and_kills_the_process(client):
    run = client.create_run_from_pipeline_func(napping, arguments={"seconds": "3600.0417"})
    deadline = time.time() + 60
    while time.time() < deadline:
        got = client.get_run(run.run_id)
        if got.run_details and any(t.state == "RUNNING" and t.display_name == "nap" for t in got.run_details.task_details):
            break
        time.sleep(0.1)
    # RUNNING is recorded before the process is spawned (state is stored before it is acted
    # on), so wait until the process exists.
    deadline = time.time() + 30
    while subprocess.run(["pgrep", "-f", "sleep 3600.0417"], capture_output=True).returncode != 0:
        assert time.time() < deadline, "the task's process never started"
        time.sleep(0.05)
    client.terminate_run(run.run_id)  # answers once the run is recorded CANCELED (at most 2 s)
    assert client.get_run(run.run_id).state == "CANCELED"
    assert subprocess.run(["pgrep", "-f", "sleep 3600.0417"], capture_output=True).returncode == 1
    with pytest.raises(ApiException) as err:
        client.terminate_run(run.run_id)
    assert err.value.status == 400


def test_list_runs_with_filter_sort_and_page_tokens(client):
    exp = client.create_experiment("paging-exp")
    path = compiled(greeting, "greeting-paging")
    ids = []
    for i in range(5):
        ids.append(client.create_run_from_pipeline_package(path, run_name=f"page-{i}", experiment_name="paging-exp").run_id)
    for run_id in ids:
        wait(client, run_id)
    seen, token = [], ""
    while True:
        page = client.list_runs(experiment_id=exp.experiment_id, page_size=2, page_token=token, sort_by="created_at desc")
        assert page.total_size == 5
        seen += [r.run_id for r in page.runs]
        token = page.next_page_token
        if not token:
            break
        # Rows inserted between pages do not disturb the next page.
        if len(seen) == 2:
            client.create_run_from_pipeline_package(path, run_name="late", experiment_name="Default")
    assert seen == list(reversed(ids))
    by_name = client.list_runs(experiment_id=exp.experiment_id, sort_by="name desc")
    assert [r.display_name for r in by_name.runs] == [f"page-{i}" for i in reversed(range(5))]
    sdk_filter = json.dumps({"predicates": [{"operation": 1, "key": "display_name", "stringValue": "page-3"}]})
    assert [r.run_id for r in client.list_runs(experiment_id=exp.experiment_id, filter=sdk_filter).runs] == [ids[3]]
    ui_filter = json.dumps({"predicates": [{"key": "name", "operation": "IS_SUBSTRING", "string_value": "page-"},
                                           {"key": "state", "operation": "EQUALS", "string_value": "SUCCEEDED"}]})
    assert client.list_runs(experiment_id=exp.experiment_id, filter=ui_filter).total_size == 5
    in_filter = json.dumps({"predicates": [{"key": "name", "operation": "IN", "string_values": {"values": ["page-0", "page-4"]}}]})
    assert sorted(r.display_name for r in client.list_runs(experiment_id=exp.experiment_id, filter=in_filter).runs) == ["page-0", "page-4"]
    with pytest.raises(ApiException) as err:
        client.list_runs(filter=json.dumps({"predicates": [{"operation": 1, "key": "colour", "stringValue": "x"}]}))
    assert err.value.status == 400 and "colour" in json.loads(err.value.body)["message"]
    with pytest.raises(ApiException) as err:
        client.list_runs(page_token="not-a-token")
    assert err.value.status == 400


def test_archive_unarchive_and_delete_runs(client):
    run = client.create_run_from_pipeline_func(greeting, arguments={"text": "archive-me"})
    wait(client, run.run_id)
    client.archive_run(run.run_id)
    assert client.get_run(run.run_id).storage_state == "ARCHIVED"
    active = json.dumps({"predicates": [{"key": "storage_state", "operation": "NOT_EQUALS", "string_value": "ARCHIVED"}]})
    assert run.run_id not in [r.run_id for r in (client.list_runs(filter=active, page_size=200).runs or [])]
    client.unarchive_run(run.run_id)
    assert client.get_run(run.run_id).storage_state == "AVAILABLE"
    client.delete_run(run.run_id)
    with pytest.raises(ApiException) as err:
        client.get_run(run.run_id)
    assert err.value.status == 404


# ---- recurring runs -------------------------------------------------------------------------

def test_recurring_run_records(client):
    exp = client.create_experiment("recurring-exp")
    path = compiled(greeting, "greeting-recurring")
    rr = client.create_recurring_run(
        experiment_id=exp.experiment_id, job_name="nightly", description="every night",
        cron_expression="0 0 3 * * *", max_concurrency=2, no_catchup=True,
        params={"text": "scheduled"}, pipeline_package_path=path, enabled=False)
    assert rr.status == "DISABLED" and rr.max_concurrency == "2" and rr.no_catchup is True
    got = client.get_recurring_run(rr.recurring_run_id)
    assert got.trigger.cron_schedule.cron == "0 0 3 * * *"
    assert got.runtime_config.parameters == {"text": "scheduled"}
    listed = client.list_recurring_runs(experiment_id=exp.experiment_id)
    assert [r.recurring_run_id for r in listed.recurring_runs] == [rr.recurring_run_id]
    client.enable_recurring_run(rr.recurring_run_id)
    assert client.get_recurring_run(rr.recurring_run_id).status == "ENABLED"
    client.disable_recurring_run(rr.recurring_run_id)
    assert client.get_recurring_run(rr.recurring_run_id).status == "DISABLED"
    client.delete_recurring_run(rr.recurring_run_id)
    with pytest.raises(ApiException) as err:
        client.get_recurring_run(rr.recurring_run_id)
    assert err.value.status == 404
    with open(path) as f:
        import yaml
        pipeline_spec = yaml.safe_load(f)
    for trigger, concurrency, field in [
        ({"cron_schedule": {"cron": "not a cron"}}, 1, "cron"),
        ({"periodic_schedule": {"interval_second": 0}}, 1, "interval_second"),
        ({"cron_schedule": {"cron": "0 * * * * *"}}, 11, "max_concurrency"),
        ({"periodic_schedule": {"interval_second": 60, "start_time": "2030-01-02T00:00:00Z",
                                "end_time": "2030-01-01T00:00:00Z"}}, 1, "end_time"),
    ]:
        status, body = raw("POST", "/apis/v2beta1/recurringruns", {
            "display_name": "bad", "experiment_id": exp.experiment_id, "pipeline_spec": pipeline_spec,
            "trigger": trigger, "max_concurrency": concurrency, "mode": "ENABLE"})
        assert status == 400, body
        assert field in json.loads(body)["message"], body
    assert client.list_recurring_runs(experiment_id=exp.experiment_id).total_size in (None, 0)


# ---- prefix, logs and artifacts --------------------------------------------------------------

def test_pipeline_prefix(client):
    prefixed = kfp.Client(host=URL + "/pipeline", existing_token=TOKEN)
    exp = prefixed.create_experiment("prefixed-exp")
    assert client.get_experiment(experiment_id=exp.experiment_id).display_name == "prefixed-exp"
    status, body = raw("GET", "/apis/v2beta1/healthz", prefix="/pipeline")
    # A server that authenticates is multi-user (namespaces are enforced).
    assert status == 200 and json.loads(body)["multi_user"] is True


def test_logs_followed_live_and_artifact_content(client):
    run = client.create_run_from_pipeline_func(chatter, arguments={"lines": 10})
    deadline = time.time() + 60
    task_id = None
    while time.time() < deadline and task_id is None:
        got = client.get_run(run.run_id)
        for t in (got.run_details.task_details if got.run_details else []) or []:
            if t.display_name == "chatty" and t.state == "RUNNING":
                task_id = t.task_id
        time.sleep(0.05)
    assert task_id, "the task never ran"
    with get_url(f"{URL}/apis/penstock/v1/runs/{run.run_id}/tasks/{task_id}/logs?follow=true") as resp:
        followed = resp.read().decode()
    # The stream ended only when the task did, with every line in it.
    assert client.get_run(run.run_id).state in ("SUCCEEDED", "RUNNING")
    for i in range(10):
        assert f"line {i}\n" in followed
    assert wait(client, run.run_id).state == "SUCCEEDED"

    run = client.create_run_from_pipeline_func(artifact_writer, arguments={"text": "dataset rows"})
    done = wait(client, run.run_id)
    t = task(done, "write-artifact")
    base = f"{URL}/apis/penstock/v1/runs/{run.run_id}/tasks/{t.task_id}/artifacts/data"
    with get_url(base) as resp:
        assert resp.read() == b"dataset rows\n"
    status, _ = raw("GET", f"/apis/penstock/v1/runs/{run.run_id}/tasks/{t.task_id}/artifacts/nope")
    assert status == 404
    status, body = raw("GET", f"/apis/penstock/v1/runs/{run.run_id}/tasks/{t.task_id}/artifacts/data?file=../../../../../../etc/passwd")
    assert status in (400, 404) and b"root:" not in body, body
    # No oracle: a host file that exists and one that does not get the same answer, and no
    # answer carries a host path.
    answers = []
    for probe in ["/etc/passwd", "/etc/no-such-file-here", "../../../../../../../etc/passwd",
                  "../../../../../../../etc/no-such-file-here"]:
        status, body = raw("GET", f"/apis/penstock/v1/runs/{run.run_id}/tasks/{t.task_id}/artifacts/data?file={probe}")
        message = json.loads(body)["message"]
        assert status == 404, (probe, status, body)
        assert TMP not in message and "/tmp/" not in message.replace(probe, ""), message
        answers.append(message.replace(probe, "PROBE"))
    assert len(set(answers)) == 1, answers


def test_openapi_document_lists_what_is_served():
    status, body = raw("GET", "/apis/penstock/v1/openapi.json")
    doc = json.loads(body)
    assert status == 200 and doc["openapi"].startswith("3.")
    for path in ["/apis/v2beta1/runs", "/apis/v2beta1/recurringruns", "/apis/v2beta1/pipelines/upload",
                 "/apis/penstock/v1/runs/{run_id}/tasks/{task_id}/logs",
                 "/apis/penstock/v1/runs/{run_id}/metrics"]:
        assert path in doc["paths"], path


# ---- the scheduler (real time) ------------------------------------------------------------------

def scheduled_seconds(client, experiment_id):
    runs = client.list_runs(experiment_id=experiment_id, page_size=200, sort_by="scheduled_at").runs or []
    return [int(r.scheduled_at.timestamp()) for r in runs if r.recurring_run_id]


def test_recurring_runs_fire_on_time_and_stop_when_disabled(client):
    exp = client.create_experiment("cadence-exp")
    path = compiled(greeting, "greeting-cadence")
    every_second = client.create_recurring_run(
        experiment_id=exp.experiment_id, job_name="every-second", interval_second=1,
        max_concurrency=10, pipeline_package_path=path, params={"text": "tick [[Index]]"})
    time.sleep(3.6)
    client.disable_recurring_run(every_second.recurring_run_id)
    seconds = scheduled_seconds(client, exp.experiment_id)
    assert len(seconds) >= 3, seconds
    assert [b - a for a, b in zip(seconds, seconds[1:])] == [1] * (len(seconds) - 1), seconds
    runs = client.list_runs(experiment_id=exp.experiment_id, page_size=200, sort_by="scheduled_at").runs
    assert [r.runtime_config.parameters["text"] for r in runs] == [f"tick {i}" for i in range(1, len(runs) + 1)]
    time.sleep(2)
    assert scheduled_seconds(client, exp.experiment_id) == seconds, "disabled schedules start nothing"

    cron_exp = client.create_experiment("cron-exp")
    cron = client.create_recurring_run(
        experiment_id=cron_exp.experiment_id, job_name="even-seconds", cron_expression="*/2 * * * * *",
        max_concurrency=10, pipeline_package_path=path)
    assert client.get_recurring_run(cron.recurring_run_id).trigger.cron_schedule.cron == "*/2 * * * * *"
    time.sleep(4.6)
    client.delete_recurring_run(cron.recurring_run_id)
    seconds = scheduled_seconds(client, cron_exp.experiment_id)
    assert len(seconds) >= 2, seconds
    assert all(s % 2 == 0 for s in seconds), seconds
    assert [b - a for a, b in zip(seconds, seconds[1:])] == [2] * (len(seconds) - 1), seconds
    for r in client.list_runs(experiment_id=cron_exp.experiment_id, page_size=200).runs:
        assert r.recurring_run_id == cron.recurring_run_id
        assert wait(client, r.run_id).state == "SUCCEEDED"


# ---- experiment tracking ------------------------------------------------------------------------

@dsl.component
def learn(epochs: int, metrics: dsl.Output[dsl.Metrics]) -> float:
    import json
    import os
    with open(os.environ["PENSTOCK_METRICS_FILE"], "a") as f:
        for e in range(epochs):
            f.write(json.dumps({"step": e * 10, "loss": 1.0 / (e + 1), "lr": 0.1}) + "\n")
        f.write("[1, 2]\n")
        f.write(json.dumps({"loss": 0.125, "note": "text"}) + "\n")
    metrics.log_metric("accuracy", 0.75)
    return 0.5


@dsl.pipeline(name="learning")
def learning(epochs: int = 3):
    learn(epochs=epochs)


def test_metrics_api_reports_config_scalars_and_curves(client):
    run = client.create_run_from_pipeline_func(learning, arguments={"epochs": 3})
    done = wait(client, run.run_id, timeout=300)
    assert done.state == "SUCCEEDED", done.error
    status, body = raw("GET", f"/apis/penstock/v1/runs/{run.run_id}/metrics")
    assert status == 200, body
    m = json.loads(body)
    assert m["config"] == {"epochs": 3}
    assert m["task_config"] == {"learn": {"epochs": 3}}
    assert sorted((s["task"], s["name"], s["value"]) for s in m["scalars"]) == [
        ("learn", "Output", 0.5), ("learn", "accuracy", 0.75)]
    curves = {s["name"]: s for s in m["series"]}
    assert sorted(curves) == ["loss", "lr"]
    assert [(p["step"], p["value"]) for p in curves["loss"]["points"]] == [
        (0, 1.0), (10, 0.5), (20, 1 / 3), (5, 0.125)]  # the last line had no step: its line number
    assert [p["step"] for p in curves["lr"]["points"]] == [0, 10, 20]
    assert all(p["time"].endswith("Z") for p in curves["loss"]["points"])
    t = task(done, "learn")
    with get_url(f"{URL}/apis/penstock/v1/runs/{run.run_id}/tasks/{t.task_id}/logs") as resp:
        log = resp.read().decode()
    assert "PENSTOCK_METRICS_FILE line 4 skipped" in log
    assert 'line 5: "note" skipped' in log
    status, _ = raw("GET", "/apis/penstock/v1/runs/nope/metrics")
    assert status == 404
