"""The web UI in a real headless Chromium, against a real server and a real scheduler.

One browser for the module; each test drives pages as a user would and waits on what
the page shows (or on the store), never on time. Set HEADWATER_SCREENSHOTS=DIR to save
screenshots of the main pages there (docs/images holds the ones in docs/ui.md).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.engine.runs import record_pipeline
from tests.alerts.receivers import HttpReceiver
from tests.forked_commands import CommandServer
from tests.ui.conftest import PIPELINES
from tests.ui.live import LiveServer
from tests.waiting import wait_until

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
WAIT_MS = 30_000
# the colour of the graph's pixel inside the first node (the collapsed group sits where
# its first task was: layer 0, row 0), and the colour of "success"
COLLAPSED_COLOUR = """(() => {
  const canvas = document.getElementById("graph"), ratio = window.devicePixelRatio || 1;
  const [r, g, b] = canvas.getContext("2d").getImageData(
    Math.round((10 + 140) * ratio), Math.round((10 + 4) * ratio), 1, 1).data;
  return [r, g, b].join(",");
})()"""
SUCCESS_COLOUR = """(() => {
  const hex = getComputedStyle(document.documentElement).getPropertyValue("--s-success").trim();
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(",");
})()"""

if not Path(CHROMIUM).exists():
    # a missing browser skips locally, but fails CI (.ci/run installs it)
    if os.environ.get("HEADWATER_REQUIRE_BROWSER"):
        raise RuntimeError(f"no chromium at {CHROMIUM}; install it: apt-get install chromium")
    pytest.skip("needs Debian's chromium (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def marker(home: Path) -> Path:
    return home / "flaky-may-pass"


@pytest.fixture(scope="module")
def scheduler(
    live: LiveServer, home: Path, marker: Path, command_server: CommandServer
) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``headwater scheduler`` process over the server's store."""
    env = {**os.environ, "HEADWATER_HOME": str(home), "UI_TEST_MARKER": str(marker)}
    with (home / "scheduler.log").open("wb") as log:
        process = command_server.popen(
            [
                "scheduler",
                "--pipelines",
                str(PIPELINES),
                "--tick",
                "0.2",
                "--grace",
                "5",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        # the pipelines are listed once recorded (as a scheduler or a run records them)
        now = live.context.clock.now()
        for name in ("hello", "flaky"):
            definition = live.context.pipeline(name)
            assert definition is not None
            record_pipeline(live.store, definition, now)
        yield process
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def open_page(browser: object, live: LiveServer, user: str) -> object:
    context = browser.new_context(viewport={"width": 1360, "height": 900})  # type: ignore[attr-defined]
    context.add_cookies([live.cookie(user)])
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the confirmations of actions
    return page


def screenshot(page: object, name: str) -> None:
    folder = os.environ.get("HEADWATER_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / f"{name}.png"))  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def operator_page(browser: object, live: LiveServer, scheduler: object) -> Iterator[object]:
    page = open_page(browser, live, "otto")
    yield page
    page.context.close()  # type: ignore[attr-defined]


def trigger(page: object, live: LiveServer, pipeline: str, date: str) -> str:
    """Trigger from the pipeline page's form; returns the run id the page lands on."""
    page.goto(f"{live.url}/pipelines/{pipeline}")  # type: ignore[attr-defined]
    page.fill("#trigger-form input[name=logical_date]", date)  # type: ignore[attr-defined]
    page.click("[data-testid=trigger]")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/runs/"))  # type: ignore[attr-defined]
    return str(page.url.rsplit("/", 1)[1])  # type: ignore[attr-defined]


def test_pipelines_are_listed(operator_page: object, live: LiveServer) -> None:
    page = operator_page
    page.goto(live.url + "/")  # type: ignore[attr-defined]
    rows = page.locator("tr[data-pipeline]")  # type: ignore[attr-defined]
    assert rows.count() == 2
    page.fill("input[name=q]", "fla")  # type: ignore[attr-defined]
    page.wait_for_function("document.querySelectorAll('tr[data-pipeline]').length === 1")  # type: ignore[attr-defined]
    assert page.locator("tr[data-pipeline=flaky]").count() == 1  # type: ignore[attr-defined]


def test_a_click_on_a_strip_cell_opens_that_run(operator_page: object, live: LiveServer) -> None:
    # the scheduler makes a run of hello's latest interval when it starts
    wait_until(lambda: bool(live.store.list_runs("hello", limit=1)))
    page = operator_page
    page.goto(live.url + "/")  # type: ignore[attr-defined]
    strip = page.locator("tr[data-pipeline=hello] .strip[data-painted]")  # type: ignore[attr-defined]
    run_ids = json.loads(strip.get_attribute("data-runs"))
    strip.click(position={"x": 3, "y": 9})  # the first (oldest) cell
    page.wait_for_url(re.compile(r"/runs/"))  # type: ignore[attr-defined]
    assert page.url.endswith("/runs/" + run_ids[0])  # type: ignore[attr-defined]


def test_a_triggered_run_turns_green_live(operator_page: object, live: LiveServer) -> None:
    page = operator_page
    reads: list[str] = []
    page.on(  # type: ignore[attr-defined]
        "request",
        lambda request: reads.append(request.url) if request.url.endswith("/states") else None,
    )
    run_id = trigger(page, live, "hello", "2026-01-04")
    page.wait_for_selector("#run-state[data-state=success]")  # type: ignore[attr-defined]
    page.wait_for_function("document.getElementById('graph').dataset.states === 'sss'")  # type: ignore[attr-defined]
    assert live.store.get_run(run_id).state == "success"
    # the changes were pushed by the event stream: the page read the run's states when an
    # event said so (and twice when the stream opened), not once a second
    page.wait_for_function("document.getElementById('graph').dataset.live === 'sse'")  # type: ignore[attr-defined]
    graph = page.locator("#graph")  # type: ignore[attr-defined]
    # (reads of the page opened before, still in flight when the trigger left it, do not count)
    state_reads = [url for url in reads if url.endswith(f"/runs/{run_id}/states")]
    assert len(state_reads) <= int(graph.get_attribute("data-events") or 0) + 3
    page.click("tr[data-task=load]")  # type: ignore[attr-defined]
    page.click("[data-testid=log-1]")  # type: ignore[attr-defined]
    page.wait_for_selector("#log-text:has-text('loaded 6')")  # type: ignore[attr-defined]
    screenshot(page, "run")
    # the group "prepare" collapses into one node, coloured as its tasks are, and expands
    graph = page.locator("#graph")  # type: ignore[attr-defined]
    assert graph.get_attribute("data-groups") == "prepare"
    page.click("#graph-groups button[data-group=prepare]")  # type: ignore[attr-defined]
    assert graph.get_attribute("data-collapsed") == "prepare"
    assert page.evaluate(COLLAPSED_COLOUR) == page.evaluate(SUCCESS_COLOUR)  # type: ignore[attr-defined]
    screenshot(page, "run-collapsed")
    page.click("#graph-groups button[data-group=prepare]")  # type: ignore[attr-defined]
    assert graph.get_attribute("data-collapsed") == ""
    page.goto(f"{live.url}/pipelines/hello")  # type: ignore[attr-defined]
    page.wait_for_function("Number(document.getElementById('grid').dataset.runs) >= 1")  # type: ignore[attr-defined]
    screenshot(page, "pipeline")


def test_a_failed_tasks_log_then_a_retry(
    operator_page: object, live: LiveServer, marker: Path
) -> None:
    page = operator_page
    run_id = trigger(page, live, "flaky", "")
    page.wait_for_selector("#run-state[data-state=failed]")  # type: ignore[attr-defined]
    page.click("tr[data-task=fetch]")  # type: ignore[attr-defined]
    page.wait_for_selector("#task .error-box:has-text('upstream answered 503')")  # type: ignore[attr-defined]
    page.click("[data-testid=log-1]")  # type: ignore[attr-defined]
    page.wait_for_selector("#log-text:has-text('fetching the file')")  # type: ignore[attr-defined]
    marker.touch()  # the upstream is back
    page.click("[data-testid=retry]")  # type: ignore[attr-defined]
    page.wait_for_selector("#run-state[data-state=success]")  # type: ignore[attr-defined]
    assert live.store.get_run(run_id).state == "success"
    assert [t.try_number for t in live.store.get_tries(run_id, "fetch")] == [1, 2]


def test_a_backfill_shows_its_plan_then_runs(operator_page: object, live: LiveServer) -> None:
    page = operator_page
    page.goto(f"{live.url}/pipelines/hello")  # type: ignore[attr-defined]
    page.fill("#backfill-form input[name=start]", "2026-01-01")  # type: ignore[attr-defined]
    page.fill("#backfill-form input[name=end]", "2026-01-03")  # type: ignore[attr-defined]
    page.click("[data-testid=backfill-plan]")  # type: ignore[attr-defined]
    plan = page.wait_for_selector("[data-testid=plan]")  # type: ignore[attr-defined]
    assert "would run 3, redo 0 and skip 0 interval(s)" in plan.inner_text()
    assert live.store.list_backfills("hello") == []
    screenshot(page, "backfill-plan")
    page.click("[data-testid=backfill-start]")  # type: ignore[attr-defined]
    page.wait_for_url(re.compile(r"/backfills$"))  # type: ignore[attr-defined]
    wait_until(lambda: live.store.list_backfills("hello")[0].state == "success", timeout=30)
    page.reload()  # type: ignore[attr-defined]
    page.wait_for_selector("td .badge.s-success")  # type: ignore[attr-defined]
    screenshot(page, "backfills")


def test_pause_and_unpause(operator_page: object, live: LiveServer) -> None:
    page = operator_page
    page.goto(live.url + "/")  # type: ignore[attr-defined]
    page.click("[data-testid=pause-hello]")  # type: ignore[attr-defined]
    page.wait_for_selector("[data-testid=pause-hello]:has-text('paused')")  # type: ignore[attr-defined]
    assert live.store.get_pipeline("hello").paused is True
    screenshot(page, "pipelines")
    page.click("[data-testid=pause-hello]")  # type: ignore[attr-defined]
    page.wait_for_selector("[data-testid=pause-hello]:has-text('active')")  # type: ignore[attr-defined]
    assert live.store.get_pipeline("hello").paused is False


def test_a_viewer_sees_no_actions_and_is_refused_when_posting(
    browser: object, live: LiveServer, scheduler: object
) -> None:
    page = open_page(browser, live, "vera")
    # the scheduler makes a run of hello's latest interval when it starts
    wait_until(lambda: bool(live.store.list_runs("hello", limit=1)))
    run = live.store.list_runs("hello", limit=1)[0]
    page.goto(live.url + "/")  # type: ignore[attr-defined]
    assert page.locator("tr[data-pipeline=hello]").count() == 1  # type: ignore[attr-defined]
    assert page.locator("button[data-testid^=pause]").count() == 0  # type: ignore[attr-defined]
    page.goto(f"{live.url}/runs/{run.run_id}")  # type: ignore[attr-defined]
    page.wait_for_selector("#run-state")  # type: ignore[attr-defined]
    assert page.locator("#run-actions, [data-testid=retry], [data-testid=cancel]").count() == 0  # type: ignore[attr-defined]
    page.goto(f"{live.url}/pipelines/hello")  # type: ignore[attr-defined]
    assert page.locator("#trigger-form, #backfill-form").count() == 0  # type: ignore[attr-defined]
    answer = page.request.post(  # type: ignore[attr-defined]
        f"{live.url}/ui/pipelines/hello/paused",
        form={"paused": "true"},
        headers={"X-CSRF-Token": live.csrf["vera"]},
    )
    assert answer.status == 403
    assert live.store.get_pipeline("hello").paused is False
    page.context.close()  # type: ignore[attr-defined]


def test_a_run_page_without_the_event_stream_falls_back_to_polling(
    browser: object, live: LiveServer, scheduler: object
) -> None:
    wait_until(lambda: bool(live.store.list_runs("hello", limit=1)))
    run = live.store.list_runs("hello", limit=1)[0]
    wait_until(lambda: live.store.get_run(run.run_id).state == "success", timeout=30)
    page = open_page(browser, live, "vera")
    page.add_init_script("delete window.EventSource")  # type: ignore[attr-defined]
    page.goto(f"{live.url}/runs/{run.run_id}")  # type: ignore[attr-defined]
    page.wait_for_function("document.getElementById('graph').dataset.live === 'poll'")  # type: ignore[attr-defined]
    page.wait_for_function("document.getElementById('graph').dataset.states === 'sss'")  # type: ignore[attr-defined]
    page.context.close()  # type: ignore[attr-defined]


def test_an_admin_sends_a_test_alert_from_the_alerts_page(
    browser: object, live: LiveServer, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver = HttpReceiver().start()
    monkeypatch.setenv("UI_BROWSER_HOOK_SECRET", "HOOKSECRET123")
    (home / "headwater.toml").write_text(
        f'[alerts.channels.oncall]\ntype = "webhook"\nurl = "{receiver.url}/hook"\n'
        'secret = "env:UI_BROWSER_HOOK_SECRET"\n\n'
        '[[alerts.rules]]\npipelines = ["*"]\nevents = ["run_failed"]\nchannels = ["oncall"]\n',
        encoding="utf-8",
    )
    page = open_page(browser, live, "ada")
    try:
        page.goto(live.url + "/alerts")  # type: ignore[attr-defined]
        page.click("[data-testid=test-oncall]")  # type: ignore[attr-defined]
        outcome = page.wait_for_selector("[data-testid=test-outcome]")  # type: ignore[attr-defined]
        assert outcome.inner_text() == "delivered to webhook channel oncall"
        assert [r.path for r in receiver.received] == ["/hook"]
        assert "HOOKSECRET123" not in page.content()  # type: ignore[attr-defined]
        screenshot(page, "alerts")
    finally:
        page.context.close()  # type: ignore[attr-defined]
        receiver.stop()
        (home / "headwater.toml").unlink()
