"""The web UI in a real browser: Debian's headless chromium driven over WebDriver (chromedriver)
against a real `penstock server` (started by tests/e2e/ui.rs, URL in PENSTOCK_URL). Screenshots of
the main pages go to PENSTOCK_SCREENSHOTS for reviewers.
"""
import json
import os
import shutil
import time

import kfp
import pytest
from kfp import dsl
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

URL = os.environ["PENSTOCK_URL"]
SHOTS = os.environ["PENSTOCK_SCREENSHOTS"]


@dsl.container_component
def say(text: str, said: dsl.OutputPath(str)):
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'echo "saying $0"; mkdir -p "$(dirname "$1")"; printf %s "$0" > "$1"'], args=[text, said])


@dsl.container_component
def chatty(lines: int):
    return dsl.ContainerSpec(image="alpine", command=["sh", "-c", 'i=0; while [ $i -lt "$0" ]; do echo "line $i"; i=$((i+1)); sleep 0.3; done'], args=[lines])


@dsl.component
def learn(epochs: int, metrics: dsl.Output[dsl.Metrics]) -> float:
    import json
    import os
    with open(os.environ["PENSTOCK_METRICS_FILE"], "a") as f:
        for e in range(epochs):
            f.write(json.dumps({"step": e, "loss": 1.0 / (e + 1)}) + "\n")
    metrics.log_metric("accuracy", round(1 - 1.0 / (epochs + 1), 4))
    return 1.0 / epochs


@dsl.pipeline(name="ui-greeting")
def greeting(text: str = "hello"):
    first = say(text=text)
    say(text=first.output)


@dsl.pipeline(name="ui-chatter")
def chatter(lines: int = 15):
    chatty(lines=lines)


@dsl.pipeline(name="ui-learning")
def learning(epochs: int = 3):
    learn(epochs=epochs)


@dsl.component
def classify(metrics: dsl.Output[dsl.ClassificationMetrics], page: dsl.Output[dsl.HTML], notes: dsl.Output[dsl.Markdown]):
    metrics.log_confusion_matrix(["cat", "dog"], [[7, 1], [2, 5]])
    metrics.log_roc_curve([0.0, 0.2, 1.0], [0.0, 0.8, 1.0], [1.0, 0.5, 0.0])
    with open(page.path, "w") as f:
        f.write("<h2 id='hello'>Static HTML</h2>")
    with open(notes.path, "w") as f:
        f.write("# Notes\n\nwritten in *Markdown*")


@dsl.pipeline(name="ui-classify")
def classifying():
    classify()


@dsl.component
def make_rows(rows: dsl.Output[dsl.Dataset]):
    with open(rows.path, "w") as f:
        f.write("a,b\n1,2\n")
    rows.metadata["row_count"] = 1
    rows.metadata["source"] = "made up"


@dsl.pipeline(name="ui-metadata")
def with_metadata():
    make_rows()


@dsl.pipeline(name="ui-loop")
def looping():
    with dsl.ParallelFor(items=["a", "b", "c", "d", "e", "f", "g", "h"]) as item:
        say(text=item)


@dsl.pipeline(name="ui-inner")
def inner(text: str = "x"):
    say(text=text).set_display_name("Inner say")


@dsl.pipeline(name="ui-nested")
def nested(n: int = 7):
    bye = say(text="bye").set_display_name("Say goodbye")
    with dsl.ExitHandler(bye):
        first = say(text="start").set_display_name("Greet the user")
        with dsl.If(n > 5):
            inner(text="big").after(first)
        with dsl.Else():
            say(text="small").set_display_name("Small case")
        with dsl.ParallelFor(items=["p", "q"]) as item:
            say(text=item).set_display_name("Per item").after(first)


@dsl.pipeline(name="ui-huge-loop")
def huge_loop(items: list = list(range(1000))):
    with dsl.ParallelFor(items=items, parallelism=64) as item:
        chatty(lines=0).set_display_name("tick").set_caching_options(False)


@dsl.pipeline(name="ui-300-tasks")
def three_hundred():
    # 30 chains of 10 tasks, each chain fed by the one before it every third step.
    prev = [None] * 30
    for step in range(10):
        for chain in range(30):
            t = say(text=f"{chain}-{step}")
            if prev[chain] is not None:
                t.after(prev[chain])
            if step % 3 == 2 and chain > 0 and prev[chain - 1] is not None:
                t.after(prev[chain - 1])
            prev[chain] = t


@pytest.fixture(scope="module")
def client():
    return kfp.Client(host=URL)


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=shutil.which("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def wait_for(browser, predicate, timeout=60, what="condition"):
    # Pages re-render as runs progress, so an element found a moment ago may be gone.
    try:
        return WebDriverWait(browser, timeout, poll_frequency=0.1,
                             ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)
                             ).until(lambda d: predicate(d), message=what)
    except Exception:
        shot(browser, "failed-" + "".join(c if c.isalnum() else "-" for c in what))
        raise


def shot(browser, name):
    os.makedirs(SHOTS, exist_ok=True)
    browser.save_screenshot(os.path.join(SHOTS, f"{name}.png"))


def open_page(browser, hash_route, title):
    browser.get(f"{URL}/#{hash_route}")
    wait_for(browser, lambda d: title in d.find_element(By.TAG_NAME, "h1").text, what=f"{hash_route} shows {title!r}")
    assert not browser.find_elements(By.CSS_SELECTOR, "[role=alert]"), browser.find_element(By.CSS_SELECTOR, "[role=alert]").text


def wait_run(client, run_id, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        run = client.get_run(run_id)
        if run.state in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.fixture(scope="module")
def data(client, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ui")
    path = str(tmp / "greeting.yaml")
    kfp.compiler.Compiler().compile(greeting, path)
    pipeline = client.upload_pipeline(path, pipeline_name="ui-greeting", description="says hello twice")
    exp = client.create_experiment("ui-exp", description="runs for the UI test")
    runs = [client.create_run_from_pipeline_func(learning, arguments={"epochs": n}, experiment_name="ui-exp", run_name=f"learn-{n}").run_id for n in (3, 5)]
    for r in runs:
        assert wait_run(client, r).state == "SUCCEEDED"
    rr = client.create_recurring_run(experiment_id=exp.experiment_id, job_name="ui-hourly", interval_second=3600,
                                     pipeline_package_path=path, enabled=False, max_concurrency=1)
    return {"pipeline": pipeline.pipeline_id, "experiment": exp.experiment_id, "runs": runs, "recurring": rr.recurring_run_id}


def test_every_page_loads(browser, data):
    pages = [
        ("/pipelines", "Pipelines", "pipelines"),
        (f"/pipelines/details/{data['pipeline']}", "ui-greeting", "pipeline-details"),
        ("/experiments", "Experiments", "experiments"),
        (f"/experiments/details/{data['experiment']}", "ui-exp", "experiment-details"),
        ("/runs", "Runs", "runs"),
        (f"/runs/details/{data['runs'][0]}", "learn-3", "run-details"),
        ("/runs/new", "Create run", "create-run"),
        ("/recurringruns", "Recurring runs", "recurring-runs"),
        (f"/recurringrun/details/{data['recurring']}", "ui-hourly", "recurring-run-details"),
        (f"/compare?runlist={','.join(data['runs'])}", "Compare 2 runs", "compare"),
        ("/artifacts", "Artifacts", "artifacts"),
    ]
    for route, title, name in pages:
        open_page(browser, route, title)
        time.sleep(0.3)
        shot(browser, name)
    # The runs list sorts by name on request.
    open_page(browser, "/runs", "Runs")
    Select(browser.find_element(By.CSS_SELECTOR, 'select[aria-label="Sort runs"]')).select_by_visible_text("Name A–Z")
    wait_for(browser, lambda d: [r.find_elements(By.TAG_NAME, "a")[0].text for r in d.find_elements(By.CSS_SELECTOR, "tr[data-run]")][:2] == ["learn-3", "learn-5"], what="sorted by name")
    # A fresh home starts with the example pipelines registered.
    open_page(browser, "/pipelines", "Pipelines")
    wait_for(browser, lambda d: "titanic" in d.find_element(By.TAG_NAME, "main").text, what="examples listed")
    # The pipeline page draws its graph: two tasks and the edge between them.
    open_page(browser, f"/pipelines/details/{data['pipeline']}", "ui-greeting")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".graph .node")) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, ".graph path.edge")) == 1
    # Links kfp.Client prints work under the /pipeline prefix too.
    browser.get(f"{URL}/pipeline/#/runs/details/{data['runs'][0]}")
    wait_for(browser, lambda d: "learn-3" in d.find_element(By.TAG_NAME, "h1").text, what="prefixed run page")
    browser.get(f"{URL}/#/nowhere")
    wait_for(browser, lambda d: "Not found" in d.find_element(By.TAG_NAME, "h1").text, what="not found page")


def test_experiments_list_pages_shows_recent_runs_and_filters(browser, client, data):
    # 21 newer experiments push ui-exp to the second page of 20.
    for i in range(21):
        client.create_experiment(f"ui-other-{i:02}")
    open_page(browser, "/experiments", "Experiments")

    def names(d):
        return [r.find_element(By.TAG_NAME, "a").text for r in d.find_elements(By.CSS_SELECTOR, "tr[data-experiment]")]
    wait_for(browser, lambda d: names(d) == [f"ui-other-{i:02}" for i in range(20, 0, -1)], what="first page: the 20 newest")
    browser.find_element(By.XPATH, "//button[text()='Next']").click()
    wait_for(browser, lambda d: names(d)[:3] == ["ui-other-00", "ui-exp", "Default"], what="second page")
    row = f'tr[data-experiment="{data["experiment"]}"]'
    # The learn runs of ui-exp, as state icons linking to the runs, named for screen readers.
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, f"{row} td.recent-runs a")) >= 2, what="recent runs of ui-exp")
    links = browser.find_elements(By.CSS_SELECTOR, f"{row} td.recent-runs a")
    assert {a.get_attribute("aria-label") for a in links} >= {"learn-3: Succeeded", "learn-5: Succeeded"}
    assert all(a.text == "✔" for a in links), [a.text for a in links]
    shot(browser, "experiments-page-2")
    browser.find_element(By.XPATH, "//button[text()='Previous']").click()
    wait_for(browser, lambda d: names(d)[0] == "ui-other-20", what="back to the first page")
    browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Filter experiments by name"]').send_keys("ui-other-0")
    wait_for(browser, lambda d: names(d) == [f"ui-other-{i:02}" for i in range(9, -1, -1)], what="filtered to ui-other-0*")


def test_start_a_run_from_the_ui_and_watch_its_graph_succeed(browser, client, data):
    open_page(browser, f"/runs/new?pipeline={data['pipeline']}", "Create run")
    wait_for(browser, lambda d: d.find_elements(By.ID, "param-text"), what="typed parameter field from the spec")
    assert browser.find_element(By.ID, "param-text").get_attribute("value") == "hello"
    browser.find_element(By.ID, "run-name").send_keys("started from the UI")
    field = browser.find_element(By.ID, "param-text")
    field.clear()
    field.send_keys("bonjour")
    # The pipeline asked for in the link is preselected; the experiment is found through the
    # server-side search beside its list.
    assert Select(browser.find_element(By.ID, "run-pipeline")).first_selected_option.text == "ui-greeting"
    browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Search experiments"]').send_keys("ui-ex")
    wait_for(browser, lambda d: [o.text for o in Select(d.find_element(By.ID, "run-experiment")).options] == ["ui-exp"], what="experiment search")
    Select(browser.find_element(By.ID, "run-experiment")).select_by_visible_text("ui-exp")
    browser.find_element(By.ID, "start-run").click()
    wait_for(browser, lambda d: "/runs/details/" in d.current_url, what="run page after start")
    wait_for(browser, lambda d: "Succeeded" in d.find_element(By.TAG_NAME, "h1").text, what="run reaches SUCCEEDED")
    # say-2 gets say's output, "bonjour": the same component with the same input, so it is
    # served from say's cache entry, and the graph says so.
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '.graph .node.s-SUCCEEDED[data-task="say"]')
             and d.find_elements(By.CSS_SELECTOR, '.graph .node.s-CACHED[data-task="say-2"]'), what="say SUCCEEDED, say-2 CACHED")
    assert "cached" in browser.find_element(By.CSS_SELECTOR, '.graph .node[data-task="say-2"]').text
    assert len(browser.find_elements(By.CSS_SELECTOR, ".graph path.edge")) == 1
    run_id = browser.current_url.rsplit("/", 1)[1]
    run = client.get_run(run_id)
    assert run.display_name == "started from the UI"
    assert run.runtime_config.parameters == {"text": "bonjour"}
    assert run.experiment_id == data["experiment"]
    # A node's outputs are shown in its panel.
    browser.find_element(By.CSS_SELECTOR, '.graph .node[data-task="say"]').click()
    wait_for(browser, lambda d: "bonjour" in d.find_element(By.CSS_SELECTOR, "aside.panel").text, what="node outputs")
    shot(browser, "run-succeeded")
    # Cloning fills the form from the run: its pipeline (fetched by id), experiment and values.
    open_page(browser, f"/runs/new?clone={run_id}", "Clone run")
    wait_for(browser, lambda d: d.find_element(By.ID, "param-text").get_attribute("value") == "bonjour", what="cloned parameter")
    assert Select(browser.find_element(By.ID, "run-pipeline")).first_selected_option.text == "ui-greeting"
    assert Select(browser.find_element(By.ID, "run-experiment")).first_selected_option.text == "ui-exp"
    assert browser.find_element(By.ID, "run-name").get_attribute("value") == "Clone of started from the UI"
    # A run from an inline spec clones that spec.
    open_page(browser, f"/runs/new?clone={data['runs'][0]}", "Clone run")
    wait_for(browser, lambda d: d.find_element(By.ID, "param-epochs").get_attribute("value") == "3", what="cloned inline-spec parameter")
    assert Select(browser.find_element(By.ID, "run-pipeline")).first_selected_option.text == "the cloned run's spec"


def test_logs_follow_a_running_task(browser, client):
    run = client.create_run_from_pipeline_func(chatter, arguments={"lines": 15})
    browser.get(f"{URL}/#/runs/details/{run.run_id}")
    node = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '.graph .node.s-RUNNING[data-task="chatty"]'), what="running node")[0]
    node.click()
    tab = wait_for(browser, lambda d: [b for b in d.find_elements(By.CSS_SELECTOR, ".tabs button") if b.text == "Logs"], what="logs tab")[0]
    tab.click()
    wait_for(browser, lambda d: "line 2" in d.find_element(By.CSS_SELECTOR, "pre.log").text, what="first log lines")
    assert client.get_run(run.run_id).state == "RUNNING", "the log was followed while the task ran"
    shot(browser, "logs-live")
    wait_for(browser, lambda d: "line 14" in d.find_element(By.CSS_SELECTOR, "pre.log").text, what="all log lines streamed")
    assert wait_run(client, run.run_id).state == "SUCCEEDED"


def test_compare_two_runs_shows_their_metrics(browser, data):
    open_page(browser, f"/compare?runlist={','.join(data['runs'])}", "Compare 2 runs")
    params = browser.find_element(By.CSS_SELECTOR, 'table[aria-label="Parameters"]')
    row = [r for r in params.find_elements(By.CSS_SELECTOR, "tbody tr") if r.text.startswith("epochs")][0]
    assert "diff" in row.get_attribute("class") and "≠" in row.text
    assert [c.text for c in row.find_elements(By.TAG_NAME, "td")] == ["3", "5"]
    # Differing metric rows are marked as differing parameters are.
    table_ = browser.find_element(By.CSS_SELECTOR, 'table[aria-label="Scalar metrics"]')
    accuracy = [r for r in table_.find_elements(By.CSS_SELECTOR, "tbody tr") if "accuracy" in r.text][0]
    assert "diff" in accuracy.get_attribute("class") and "≠" in accuracy.text
    scalars = browser.find_element(By.CSS_SELECTOR, 'table[aria-label="Scalar metrics"]').text
    assert "learn · accuracy ≠ 0.75 0.8333" in scalars
    assert "learn · Output ≠ 0.333333 0.2" in scalars
    lines = browser.find_elements(By.CSS_SELECTOR, 'svg.chart path[data-series]')
    assert sorted(l.get_attribute("data-series") for l in lines) == ["learn-3", "learn-5"]
    shot(browser, "compare-metrics")


def test_runs_list_shows_metric_columns_and_sorts_by_them(browser, data):
    open_page(browser, f"/experiments/details/{data['experiment']}", "ui-exp")
    field = browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Metric columns"]')
    field.send_keys("accuracy\n")
    field.send_keys("\t")
    sort = Select(browser.find_element(By.CSS_SELECTOR, 'select[aria-label="Sort runs"]'))
    wait_for(browser, lambda d: "accuracy (highest first)" in [o.text for o in sort.options], what="metric sort option")
    sort.select_by_visible_text("accuracy (highest first)")

    def rows(d):
        return [(r.find_elements(By.TAG_NAME, "a")[0].text, r.find_element(By.CSS_SELECTOR, 'td[data-metric="accuracy"]').text)
                for r in d.find_elements(By.CSS_SELECTOR, "tr[data-run]")]
    wait_for(browser, lambda d: rows(d)[:2] == [("learn-5", "0.8333"), ("learn-3", "0.75")], what="sorted by accuracy")
    assert all(v == "–" for _, v in rows(browser)[2:]), "runs without the metric come last"
    sort.select_by_visible_text("accuracy (lowest first)")
    # Ascending: 0.75, then 0.8333; runs without the metric still come last.
    wait_for(browser, lambda d: rows(d)[:2] == [("learn-3", "0.75"), ("learn-5", "0.8333")], what="lowest first")
    assert len(rows(browser)) > 2 and all(v == "–" for _, v in rows(browser)[2:]), "runs without the metric come last"
    shot(browser, "runs-metric-columns")


def test_run_page_shows_config_summary_and_curves(browser, data):
    open_page(browser, f"/runs/details/{data['runs'][1]}", "learn-5")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'section[aria-label="Tracking"] svg.chart'), what="curve chart")
    text = browser.find_element(By.CSS_SELECTOR, 'section[aria-label="Tracking"]').text
    assert "accuracy" in text and "0.8333" in text and "(last 0.2)" in text
    # The run's parameters are shown once (Details), not again as a "Config" table.
    headings = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "main h2")]
    assert headings.count("Run parameters") == 1 and "Config" not in headings, headings


def test_toggle_a_recurring_run(browser, client, data):
    open_page(browser, "/recurringruns", "Recurring runs")
    button = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'button[aria-label="Enable ui-hourly"]'), what="enable button")[0]
    button.click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'button[aria-label="Disable ui-hourly"]'), what="now enabled")
    assert client.get_recurring_run(data["recurring"]).status == "ENABLED"
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-recurring="{data["recurring"]}"]')
    assert "Enabled" in row.text and "every 3600 s" in row.text
    shot(browser, "recurring-enabled")
    open_page(browser, f"/recurringrun/details/{data['recurring']}", "ui-hourly")
    assert "Next runs" in browser.find_element(By.TAG_NAME, "main").text
    browser.find_element(By.ID, "toggle-recurring").click()
    wait_for(browser, lambda d: "Disabled" in d.find_element(By.TAG_NAME, "h1").text, what="disabled again")
    assert client.get_recurring_run(data["recurring"]).status == "DISABLED"


def test_phone_width_has_no_page_level_horizontal_scroll(browser, data):
    browser.set_window_size(390, 844)
    try:
        for route, title in [("/runs", "Runs"), (f"/runs/details/{data['runs'][0]}", "learn-3"), ("/experiments", "Experiments")]:
            open_page(browser, route, title)
            width = browser.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert width <= 1, f"{route} is {width}px wider than the screen"
        shot(browser, "phone-run-details")
    finally:
        browser.set_window_size(1280, 900)


def graph_facts(browser):
    """What the graph draws: node boxes, group boxes and edges, in page coordinates."""
    return browser.execute_script("""
        const box = r => { const b = r.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
        return {
          nodes: [...document.querySelectorAll('.graph .node')].map(n => ({path: n.dataset.taskPath, task: n.dataset.task, group: n.dataset.group || null, box: box(n.querySelector('rect')), text: n.textContent})),
          groups: [...document.querySelectorAll('.graph .group')].map(g => ({path: g.dataset.group, box: box(g.querySelector('rect.body')), text: g.querySelector('.group-head').textContent})),
          edges: [...document.querySelectorAll('.graph path.edge')].map(e => [e.dataset.from, e.dataset.to]),
        };""")


def overlaps(a, b):
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def contains(a, b):
    return a[0] <= b[0] + 0.5 and a[1] <= b[1] + 0.5 and a[2] >= b[2] - 0.5 and a[3] >= b[3] - 0.5


def check_graph(browser):
    """No two node boxes overlap, groups either nest or stay apart, every edge joins drawn boxes."""
    f = graph_facts(browser)
    nodes, groups = f["nodes"], f["groups"]
    for i, a in enumerate(nodes):
        assert a["path"] and a["task"] == a["path"], a
        for b in nodes[i + 1:]:
            assert not overlaps(a["box"], b["box"]), f"{a['path']} overlaps {b['path']}"
    for i, a in enumerate(groups):
        for b in groups[i + 1:]:
            assert contains(a["box"], b["box"]) or contains(b["box"], a["box"]) or not overlaps(a["box"], b["box"]), f"{a['path']} and {b['path']}"
        for n in nodes:
            assert contains(a["box"], n["box"]) or not overlaps(a["box"], n["box"]), f"{n['path']} sticks out of {a['path']}"
            assert contains(a["box"], n["box"]) == n["path"].startswith((a["path"] + "/", a["path"] + "[")), f"{n['path']} and group {a['path']}"
    drawn = {n["path"] for n in nodes} | {g["path"] for g in groups}
    for a, b in f["edges"]:
        assert a in drawn and b in drawn, (a, b)
    return f


def test_big_loops_start_collapsed_and_expand_on_request(browser, client):
    run = client.create_run_from_pipeline_func(looping, arguments={})
    assert wait_run(client, run.run_id).state == "SUCCEEDED"
    open_page(browser, f"/runs/details/{run.run_id}", "ui-loop")
    nodes = lambda d: d.find_elements(By.CSS_SELECTOR, ".graph .node")
    wait_for(browser, lambda d: len(nodes(d)) == 1, what="only the collapsed loop")
    assert not browser.find_elements(By.CSS_SELECTOR, ".graph .minimap"), "a graph that fits has no minimap"
    loop_path = nodes(browser)[0].get_attribute("data-task-path")
    assert nodes(browser)[0].get_attribute("data-group") == loop_path
    # The collapsed loop says what it iterates over, how many iterations ran and how they went.
    text = nodes(browser)[0].text
    assert "for each in [a, b, c" in text and "8 iterations · 8 ✔" in text, text
    node = lambda: browser.find_element(By.CSS_SELECTOR, f'.graph [data-task-path="{loop_path}"]')
    node().click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'select[aria-label="Show iteration"]'), what="iteration picker")
    Select(browser.find_element(By.CSS_SELECTOR, 'select[aria-label="Show iteration"]')).select_by_index(4)
    # Picking an iteration opens the loop: 8 iteration groups with a task in each, the picked one selected.
    wait_for(browser, lambda d: len(nodes(d)) == 8, what="expanded loop")
    f = check_graph(browser)
    assert len(f["groups"]) == 9 and {g["path"] for g in f["groups"]} >= {loop_path, f"{loop_path}[3]"}
    assert browser.find_element(By.CSS_SELECTOR, ".graph .selected").get_attribute("data-group") == f"{loop_path}[3]"
    # The iterations line up: every task box has the same size.
    sizes = {(round(n["box"][2] - n["box"][0]), round(n["box"][3] - n["box"][1])) for n in f["nodes"]}
    assert len(sizes) == 1, sizes
    shot(browser, "graph-loop-expanded")
    browser.find_element(By.CSS_SELECTOR, f'.graph [data-group="{loop_path}"] .group-head').click()
    wait_for(browser, lambda d: d.find_elements(By.ID, "toggle-children"), what="collapse button")
    browser.find_element(By.ID, "toggle-children").click()
    wait_for(browser, lambda d: len(nodes(d)) == 1, what="collapsed again")
    # Expand all / Collapse all, and the keyboard: the toggle opens with Enter.
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="expand-all"]').click()
    wait_for(browser, lambda d: len(nodes(d)) == 8, what="expand all")
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="collapse-all"]').click()
    wait_for(browser, lambda d: len(nodes(d)) == 1, what="collapse all")
    toggle = browser.find_element(By.CSS_SELECTOR, f'.graph .toggle[data-toggle="{loop_path}"]')
    assert toggle.get_attribute("aria-expanded") == "false" and toggle.get_attribute("tabindex") == "0"
    browser.execute_script("arguments[0].focus()", toggle)
    browser.switch_to.active_element.send_keys("\n")
    wait_for(browser, lambda d: len(nodes(d)) == 8, what="opened with the keyboard")
    check_graph(browser)
    # Zoom buttons change the drawing's scale; Fit brings it back.
    before = browser.execute_script("return document.querySelector('.graph .viewport').getAttribute('transform')")
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="zoom-in"]').click()
    assert browser.execute_script("return document.querySelector('.graph .viewport').getAttribute('transform')") != before
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="fit"]').click()
    assert browser.execute_script("return document.querySelector('.graph .viewport').getAttribute('transform')") == before


def test_nested_run_graph_shows_names_conditions_and_groups(browser, client):
    run = client.create_run_from_pipeline_func(nested, arguments={"n": 7}, run_name="nested-graph")
    assert wait_run(client, run.run_id).state == "SUCCEEDED"
    open_page(browser, f"/runs/details/{run.run_id}", "nested-graph")
    wait_for(browser, lambda d: any("Inner say" in n.text for n in d.find_elements(By.CSS_SELECTOR, ".graph .node")), what="nested graph drawn")
    f = check_graph(browser)
    labels = " | ".join(n["text"] for n in f["nodes"]) + " | " + " | ".join(g["text"] for g in f["groups"])
    for words in ["Greet the user", "Say goodbye", "Inner say", "Per item", "if n > 5", "for each in [p, q]"]:
        assert words in labels, (words, labels)
    # Internal ids are not labels (they stay in the details panel).
    assert "condition-" not in labels and "for-loop-" not in labels and "exit-handler-" not in labels, labels
    # The skipped else branch is drawn as skipped; the data and .after edges are there.
    assert any("skipped" in g["text"] or "skipped" in n["text"] for g in f["groups"] for n in f["nodes"]), labels
    assert len(f["edges"]) >= 2, f["edges"]
    shot(browser, "graph-nested")
    groups_before = len(f["groups"])
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="collapse-all"]').click()
    wait_for(browser, lambda d: not d.find_elements(By.CSS_SELECTOR, ".graph .group"), what="all collapsed")
    collapsed = check_graph(browser)
    assert len(collapsed["nodes"]) < len(f["nodes"]) and groups_before > 0
    # A node opens its panel from the keyboard; its internal path is shown in the details tab.
    exit_scope = [n for n in collapsed["nodes"] if n["group"]][0]["path"]
    el = browser.find_element(By.CSS_SELECTOR, f'.graph .node[data-task-path="{exit_scope}"]')
    browser.execute_script("arguments[0].focus()", el)
    browser.switch_to.active_element.send_keys(" ")
    wait_for(browser, lambda d: d.find_elements(By.ID, "toggle-children"), what="panel of the group")
    browser.find_element(By.XPATH, "//aside//button[text()='Task details']").click()
    wait_for(browser, lambda d: exit_scope in d.find_element(By.CSS_SELECTOR, "aside.panel").text, what="internal path in details")
    browser.find_element(By.CSS_SELECTOR, 'button[data-action="expand-all"]').click()
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".graph .group")) == groups_before, what="all expanded")


def test_huge_runs_and_pipelines_render_fast(browser, client, tmp_path):
    run = client.create_run_from_pipeline_func(huge_loop, arguments={}, run_name="huge-loop")
    # Opened while the run is going, the page stays live; the figures are printed after it ends.
    browser.get(f"{URL}/#/runs/details/{run.run_id}")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".graph .node"), what="graph of the running loop")
    # While the run goes on, the page polls it; the longest task the page runs in 5 s (long tasks
    # are those over 50 ms) is printed, not asserted.
    browser.execute_script("""window.penstockLong = [];
        new PerformanceObserver(l => window.penstockLong.push(...l.getEntries().map(e => e.duration))).observe({entryTypes: ['longtask']});""")
    time.sleep(5)
    longest = browser.execute_script("return window.penstockLong")
    print(f"\n1,000-iteration run page, live for 5 s: {len(longest)} long tasks, longest {max(longest, default=0):.0f} ms")
    assert wait_run(client, run.run_id, timeout=600).state == "SUCCEEDED"
    def timing(ready):
        # graph.js marks each layout; the first mark is when the graph became interactive.
        wait_for(browser, ready, timeout=120, what="graph drawn")
        return browser.execute_script("""const m = performance.getEntriesByName('penstock-graph-render'), d = performance.getEntriesByName('penstock-graph-drawn');
            return {ready: d[0].startTime, render: m[0].duration, nodes: document.querySelectorAll('.graph .node').length};""")
    browser.get(f"{URL}/#/runs/details/{run.run_id}")
    browser.refresh()
    got = timing(lambda d: "1000 iterations · 1000 ✔" in d.find_element(By.CSS_SELECTOR, ".graph .node").text)
    print(f"\n1,000-iteration run: graph drawn {got['ready']:.0f} ms after navigation (run JSON fetch included; layout+draw {got['render']:.1f} ms, {got['nodes']} node)")
    check_graph(browser)
    shot(browser, "graph-huge-loop")
    # Opening one iteration of the big loop draws that iteration alone.
    node = browser.find_element(By.CSS_SELECTOR, ".graph .node")
    loop_path = node.get_attribute("data-task-path")
    node.click()
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'select[aria-label="Show iteration"]'), what="picker")
    # (1,001 options: picked in the page, Select() would ask for each one; picked again if the
    # panel was redrawn meanwhile.)
    pick = """const s = document.querySelector('select[aria-label="Show iteration"]');
        if (s && !document.querySelector('.graph .group.selected')) { s.selectedIndex = 500; s.dispatchEvent(new Event('change')); }"""
    wait_for(browser, lambda d: d.execute_script(pick) or d.find_elements(By.CSS_SELECTOR, f'.graph .group.selected[data-group^="{loop_path}["]'), what="the picked iteration shown")
    assert len(browser.find_elements(By.CSS_SELECTOR, ".graph .node")) == 1
    assert len(browser.find_elements(By.CSS_SELECTOR, ".graph .group")) == 2
    assert "showing 1 of 1000" in browser.find_element(By.CSS_SELECTOR, f'.graph .group[data-group="{loop_path}"] .group-head').get_attribute("aria-label")
    # 300 tasks, drawn from the pipeline spec.
    path = str(tmp_path / "300.yaml")
    kfp.compiler.Compiler().compile(three_hundred, path)
    p = client.upload_pipeline(path, pipeline_name="ui-300-tasks")
    browser.get(f"{URL}/#/pipelines/details/{p.pipeline_id}")
    browser.refresh()
    got = timing(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".graph .node")) == 300)
    print(f"300-task pipeline: graph drawn {got['ready']:.0f} ms after navigation (layout+draw {got['render']:.1f} ms)")
    check_graph(browser)
    # A graph larger than its box has a minimap; clicking in it moves the view there.
    mini = browser.find_element(By.CSS_SELECTOR, ".graph .minimap")
    assert mini.is_displayed() and mini.find_elements(By.CSS_SELECTOR, ".mm-node") and mini.find_elements(By.CSS_SELECTOR, ".mm-view")
    transform = lambda: browser.execute_script("return document.querySelector('.graph .viewport').getAttribute('transform')")
    before = transform()
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", mini)
    ActionChains(browser).move_to_element_with_offset(mini, mini.size["width"] // 4, mini.size["height"] // 4).click().perform()
    assert transform() != before, before
    shot(browser, "graph-300-tasks")


def test_classification_html_and_markdown_visualisations(browser, client):
    runs = [client.create_run_from_pipeline_func(classifying, arguments={}, run_name=f"classify-{i}").run_id for i in range(2)]
    for r in runs:
        assert wait_run(client, r).state in ("SUCCEEDED",)
    open_page(browser, f"/runs/details/{runs[0]}", "classify-0")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '.graph .node[data-task="classify"]'), what="node").__getitem__(0).click()
    cm = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'aside table[aria-label="Confusion matrix"]'), what="confusion matrix")[0]
    assert [c.text for c in cm.find_elements(By.CSS_SELECTOR, "tbody td")] == ["7", "1", "2", "5"]
    assert browser.find_elements(By.CSS_SELECTOR, 'aside svg.chart[aria-label="ROC curve"] path[data-series]')
    frames = browser.find_elements(By.CSS_SELECTOR, "aside iframe.html")
    assert len(frames) == 2 and all(f.get_attribute("sandbox") == "" for f in frames)
    # Outputs are listed by name: metrics, notes (Markdown), page (HTML).
    browser.switch_to.frame(frames[0])
    wait_for(browser, lambda d: "Notes" in d.find_element(By.TAG_NAME, "h1").text, what="rendered Markdown")
    assert browser.find_element(By.TAG_NAME, "em").text == "Markdown"
    browser.switch_to.default_content()
    browser.switch_to.frame(frames[1])
    wait_for(browser, lambda d: d.find_element(By.ID, "hello").text == "Static HTML", what="HTML artifact")
    browser.switch_to.default_content()
    shot(browser, "visualisations")
    open_page(browser, f"/compare?runlist={','.join(runs)}", "Compare 2 runs")
    assert len(browser.find_elements(By.CSS_SELECTOR, 'table[aria-label="Confusion matrix"]')) == 2
    assert len(browser.find_elements(By.CSS_SELECTOR, 'svg.chart[aria-label="ROC"] path[data-series]')) == 2
    # The artifacts page filters by type and by name (served by the server, a page at a time).
    open_page(browser, "/artifacts", "Artifacts")

    def artifact_rows(d):
        return [[c.text for c in r.find_elements(By.TAG_NAME, "td")][:2] for r in d.find_elements(By.CSS_SELECTOR, "tr[data-artifact]")]
    Select(browser.find_element(By.CSS_SELECTOR, 'select[aria-label="Artifact type"]')).select_by_visible_text("system.Markdown")
    wait_for(browser, lambda d: len(artifact_rows(d)) >= 2 and all(t == "system.Markdown" for _, t in artifact_rows(d)), what="Markdown artifacts only")
    Select(browser.find_element(By.CSS_SELECTOR, 'select[aria-label="Artifact type"]')).select_by_visible_text("All types")
    browser.find_element(By.CSS_SELECTOR, 'input[aria-label="Filter artifacts by name"]').send_keys("page")
    wait_for(browser, lambda d: len(artifact_rows(d)) >= 2 and all("page" in n for n, _ in artifact_rows(d)), what="artifacts named like 'page'")
    assert {t for _, t in artifact_rows(browser)} == {"system.HTML"}
    shot(browser, "artifacts-filtered")


def test_v1_output_viewers_render_and_never_run_scripts(browser, client):
    """A kfp 1.8 step's mlpipeline-ui-metadata: one viewer of each Kubeflow type (see v1_viewers.py)."""
    import urllib.request
    import yaml
    workflow = yaml.safe_load(open(os.environ["PENSTOCK_UI_V1_PIPELINE"]))
    body = json.dumps({"display_name": "v1-viewers", "pipeline_spec": workflow}).encode()
    request = urllib.request.Request(URL + "/apis/v2beta1/runs", data=body, method="POST", headers={"content-type": "application/json"})
    run_id = json.load(urllib.request.urlopen(request))["run_id"]
    assert wait_run(client, run_id).state == "SUCCEEDED"
    open_page(browser, f"/runs/details/{run_id}", "v1-viewers")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '.graph .node[data-task="report"]'), what="node").__getitem__(0).click()
    viewer = lambda kind: wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, f'aside section[data-viewer="{kind}"]'), what=f"{kind} viewer")[0]
    # Table: the header and the cells, the script shown as text, not run.
    table = viewer("table")
    assert [c.text for c in table.find_elements(By.CSS_SELECTOR, "thead th")] == ["name", "score"]
    assert [c.text for c in table.find_elements(By.CSS_SELECTOR, "tbody td")] == ["alpha", "0.9", "<script>document.title='pwned-table'</script>", "0.1"]
    assert not browser.find_elements(By.CSS_SELECTOR, "aside script")
    # Confusion matrix and ROC curve: the same renderers as v2 ClassificationMetrics.
    cm = viewer("confusion_matrix").find_element(By.CSS_SELECTOR, 'table[aria-label="Confusion matrix"]')
    assert [c.text for c in cm.find_elements(By.CSS_SELECTOR, "thead th")][1:] == ["cat", "dog"]
    assert [c.text for c in cm.find_elements(By.CSS_SELECTOR, "tbody td")] == ["7", "1", "2", "5"]
    assert viewer("roc").find_elements(By.CSS_SELECTOR, 'svg.chart[aria-label="ROC curve"] path[data-series]')
    # TensorBoard: the log folder and why Penstock does not open it.
    tb = viewer("tensorboard").text
    assert "gs://bucket/tb-logs" in tb and "does not host TensorBoard" in tb, tb
    # Markdown and web app: sandboxed frames (srcdoc, no same-origin, no scripts).
    md = viewer("markdown").find_element(By.TAG_NAME, "iframe")
    app = viewer("web-app").find_element(By.TAG_NAME, "iframe")
    assert md.get_attribute("sandbox") == "" and md.get_attribute("srcdoc")
    assert app.get_attribute("sandbox") == "" and app.get_attribute("srcdoc")
    browser.switch_to.frame(md)
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Report heading", what="rendered Markdown")
    assert browser.find_element(By.TAG_NAME, "em").text == "text"
    time.sleep(0.3)
    assert browser.find_element(By.TAG_NAME, "body").get_attribute("data-pwned") is None, "a script in Markdown ran"
    browser.switch_to.default_content()
    browser.switch_to.frame(app)
    wait_for(browser, lambda d: d.find_element(By.ID, "app").text == "Web app", what="web app")
    browser.switch_to.default_content()
    assert browser.title == "Penstock", browser.title
    shot(browser, "v1-viewers")


# ---- security: another origin, and signing in ---------------------------------------------------

def test_a_page_on_another_origin_cannot_create_runs(browser, client):
    """The attack this server was open to: any page the user visits POSTs a run to loopback."""
    import http.server
    import threading
    spec = {"pipelineInfo": {"name": "csrf"}, "schemaVersion": "2.1.0",
            "deploymentSpec": {"executors": {"e": {"container": {"image": "alpine", "command": ["touch", "/tmp/penstock-csrf-marker"]}}}},
            "components": {"comp-t": {"executorLabel": "e"}},
            "root": {"dag": {"tasks": {"t": {"componentRef": {"name": "comp-t"}, "taskInfo": {"name": "t"}}}}}}
    body = json.dumps({"display_name": "csrf", "pipeline_spec": spec})
    page = f"""<!doctype html><title>evil</title><body>
<form id="f" method="POST" action="{URL}/apis/v2beta1/experiments" enctype="text/plain" target="sink">
<input name='{{"display_name":"csrf-form","x":"' value='"}}'></form><iframe name="sink"></iframe>
<script>
const target = {json.dumps(URL)};
const body = {json.dumps(body)};
const fd = new FormData(); fd.append('uploadfile', new Blob(['x']), 'p.yaml');
Promise.allSettled([
  fetch(target + '/apis/v2beta1/runs', {{method: 'POST', mode: 'no-cors', body}}),
  fetch(target + '/apis/v2beta1/runs', {{method: 'POST', mode: 'no-cors', body, headers: {{'content-type': 'text/plain'}}}}),
  fetch(target + '/apis/v2beta1/pipelines/upload?name=csrf-upload', {{method: 'POST', mode: 'no-cors', body: fd}}),
  fetch(target + '/apis/v2beta1/runs', {{method: 'POST', body, headers: {{'content-type': 'application/json'}}}}),
]).then(r => {{ document.getElementById('f').submit(); document.title = 'sent ' + r.map(x => x.status).join(','); }});
</script>"""

    class Evil(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    evil = http.server.HTTPServer(("127.0.0.1", 0), Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        runs_before = client.list_runs(page_size=1).total_size or 0
        pipelines_before = {p.display_name for p in (client.list_pipelines(page_size=200).pipelines or [])}
        browser.get(f"http://127.0.0.1:{evil.server_address[1]}/")
        wait_for(browser, lambda d: d.title.startswith("sent"), what="the other origin's requests were sent")
        time.sleep(1.5)  # the form post, and any run it might have started
        assert (client.list_runs(page_size=1).total_size or 0) == runs_before
        names = {e.display_name for e in (client.list_experiments(page_size=200).experiments or [])}
        assert not any(n.startswith("csrf") for n in names), names
        pipelines = {p.display_name for p in (client.list_pipelines(page_size=200).pipelines or [])}
        assert pipelines == pipelines_before
        assert not os.path.exists("/tmp/penstock-csrf-marker")
    finally:
        evil.shutdown()


def test_sign_in_with_a_token(browser):
    auth_url = os.environ["PENSTOCK_AUTH_URL"]
    token = os.environ["PENSTOCK_UI_TOKEN"]
    browser.delete_all_cookies()
    browser.get(f"{auth_url}/#/runs")
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Sign in", what="the sign-in page")
    field = browser.find_element(By.ID, "signin-token")
    field.send_keys("pst_wrong")
    browser.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    wait_for(browser, lambda d: "unknown or revoked" in d.find_element(By.CSS_SELECTOR, "form.signin [role=alert]").text, what="a wrong token is refused")
    field = browser.find_element(By.ID, "signin-token")
    field.clear()
    field.send_keys(token)
    browser.find_element(By.CSS_SELECTOR, "form.signin button[type=submit]").click()
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Runs", what="signed in, the runs page")
    wait_for(browser, lambda d: "Signed in as ui-user" in d.find_element(By.ID, "who").text, what="who is signed in")
    # The cookie is HttpOnly: scripts on the page cannot read the token.
    assert "penstock_token" not in browser.execute_script("return document.cookie")
    cookie = browser.get_cookie("penstock_token")
    assert cookie and cookie["httpOnly"] and cookie.get("sameSite") == "Strict"
    shot(browser, "signed-in")
    browser.find_element(By.CSS_SELECTOR, "#who button").click()
    wait_for(browser, lambda d: d.find_element(By.TAG_NAME, "h1").text == "Sign in", what="signed out")
    assert browser.get_cookie("penstock_token") is None


def test_runs_list_names_the_pipeline_version(browser, client, data):
    exp = client.create_experiment("ui-versions")
    versions = client.list_pipeline_versions(data["pipeline"]).pipeline_versions
    run = client.run_pipeline(experiment_id=exp.experiment_id, job_name="from-a-version",
                              pipeline_id=data["pipeline"], version_id=versions[0].pipeline_version_id)
    assert wait_run(client, run.run_id).state == "SUCCEEDED"
    open_page(browser, f"/experiments/details/{exp.experiment_id}", "ui-versions")
    cell = wait_for(browser, lambda d: [r for r in d.find_elements(By.CSS_SELECTOR, "tr[data-run]") if "from-a-version" in r.text], what="the run row")[0]
    wait_for(browser, lambda d: "ui-greeting · ui-greeting" in cell.text, what="pipeline and version names in the row")
    assert " version " not in f" {cell.text} "


def test_pipeline_page_draws_nested_dags_and_shows_yaml(browser, client, tmp_path):
    path = str(tmp_path / "loop.yaml")
    kfp.compiler.Compiler().compile(looping, path)
    p = client.upload_pipeline(path, pipeline_name="ui-loop")
    open_page(browser, f"/pipelines/details/{p.pipeline_id}", "ui-loop")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, ".graph .node"), what="pipeline graph")
    f = check_graph(browser)
    # The loop is a group holding its task; the loop says what it iterates over, the task its image.
    assert len(f["nodes"]) == 1 and len(f["groups"]) == 1, f
    loop, task = f["groups"][0], f["nodes"][0]
    assert loop["path"].startswith("for-loop") and task["path"] == loop["path"] + "/say", f
    assert "for each in [a, b, c" in loop["text"] and "loop" in loop["text"], loop
    assert "alpine" in task["text"] and "task" not in task["text"], task
    # Selecting a node shows its internal path and component.
    browser.find_element(By.CSS_SELECTOR, ".graph .node").click()
    assert task["path"] in browser.find_element(By.CSS_SELECTOR, "[data-graph-detail]").text
    spec = browser.find_element(By.CSS_SELECTOR, 'pre[data-format="yaml"]').text
    assert spec.startswith("components:") or "pipelineInfo:" in spec, spec[:200]
    assert not spec.lstrip().startswith("{")


def test_artifact_metadata_is_shown(browser, client):
    run = client.create_run_from_pipeline_func(with_metadata, arguments={}, run_name="metadata")
    assert wait_run(client, run.run_id).state == "SUCCEEDED"
    open_page(browser, f"/runs/details/{run.run_id}", "metadata")
    wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, '.graph .node[data-task="make-rows"]'), what="node")[0].click()
    meta = wait_for(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'aside table[aria-label="Metadata of rows"]'), what="metadata table")[0]
    text = meta.text
    assert "row_count" in text and "1" in text and "made up" in text, text
