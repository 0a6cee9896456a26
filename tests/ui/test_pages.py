"""The web UI over HTTP: pages, data routes, actions and who may do what.

A real server (uvicorn in a thread) over a store seeded by really running the test
pipelines in this process; no browser here (see test_browser.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater.alerts.sender import AlertSender
from headwater.config_file import load_config
from headwater.loader import load_pipeline
from headwater.runtime import Runtime
from headwater.store.records import PipelineRecord, RunRecord
from headwater.store.sql.schema import runs as runs_table
from headwater.store.sql.schema import task_tries
from tests.alerts.receivers import HttpReceiver
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
    # each strip is one element: its runs' states (one character each) and their ids
    assert f'data-states="s" data-runs=\'["{runs["done"].run_id}"]\'' in page.text
    assert f'data-states="f" data-runs=\'["{runs["failed"].run_id}"]\'' in page.text
    assert '<span class="tag">demo</span>' in page.text
    assert "hx-post" not in page.text  # a viewer gets no action
    assert "data-pause" not in page.text


def badge_of(text: str, pipeline_id: str | None = None) -> str | None:
    """The first freshness badge in the page, or in ``pipeline_id``'s row of the list."""
    if pipeline_id is not None:
        start = text.index(f'data-pipeline="{pipeline_id}"')
        text = text[start : text.index("</tr>", start)]
    found = re.search(r'<span class="fresh (\w+)" data-testid="freshness" title="([^"]*)"', text)
    return None if found is None else f"{found.group(1)}: {found.group(2)}"


def test_freshness_badges_follow_the_newest_successful_interval(
    live: LiveServer, runs: dict[str, RunRecord]
) -> None:
    # Given hello (freshness one day, loaded by the server) whose only success covers
    # 2026-01-02, and a pipeline known only from the store whose recorded description
    # asks for six hours and which succeeded for an interval that ended an hour ago
    now = live.context.clock.now()
    graph = {"tasks": [], "alerting": {"freshness_seconds": 6 * 3600.0}}
    live.store.upsert_pipeline(
        PipelineRecord(
            pipeline_id="stored_only",
            source_file=None,
            description="",
            schedule="@hourly",
            timezone="UTC",
            graph=graph,
            updated_at=now,
        )
    )
    with live.store.engine.begin() as connection:
        connection.execute(
            runs_table.insert(),
            {
                "run_id": "stored_only__1",
                "pipeline_id": "stored_only",
                "logical_date": now - timedelta(hours=2),
                "data_interval_start": now - timedelta(hours=2),
                "data_interval_end": now - timedelta(hours=1),
                "params": "{}",
                "state": "success",
                "run_type": "scheduled",
                "triggered_by": "test",
                "created_at": now,
            },
        )
    with live.client("vera") as viewer:
        listed = viewer.get("/").text
        hello = viewer.get("/pipelines/hello").text
        stored = viewer.get("/pipelines/stored_only").text
    # Then hello is stale, stored_only is fresh, and flaky (no freshness) has no badge
    assert (badge_of(listed, "hello") or "").startswith("stale: newest successful interval ended")
    assert (badge_of(listed, "hello") or "").endswith("ago; allowed 24h 00m")
    assert (badge_of(listed, "stored_only") or "").startswith("ok: newest successful interval")
    assert badge_of(listed, "flaky") is None
    assert (badge_of(hello) or "").startswith("stale:")
    assert (badge_of(stored) or "").startswith("ok:")


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


SECRETS = {
    "UI_HOOK_SECRET": "HOOKSECRET123",
    "UI_SLACK_URL": "/services/T0/B0/SLACKTOKEN",  # the receiver's address goes first
    "UI_PD_KEY": "ROUTINGKEY123",
    "UI_MAIL_PASSWORD": "MAILPASS123",
}


def test_the_alerts_page_shows_channels_routes_and_deliveries_but_no_secret(
    live: LiveServer,
    home: Path,
    runs: dict[str, RunRecord],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given four channels whose secrets come from the environment (and a webhook URL
    # with a token in its query), a rule, and a real receiver that refuses one request
    receiver = HttpReceiver().start()
    try:
        for name, value in SECRETS.items():
            monkeypatch.setenv(name, receiver.url + value if name == "UI_SLACK_URL" else value)
        (home / "headwater.toml").write_text(
            f"""
[alerts.channels.hook]
type = "webhook"
url = "{receiver.url}/hook?token=URLTOKEN"
secret = "env:UI_HOOK_SECRET"

[alerts.channels.team]
type = "slack"
webhook_url = "env:UI_SLACK_URL"

[alerts.channels.pager]
type = "pagerduty"
routing_key = "env:UI_PD_KEY"
url = "{receiver.url}/v2/enqueue"

[alerts.channels.mail]
type = "email"
host = "127.0.0.1"
port = 9
username = "bot"
password = "env:UI_MAIL_PASSWORD"
from = "headwater@example.com"
to = "oncall@example.com"

[[alerts.rules]]
pipelines = ["*"]
events = ["run_failed"]
channels = ["hook", "team"]
""",
            encoding="utf-8",
        )
        config = load_config(None, home).alerts
        # the failed run of flaky is routed to hook and team; the first POST gets a 500
        receiver.statuses = [500]
        AlertSender(live.store, config, owner="test", clock=live.context.clock).run_once()
        with live.client("vera") as viewer:
            page = viewer.get("/alerts").text
        with live.client("ada") as admin:
            page_for_admin = admin.get("/alerts").text
            headers = {"X-CSRF-Token": live.csrf["ada"], "HX-Request": "true"}
            sent = admin.post("/ui/alerts/channels/hook/test", headers=headers)
            receiver.statuses = [500]
            refused = admin.post("/ui/alerts/channels/pager/test", headers=headers)
            unknown = admin.post("/ui/alerts/channels/nope/test", headers=headers)
        with live.client("otto") as operator:
            forbidden = operator.post(
                "/ui/alerts/channels/hook/test", headers={"X-CSRF-Token": live.csrf["otto"]}
            )
        with live.client("ada") as admin:
            without_csrf = admin.post("/ui/alerts/channels/hook/test")
    finally:
        receiver.stop()
    # Then the page lists each channel with where its events come from
    assert '<a href="/alerts">Alerts</a>' in page
    for name in ("hook", "team", "pager", "mail"):
        assert f'data-channel="{name}"' in page
    assert "run_failed of every pipeline (rule)" in page
    assert receiver.url in page  # the webhook's origin, not its path or query
    # and the deliveries with their outcome: one sent, one waiting for a retry
    assert 'data-outcome="sent"' in page
    assert 'data-outcome="pending"' in page
    assert "HTTP 500" in page
    # only admins get the test buttons; a test shows its outcome, in one line
    assert "Send a test" not in page
    assert 'data-testid="test-hook"' in page_for_admin
    assert "delivered to webhook channel hook" in sent.text
    assert receiver.received[-1].path == "/hook?token=URLTOKEN"
    assert "not delivered: pagerduty channel &#39;pager&#39;" in refused.text
    assert "HTTP 500" in refused.text
    assert "no alert channel &#39;nope&#39;; declared channels: hook, mail, pager, team" in (
        unknown.text
    )
    assert forbidden.status_code == 403
    assert without_csrf.status_code == 403
    # and no secret anywhere: not the URL's token, the signing secret, the Slack URL,
    # the routing key or the password
    shown = page + page_for_admin + sent.text + refused.text + unknown.text
    for secret in ("URLTOKEN", "HOOKSECRET123", "SLACKTOKEN", "ROUTINGKEY123", "MAILPASS123"):
        assert secret not in shown, secret
