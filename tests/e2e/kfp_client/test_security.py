"""Authentication, namespaces and cross-site protection, driven with the real kfp==2.16.1
`kfp.Client` and raw HTTP against a real `penstock server --auth tokens`.

Started by `tests/e2e/security.rs`, which creates the tokens with `penstock tokens create` and
passes them in the environment: ADMIN_TOKEN (every namespace), ALICE_TOKEN (team-a),
BOB_TOKEN (team-b), and PENSTOCK_BIN / PENSTOCK_HOME to revoke one with the CLI.
"""
import http.client
import json
import os
import subprocess
import time
import urllib.parse

import kfp
import pytest
from kfp import dsl
from kfp_server_api.exceptions import ApiException

URL = os.environ["PENSTOCK_URL"]
ADMIN = os.environ["ADMIN_TOKEN"]
ALICE = os.environ["ALICE_TOKEN"]
BOB = os.environ["BOB_TOKEN"]
HOST = urllib.parse.urlparse(URL).netloc


@dsl.container_component
def hello():
    return dsl.ContainerSpec(image="alpine", command=["echo", "hello"])


@dsl.pipeline(name="hello-pipeline")
def hello_pipeline():
    hello()


def request(method, path, body=None, headers=None):
    """One raw HTTP request; headers are sent exactly as given (Host included)."""
    conn = http.client.HTTPConnection(HOST, timeout=30)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    hdrs = {"Host": HOST}
    hdrs.update(headers or {})
    if data is not None:
        hdrs.setdefault("Content-Length", str(len(data)))
    for k, v in hdrs.items():
        conn.putheader(k, v)
    conn.endheaders(data)
    resp = conn.getresponse()
    out = resp.status, resp.read(), {k.lower(): v for k, v in resp.getheaders()}
    conn.close()
    return out


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def wait(client, run_id, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = client.get_run(run_id)
        if run.state in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


def run_count(token=ADMIN):
    status, body, _ = request("GET", "/apis/v2beta1/runs?page_size=200", headers=bearer(token))
    assert status == 200, body
    return len(json.loads(body).get("runs", []))


# ---- authentication ---------------------------------------------------------------------------

def test_without_a_token_reads_and_writes_are_refused():
    for method, path, body in [
        ("GET", "/apis/v2beta1/runs", None),
        ("GET", "/apis/v2beta1/experiments", None),
        ("POST", "/apis/v2beta1/experiments", {"display_name": "sneaky"}),
        ("GET", "/apis/penstock/v1/artifacts", None),
    ]:
        headers = {"Content-Type": "application/json"} if body else {}
        status, answer, hdrs = request(method, path, body, headers)
        assert status == 401, (method, path, status, answer)
        assert json.loads(answer)["code"] == 16
        assert "Bearer" in hdrs.get("www-authenticate", "")
    status, answer, _ = request("GET", "/apis/v2beta1/runs", headers=bearer("pst_not-a-real-token"))
    assert status == 401 and b"unknown or revoked" in answer
    # The health check kfp.Client calls first stays open, and says the server is multi-user.
    status, answer, _ = request("GET", "/apis/v2beta1/healthz")
    assert status == 200 and json.loads(answer)["multi_user"] is True
    with pytest.raises(ApiException) as err:
        kfp.Client(host=URL).list_experiments()
    assert err.value.status == 401


def test_the_kfp_client_with_a_token_runs_a_pipeline():
    client = kfp.Client(host=URL, existing_token=ADMIN)
    run = client.create_run_from_pipeline_func(hello_pipeline, arguments={}, experiment_name="admin-exp")
    assert wait(client, run.run_id).state == "SUCCEEDED"


# ---- namespaces -------------------------------------------------------------------------------

def test_namespaces_isolate_experiments_runs_and_recurring_runs(tmp_path):
    alice = kfp.Client(host=URL, existing_token=ALICE, namespace="team-a")
    bob = kfp.Client(host=URL, existing_token=BOB, namespace="team-b")
    admin = kfp.Client(host=URL, existing_token=ADMIN)

    run = alice.create_run_from_pipeline_func(hello_pipeline, arguments={}, experiment_name="alice-exp")
    assert wait(alice, run.run_id).state == "SUCCEEDED"
    exp = alice.get_experiment(experiment_name="alice-exp", namespace="team-a")
    assert exp.namespace == "team-a"
    bob_run = bob.create_run_from_pipeline_func(hello_pipeline, arguments={}, experiment_name="bob-exp")
    assert wait(bob, bob_run.run_id).state == "SUCCEEDED"

    # Bob cannot see Alice's objects: 404, exactly as for ids that do not exist.
    for call in [lambda: bob.get_run(run.run_id), lambda: bob.get_experiment(experiment_id=exp.experiment_id)]:
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == 404
    status, missing, _ = request("GET", "/apis/v2beta1/runs/00000000-0000-0000-0000-000000000000", headers=bearer(BOB))
    status2, hidden, _ = request("GET", f"/apis/v2beta1/runs/{run.run_id}", headers=bearer(BOB))
    assert status == status2 == 404
    # ... nor act on them, nor read their logs.
    for method, path in [("POST", f"/apis/v2beta1/runs/{run.run_id}:archive"),
                         ("DELETE", f"/apis/v2beta1/runs/{run.run_id}"),
                         ("DELETE", f"/apis/v2beta1/experiments/{exp.experiment_id}"),
                         ("GET", f"/apis/penstock/v1/runs/{run.run_id}/metrics")]:
        status, answer, _ = request(method, path, headers=bearer(BOB))
        assert status == 404, (method, path, status, answer)
    # Lists show only one's own namespace; naming another one is refused.
    bob_runs = bob.list_runs(namespace="team-b", page_size=100).runs or []
    assert [r.run_id for r in bob_runs] == [bob_run.run_id]
    bob_exps = [e.display_name for e in (bob.list_experiments(namespace="team-b").experiments or [])]
    assert bob_exps == ["bob-exp"]
    with pytest.raises(ApiException) as err:
        bob.list_runs(namespace="team-a")
    assert err.value.status == 403
    # Bob cannot start a run in Alice's experiment, nor create one in her namespace.
    status, answer, _ = request("POST", "/apis/v2beta1/runs",
                                {"display_name": "intruder", "experiment_id": exp.experiment_id,
                                 "pipeline_spec": {"pipelineInfo": {"name": "x"}}},
                                {"Content-Type": "application/json", **bearer(BOB)})
    assert status == 404, answer
    status, answer, _ = request("POST", "/apis/v2beta1/experiments",
                                {"display_name": "squat", "namespace": "team-a"},
                                {"Content-Type": "application/json", **bearer(BOB)})
    assert status == 403 and b"team-a" in answer, answer
    # The artifacts list and the metric names stay inside the namespace too.
    status, answer, _ = request("GET", "/apis/penstock/v1/artifacts", headers=bearer(BOB))
    assert status == 200
    assert all(a["run_id"] == bob_run.run_id for a in json.loads(answer).get("artifacts", []))

    # The admin token sees both namespaces.
    all_runs = {r.run_id for r in (admin.list_runs(page_size=100).runs or [])}
    assert {run.run_id, bob_run.run_id} <= all_runs
    assert admin.get_run(run.run_id).run_id == run.run_id

    # Recurring runs belong to their experiment's namespace.
    from kfp import compiler
    package = tmp_path / "hello.yaml"
    compiler.Compiler().compile(hello_pipeline, str(package))
    rr = alice.create_recurring_run(experiment_id=exp.experiment_id, job_name="alice-nightly",
                                    cron_expression="0 0 3 * * *", pipeline_package_path=str(package))
    with pytest.raises(ApiException) as err:
        bob.get_recurring_run(rr.recurring_run_id)
    assert err.value.status == 404
    assert not (bob.list_recurring_runs(namespace="team-b").recurring_runs or [])
    alice.delete_recurring_run(rr.recurring_run_id)


def test_pipelines_are_shared_unless_given_a_namespace(tmp_path):
    from kfp import compiler
    alice = kfp.Client(host=URL, existing_token=ALICE, namespace="team-a")
    bob = kfp.Client(host=URL, existing_token=BOB, namespace="team-b")
    package = tmp_path / "hello.yaml"
    compiler.Compiler().compile(hello_pipeline, str(package))
    shared = alice.upload_pipeline(str(package), pipeline_name="shared-hello")
    private = alice.upload_pipeline(str(package), pipeline_name="private-hello", namespace="team-a")
    assert bob.get_pipeline(shared.pipeline_id).display_name == "shared-hello"
    with pytest.raises(ApiException) as err:
        bob.get_pipeline(private.pipeline_id)
    assert err.value.status == 404
    names = {p.display_name for p in (bob.list_pipelines(page_size=100).pipelines or [])}
    assert "shared-hello" in names and "private-hello" not in names


def test_a_revoked_token_is_refused():
    carol = subprocess.run([os.environ["PENSTOCK_BIN"], "tokens", "create", "--name", "carol"],
                           env={**os.environ, "PENSTOCK_HOME": os.environ["PENSTOCK_HOME"]},
                           capture_output=True, text=True, check=True).stdout.strip()
    assert request("GET", "/apis/v2beta1/experiments", headers=bearer(carol))[0] == 200
    listed = subprocess.run([os.environ["PENSTOCK_BIN"], "tokens", "list"],
                            env={**os.environ, "PENSTOCK_HOME": os.environ["PENSTOCK_HOME"]},
                            capture_output=True, text=True, check=True).stdout
    assert "carol" in listed and carol not in listed
    subprocess.run([os.environ["PENSTOCK_BIN"], "tokens", "revoke", "carol"],
                   env={**os.environ, "PENSTOCK_HOME": os.environ["PENSTOCK_HOME"]}, check=True,
                   capture_output=True)
    assert request("GET", "/apis/v2beta1/experiments", headers=bearer(carol))[0] == 401


# ---- sign-in cookie -----------------------------------------------------------------------------

def test_sign_in_sets_a_strict_http_only_cookie():
    status, answer, hdrs = request("POST", "/apis/penstock/v1/session", {"token": ALICE},
                                   {"Content-Type": "application/json"})
    assert status == 200, answer
    cookie = hdrs["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    value = cookie.split(";")[0]
    status, answer, _ = request("GET", "/apis/penstock/v1/session", headers={"Cookie": value})
    assert status == 200 and json.loads(answer)["namespaces"] == ["team-a"]
    status, _, _ = request("GET", "/apis/v2beta1/experiments?namespace=team-a", headers={"Cookie": value})
    assert status == 200
    status, answer, _ = request("POST", "/apis/penstock/v1/session", {"token": "pst_wrong"},
                                {"Content-Type": "application/json"})
    assert status == 401


# ---- cross-site requests and hosts -------------------------------------------------------------

SPEC = {"pipelineInfo": {"name": "csrf"}, "schemaVersion": "2.1.0",
        "deploymentSpec": {"executors": {"e": {"container": {"image": "alpine", "command": ["true"]}}}},
        "components": {"comp-t": {"executorLabel": "e"}},
        "root": {"dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "t"}}}}}}


def test_cross_site_writes_are_refused_even_with_credentials():
    before = run_count()
    body = json.dumps({"display_name": "csrf", "pipeline_spec": SPEC}).encode()
    # What a no-cors fetch or an HTML form from another page can send.
    for headers, code in [
        ({"Content-Type": "text/plain;charset=UTF-8"}, 415),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "application/json", "Origin": "http://evil.example"}, 403),
        ({"Content-Type": "application/json", "Origin": "null"}, 403),
        ({"Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"}, 403),
    ]:
        status, answer, _ = request("POST", "/apis/v2beta1/runs", body, {**headers, **bearer(ADMIN)})
        assert status == code, (headers, status, answer)
    # The server's own origin is fine.
    status, answer, _ = request("POST", "/apis/v2beta1/runs", body,
                                {"Content-Type": "application/json", "Origin": f"http://{HOST}", **bearer(ADMIN)})
    assert status == 200, answer
    assert run_count() == before + 1


def test_a_foreign_host_header_is_refused():
    # DNS rebinding: a name that resolves to this machine, sent by a page of that name.
    for host in ["evil.example", f"evil.example:{HOST.rsplit(':', 1)[1]}", "localhost.evil.example"]:
        status, answer, _ = request("GET", "/apis/v2beta1/healthz", headers={"Host": host})
        assert status == 403 and b"--allowed-host" in answer, (host, status, answer)
    status, _, _ = request("GET", "/apis/v2beta1/healthz", headers={"Host": f"localhost:{HOST.rsplit(':', 1)[1]}"})
    assert status == 200


def test_security_headers_on_every_answer():
    status, _, hdrs = request("GET", "/")
    assert status == 200
    csp = hdrs["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp
    assert hdrs["x-frame-options"] == "SAMEORIGIN"
    assert hdrs["x-content-type-options"] == "nosniff"
    assert hdrs["referrer-policy"] == "same-origin"
    status, _, hdrs = request("GET", "/apis/v2beta1/runs", headers=bearer(ADMIN))
    assert hdrs["x-content-type-options"] == "nosniff"


def test_strict_json_and_size_limits():
    headers = {"Content-Type": "application/json", **bearer(ADMIN)}
    status, answer, _ = request("POST", "/apis/v2beta1/experiments", b'{"display_name": "x"} trailing', headers)
    assert status == 400 and b"after the JSON body" in answer, answer
    status, answer, _ = request("POST", "/apis/v2beta1/experiments", {"display_name": "n" * 10_000}, headers)
    assert status == 400 and b"max_name_chars" in answer, answer
