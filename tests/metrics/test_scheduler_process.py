"""``headwater scheduler --metrics-port``: a real scheduler process, scraped over HTTP."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.metrics.instruments import DURATION_BUCKETS
from tests.cli.conftest import Headwater, command_env
from tests.cli.conftest import headwater as headwater  # the fixture
from tests.forked_commands import CommandServer
from tests.metrics.conftest import BOUNDED_LABELS, label_sets, parse, value
from tests.waiting import wait_until

DAILY = """\
from headwater import pipeline, task

@task
def ok() -> int:
    return 1

@pipeline(schedule="@daily", start="2026-01-01")
def daily() -> None:
    ok()
"""

MANUAL = """\
from headwater import Context, pipeline, task

@task(retries=1, retry_delay=0)
def flaky(ctx: Context) -> int:
    if ctx.try_number == 1:
        raise ConnectionError("not yet")
    return 1

@task
def boom(value: int) -> int:
    raise ValueError("boom")

@task
def after(value: int) -> int:
    return value

@pipeline
def manual() -> None:
    after(boom(flaky()))
"""

STATES = {"success", "failed", "skipped", "upstream_failed", "up_for_retry", "queued", "running"}
STATES |= {"none", "up_for_reschedule"}
PIPELINES = {"daily", "manual"}
TASKS = {"ok", "flaky", "boom", "after"}


class Scheduler:
    def __init__(self, server: CommandServer, tmp_path: Path, pipelines: Path) -> None:
        self.log = tmp_path / "scheduler.log"
        self._output = self.log.open("w")
        self.process = server.popen(
            [
                *("scheduler", "--pipelines", str(pipelines)),
                *("--tick", "0.1", "--metrics-port", "0"),
            ],
            cwd=tmp_path,
            env=command_env(tmp_path / "home"),
            stdout=self._output,
            stderr=subprocess.STDOUT,
        )
        self.url = ""
        wait_until(self._serving)

    def _serving(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        found = re.search(r"metrics at (http://127\.0\.0\.1:\d+/metrics)", self.log.read_text())
        if found:
            self.url = found.group(1)
        return bool(found)

    def scrape(self) -> str:
        with urllib.request.urlopen(self.url, timeout=10) as response:
            text: str = response.read().decode()
            return text

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._output.close()


@pytest.fixture
def scheduler(tmp_path: Path, command_server: CommandServer) -> Iterator[Scheduler]:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    (pipelines / "daily.py").write_text(DAILY)
    (pipelines / "manual.py").write_text(MANUAL)
    process = Scheduler(command_server, tmp_path, pipelines)
    yield process
    process.close()


def test_a_scrape_after_runs_end_has_their_counters_and_histograms(
    scheduler: Scheduler, headwater: Headwater, tmp_path: Path
) -> None:
    # Given a scheduler running a daily pipeline (its latest interval runs at once) and
    # a manual one triggered now, whose flaky task fails once and whose boom task fails
    triggered = headwater("trigger", "manual", "--pipelines", str(tmp_path / "pipelines"))
    assert triggered.code == 0, triggered.stderr

    def both_finished() -> bool:
        families = parse(scheduler.scrape())
        finished = "headwater_runs_finished_total"
        return (
            value(families, finished, pipeline="manual", state="failed") == 1
            and value(families, finished, pipeline="daily", state="success") == 1
        )

    wait_until(both_finished)
    families = parse(scheduler.scrape())

    # Then: each task's final state once, the retry, the tries, and each run's duration
    tasks = {
        (s.labels["task"], s.labels["state"]): s.value
        for s in families["headwater_pipeline_tasks"]
        if s.name.endswith("_total")
    }
    assert tasks == {
        ("ok", "success"): 1,
        ("flaky", "success"): 1,
        ("boom", "failed"): 1,
        ("after", "upstream_failed"): 1,
    }
    assert value(families, "headwater_task_retries_total", pipeline="manual", task="flaky") == 1
    tries = "headwater_task_try_duration_seconds_count"
    assert value(families, tries, pipeline="manual", state="failed") == 2
    assert value(families, tries, pipeline="manual", state="success") == 1
    for pipeline_id, state in (("manual", "failed"), ("daily", "success")):
        count = "headwater_pipeline_duration_seconds_count"
        assert value(families, count, pipeline=pipeline_id, state=state) == 1
        buckets = [
            s
            for s in families["headwater_pipeline_duration_seconds"]
            if s.name.endswith("_bucket") and s.labels["pipeline"] == pipeline_id
        ]
        assert len(buckets) == len(DURATION_BUCKETS) + 1
        assert buckets[-1].labels["le"] == "+Inf"
        assert buckets[-1].value == 1
    # the daily run was scheduled: its delay from the interval's end is recorded
    delay = "headwater_schedule_delay_seconds_count"
    assert value(families, delay, pipeline="daily") == 1
    assert value(families, delay, pipeline="manual") is None
    # the loop, and the store's gauges beside the process's own
    loop = value(families, "headwater_scheduler_loop_duration_seconds_count")
    assert loop is not None
    assert loop >= 1
    assert value(families, "headwater_runs", pipeline="manual", state="failed") == 1
    freshness = value(families, "headwater_data_freshness_seconds", pipeline="daily")
    assert freshness is not None
    assert 0 < freshness < 2 * 86400
    assert value(families, "headwater_store_up") == 1

    # And no label value outside the bounded sets: no run id, no try, no error
    for labels in label_sets(families):
        assert set(labels) <= BOUNDED_LABELS
        assert labels.get("pipeline", "daily") in PIPELINES
        assert labels.get("task", "ok") in TASKS
        assert labels.get("state", "success") in STATES
    assert scheduler.stop() == 0


def test_a_metrics_port_in_use_is_refused_in_one_line(headwater: Headwater) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = headwater("scheduler", "--pipelines", ".", "--metrics-port", str(port))
    assert result.code == 2
    assert f"cannot serve metrics on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "choose another --metrics-port" in result.stderr
    assert "Traceback" not in result.stderr
