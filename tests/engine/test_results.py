"""Results: small JSON inline in the store, the rest pickled to the result store."""

from __future__ import annotations

import json
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest

from headwater import pipeline, task
from headwater.config import Settings
from headwater.engine.results import INLINE_LIMIT, ResultStore, is_plain_json
from headwater.runtime import Runtime
from headwater.store.records import TaskInstanceRecord
from headwater.testing import FakeClock


@dataclass(frozen=True)
class Measure:
    name: str
    value: float


@task
def small() -> dict[str, Any]:
    return {"rows": 3, "names": ["a", "b"], "ok": True, "ratio": 0.5, "none": None}


@task
def large() -> list[int]:
    return list(range(20_000))  # about 110 KiB of JSON


@task
def pair() -> tuple[int, str]:
    return (1, "one")


@task
def measure() -> Measure:
    return Measure("speed", 4.5)


@task
def receive(
    small: dict[str, Any], large: list[int], pair: tuple[int, str], measure: Measure
) -> str:
    assert isinstance(pair, tuple)
    assert isinstance(measure, Measure)
    return f"{small['rows']} {len(large)} {pair[1]} {measure.name}"


@pipeline
def results() -> None:
    receive(small(), large(), pair(), measure())


EXPECTED = {"large": list(range(20_000)), "pair": (1, "one"), "measure": Measure("speed", 4.5)}


def instances(runtime: Runtime, run_id: str) -> dict[str, TaskInstanceRecord]:
    return {ti.task_id: ti for ti in runtime.store.get_task_instances(run_id)}


def test_a_small_json_result_is_kept_inline(runtime: Runtime) -> None:
    run = runtime.run(results)

    stored = instances(runtime, run.run_id)["small"]
    assert stored.result_ref is None
    assert stored.result is not None
    assert json.loads(stored.result) == small.fn()


@pytest.mark.parametrize("task_id", ["large", "pair", "measure"])
def test_large_or_non_json_results_go_to_the_result_store(
    runtime: Runtime, tmp_path: Path, task_id: str
) -> None:
    run = runtime.run(results)

    stored = instances(runtime, run.run_id)[task_id]
    assert stored.result is None
    assert stored.result_ref == str(tmp_path / "results" / run.run_id / f"{task_id}.pickle")
    assert Path(stored.result_ref).is_file()
    assert ResultStore.decode(stored.result, stored.result_ref) == EXPECTED[task_id]


def test_downstream_tasks_receive_the_values_unchanged(runtime: Runtime) -> None:
    run = runtime.run(results)

    stored = instances(runtime, run.run_id)["receive"]
    assert run.state == "success"
    assert stored.result == json.dumps("3 20000 one speed")


def test_results_can_go_to_an_fsspec_url(tmp_path: Path) -> None:
    url = f"memory://headwater-tests/{tmp_path.name}"
    runtime = Runtime(Settings.for_home(tmp_path, results_url=url), clock=FakeClock())
    try:
        run = runtime.run(results)
        stored = instances(runtime, run.run_id)
        assert run.state == "success"
        ref = stored["large"].result_ref
        assert ref == f"{url}/{run.run_id}/large.pickle"
        assert ResultStore.decode(None, ref) == list(range(20_000))
        assert ResultStore.decode(None, stored["measure"].result_ref) == Measure("speed", 4.5)
        assert not (tmp_path / "results").exists()
    finally:
        runtime.close()
        fsspec.filesystem("memory").rm(f"/headwater-tests/{tmp_path.name}", recursive=True)


def test_a_result_that_cannot_be_stored_fails_the_try(runtime: Runtime) -> None:
    @task
    def lock() -> object:
        return threading.Lock()

    @task
    def after(value: object) -> None:
        return None

    @pipeline
    def unstorable() -> None:
        after(lock())

    run = runtime.run(unstorable)

    stored = instances(runtime, run.run_id)
    assert stored["lock"].state == "failed"
    assert stored["lock"].error is not None
    assert stored["lock"].error.startswith(
        "the result of task 'lock' cannot be stored: TypeError: cannot pickle"
    )
    assert stored["after"].state == "upstream_failed"
    log = runtime.store.get_tries(run.run_id, "lock")[0].log_path
    assert log is not None
    assert "cannot be stored" in Path(log).read_text()


# the result store on its own


@pytest.fixture
def result_store(tmp_path: Path) -> ResultStore:
    return ResultStore(str(tmp_path / "results"))


def test_the_inline_limit_is_64_kib_of_json(result_store: ResultStore) -> None:
    # a JSON string takes two quote characters
    at_limit = "x" * (INLINE_LIMIT - 2)
    over_limit = "x" * (INLINE_LIMIT - 1)

    inline, ref = result_store.encode("run", "t", -1, at_limit)
    assert (len(inline or ""), ref) == (INLINE_LIMIT, None)
    inline, ref = result_store.encode("run", "t", -1, over_limit)
    assert inline is None
    assert ref is not None
    assert ResultStore.decode(inline, ref) == over_limit


def test_a_mapped_instance_gets_its_own_file(result_store: ResultStore, tmp_path: Path) -> None:
    _, ref = result_store.encode("run", "square", 2, (2, 4))
    assert ref == str(tmp_path / "results" / "run" / "square.2.pickle")


def test_a_file_url_is_a_local_folder(tmp_path: Path) -> None:
    store = ResultStore(f"file://{tmp_path}/results")
    _, ref = store.encode("run", "t", -1, {1: "int key"})
    assert ref == f"{tmp_path}/results/run/t.pickle"
    assert ResultStore.decode(None, ref) == {1: "int key"}


def test_none_is_stored_inline() -> None:
    assert ResultStore.decode("null", None) is None
    assert ResultStore.decode(None, None) is None


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        (None, True),
        ("text", True),
        (3, True),
        (2.5, True),
        (True, True),
        ([1, [2, {"a": None}]], True),
        ({"a": {"b": [1.5]}}, True),
        ((1, 2), False),  # would come back as a list
        ({1: "a"}, False),  # would come back with a string key
        (float("nan"), False),
        (float("inf"), False),
        ({"a", "b"}, False),
        (b"bytes", False),
        (Measure("m", 1.0), False),
    ],
)
def test_plain_json_is_what_survives_a_json_round_trip(value: object, plain: bool) -> None:
    assert is_plain_json(value) is plain


def test_a_task_whose_upstream_result_is_gone_fails_without_a_try(
    runtime: Runtime, tmp_path: Path
) -> None:
    # Given: a finished run, whose result files are then deleted
    @task
    def count(values: list[int]) -> int:
        return len(values)

    @task
    def report(n: int) -> int:
        return n

    @pipeline
    def lost() -> None:
        report(count(large()))

    run = runtime.run(lost)
    shutil.rmtree(tmp_path / "results")

    # When: count is cleared and run again
    again = runtime.clear(run.run_id, ["count"], downstream=True, pipeline=lost)

    # Then: it fails before starting a try, naming the missing file
    stored = instances(runtime, run.run_id)
    assert stored["count"].state == "failed"
    assert stored["count"].error is not None
    assert stored["count"].error.startswith("FileNotFoundError: ")
    assert f"{run.run_id}/large.pickle" in stored["count"].error
    assert len(runtime.store.get_tries(run.run_id, "count")) == 1  # only the first run's
    assert stored["report"].state == "upstream_failed"
    assert again.state == "failed"
