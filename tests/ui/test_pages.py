"""The web UI over HTTP: pages, data routes, actions and who may do what.

A real server (uvicorn in a thread) over a store seeded by really running the test
pipelines in this process; no browser here (see test_browser.py).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.loader import load_pipeline
from headwater.runtime import Runtime
from headwater.store.records import RunRecord
from headwater.store.sql.schema import task_tries
from tests.ui.conftest import PIPELINES
from tests.ui.live import LiveServer

SOURCE = PIPELINES / "ui_pipelines.py"


@pytest.fixture(scope="module")
def runs(live: LiveServer, home: Path) -> Iterator[dict[str, RunRecord]]:
    """A successful run of hello (2026-01-02) and a failed run of flaky."""
    os.environ["UI_TEST_MARKER"] = str(home / "marker")
    runtime = Runtime(live.settings)
    try:
        done = runtime.run(load_pipeline(f"{SOURCE}:hello"), logical_date=date(2026, 1, 2))
        failed = runtime.run(load_pipeline(f"{SOURCE}:flaky"))
    finally:
        runtime.close()
        del os.environ["UI_TEST_MARKER"]
    return {"done": done, "failed": failed}


def test_pages_need_a_session_and_send_visitors_to_the_login_page(live: LiveServer) -> None:
    with live.client() as anonymous:
        page = anonymous.get("/?q=hel")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2F%3Fq%3Dhel"
        assert anonymous.get("/ui/data/pipelines/hello/layout").status_code == 401


def test_the_pipelines_page_lists_each_with_its_runs_and_next_run(
    live: LiveServer, runs: dict[str, RunRecord]
) -> None:
    with live.client("vera") as viewer:
        page = viewer.get("/")
    assert page.status_code == 200
    assert 'data-pipeline="hello"' in page.text
    assert 'data-pipeline="flaky"' in page.text
    assert f'href="/runs/{runs["done"].run_id}"' in page.text
    assert "cell s-failed" in page.text
    assert '<span class="tag">demo</span>' in page.text
    assert "hx-post" not in page.text  # a viewer gets no action


def test_search_and_filters_narrow_the_list(live: LiveServer, runs: dict[str, RunRecord]) -> None:
    with live.client("vera") as viewer:
        by_text = viewer.get("/", params={"q": "fla"}).text
        by_state = viewer.get("/", params={"state": "success"}).text
        by_tag = viewer.get("/", params={"tag": "demo"}).text
    assert 'data-pipeline="flaky"' in by_text
    assert 'data-pipeline="hello"' not in by_text
    assert 'data-pipeline="hello"' in by_state
    assert 'data-pipeline="flaky"' not in by_state
    assert 'data-pipeline="hello"' in by_tag
    assert 'data-pipeline="flaky"' not in by_tag


def test_a_viewer_is_refused_every_action(live: LiveServer, runs: dict[str, RunRecord]) -> None:
    headers = {"X-CSRF-Token": live.csrf["vera"]}
    failed = runs["failed"].run_id
    with live.client("vera") as viewer:
        for path, form in [
            ("/ui/pipelines/hello/paused", {"paused": "true"}),
            ("/ui/pipelines/hello/trigger", {}),
            ("/ui/pipelines/hello/backfill/plan", {"start": "2026-01-01", "end": "2026-01-02"}),
            ("/ui/pipelines/hello/backfill", {"start": "2026-01-01", "end": "2026-01-02"}),
            (f"/ui/runs/{failed}/retry", {}),
            (f"/ui/runs/{failed}/clear", {"task": "fetch"}),
            (f"/ui/runs/{failed}/cancel", {}),
        ]:
            answer = viewer.post(path, data=form, headers=headers)
            assert answer.status_code == 403, path
            assert "vera is viewer; this needs operator" in answer.text
    assert live.store.get_pipeline("hello").paused is False


def test_an_action_without_the_csrf_token_is_refused(live: LiveServer) -> None:
    with live.client("otto") as operator:
        answer = operator.post("/ui/pipelines/hello/paused", data={"paused": "true"})
    assert answer.status_code == 403
    assert "CSRF" in answer.text


def test_an_operator_pauses_and_unpauses(live: LiveServer, runs: dict[str, RunRecord]) -> None:
    with live.client("otto") as operator:
        form = {"paused": "true", "csrf_token": live.csrf["otto"]}
        answer = operator.post("/ui/pipelines/flaky/paused", data=form)
        assert answer.status_code == 303
        assert live.store.get_pipeline("flaky").paused is True
        form["paused"] = "false"
        operator.post("/ui/pipelines/flaky/paused", data=form, headers={"HX-Request": "true"})
        assert live.store.get_pipeline("flaky").paused is False


def test_the_trigger_form_checks_params_and_dates_as_the_cli_does(
    live: LiveServer, runs: dict[str, RunRecord]
) -> None:
    csrf = live.csrf["otto"]
    with live.client("otto") as operator:
        bad = operator.post(
            "/ui/pipelines/hello/trigger", data={"csrf_token": csrf, "param.rows": "many"}
        )
        unknown = operator.post(
            "/ui/pipelines/hello/trigger", data={"csrf_token": csrf, "param.nope": "1"}
        )
        taken = operator.post(
            "/ui/pipelines/hello/trigger", data={"csrf_token": csrf, "logical_date": "2026-01-02"}
        )
        baddate = operator.post(
            "/ui/pipelines/hello/trigger", data={"csrf_token": csrf, "logical_date": "someday"}
        )
    assert "param &#39;rows&#39; of pipeline &#39;hello&#39;" in bad.text
    assert "has no param &#39;nope&#39;; its params are: rows" in unknown.text
    assert runs["done"].run_id in taken.text
    assert "already has a run" in taken.text
    assert 'class="error"' in baddate.text


def test_a_run_page_and_its_compact_data(live: LiveServer, runs: dict[str, RunRecord]) -> None:
    run_id = runs["failed"].run_id
    with live.client("vera") as viewer:
        page = viewer.get(f"/runs/{run_id}")
        states = viewer.get(f"/ui/data/runs/{run_id}/states").json()
        layout = viewer.get("/ui/data/pipelines/flaky/layout")
        again = viewer.get(
            "/ui/data/pipelines/flaky/layout", headers={"If-None-Match": layout.headers["etag"]}
        )
        gantt = viewer.get(f"/ui/data/runs/{run_id}/gantt").json()
        grid = viewer.get("/ui/data/pipelines/hello/grid").json()
        table = viewer.get(f"/ui/runs/{run_id}/tasks").text
        missing = viewer.get("/runs/no_such_run")
    assert page.status_code == 200
    assert 'data-testid="retry"' not in page.text
    assert layout.json()["ids"] == ["fetch", "publish"]
    assert layout.json()["x"] == [0, 1]
    assert again.status_code == 304
    assert states["state"] == "failed"
    assert states["states"] == "fu"
    assert gantt["ids"] == ["fetch", "publish"]
    assert gantt["start"][1] is None
    assert grid["rows"] == ["sss"]
    assert grid["runs"][0]["run_id"] == runs["done"].run_id
    assert "upstream answered 503" in table
    assert missing.status_code == 404
    assert "no_such_run" in missing.text


def test_the_log_viewer_serves_only_files_under_the_logs_folder(
    live: LiveServer, runs: dict[str, RunRecord]
) -> None:
    run_id = runs["failed"].run_id
    path = f"/ui/runs/{run_id}/tasks/fetch/log"
    with live.client("vera") as viewer:
        log = viewer.get(path, params={"try_number": 1})
        detail = viewer.get(f"/ui/runs/{run_id}/tasks/fetch")
        with live.store.engine.begin() as connection:
            connection.execute(
                sa.update(task_tries)
                .where(task_tries.c.run_id == run_id, task_tries.c.task_id == "fetch")
                .values(log_path="/etc/passwd")
            )
        outside = viewer.get(path, params={"try_number": 1})
        unknown = viewer.get(path, params={"try_number": 9})
    assert "fetching the file" in log.text
    assert 'data-live="no"' in log.text
    assert "upstream answered 503" in detail.text
    assert "root:" not in outside.text
    assert "wrote no log output" in outside.text
    assert unknown.status_code == 404


def test_the_backfill_dry_run_shows_the_plan_and_changes_nothing(
    live: LiveServer, runs: dict[str, RunRecord]
) -> None:
    form = {"csrf_token": live.csrf["otto"], "start": "2026-01-01", "end": "2026-01-03"}
    with live.client("otto") as operator:
        plan = operator.post("/ui/pipelines/hello/backfill/plan", data=form)
        empty = operator.post("/ui/pipelines/hello/backfill/plan", data={**form, "end": ""})
    assert "would run 2, redo 0 and skip 1 interval(s)" in plan.text
    assert runs["done"].run_id in plan.text
    assert live.store.list_backfills("hello") == []
    assert "needs a start and an end" in empty.text


def test_pools_backfills_and_health_pages(live: LiveServer) -> None:
    with live.client("vera") as viewer:
        for path, text in [
            ("/pools", "Pools"),
            ("/backfills", "Backfills"),
            ("/health", "No scheduler has ever sent a heartbeat"),
        ]:
            page = viewer.get(path)
            assert page.status_code == 200, path
            assert text in page.text, path
