"""Results: small JSON inline in the store, the rest pickled to the result store."""

from __future__ import annotations

import hashlib
import json
import pickle
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest

from headwater import pipeline, task
from headwater.config import Settings
from headwater.engine.results import (
    INLINE_LIMIT,
    TAG_SEPARATOR,
    ResultIntegrityError,
    ResultStore,
    is_plain_json,
)
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
    assert stored.result_ref is not None
    name, _, tag = stored.result_ref.partition(TAG_SEPARATOR)
    assert name == f"{run.run_id}/{task_id}.pickle"
    assert re.fullmatch("[0-9a-f]{64}", tag)
    assert (tmp_path / "results" / name).is_file()
    assert runtime.result_store.decode(stored.result, stored.result_ref) == EXPECTED[task_id]


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
        assert ref is not None
        assert ref.startswith(f"{run.run_id}/large.pickle{TAG_SEPARATOR}")
        assert fsspec.filesystem("memory").exists(f"{url}/{run.run_id}/large.pickle")
        decode = runtime.result_store.decode
        assert decode(None, ref) == list(range(20_000))
        assert decode(None, stored["measure"].result_ref) == Measure("speed", 4.5)
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


KEY = "k" * 32


@pytest.fixture
def result_store(tmp_path: Path) -> ResultStore:
    return ResultStore(str(tmp_path / "results"), secret_key=KEY)


def test_the_inline_limit_is_64_kib_of_json(result_store: ResultStore) -> None:
    # a JSON string takes two quote characters
    at_limit = "x" * (INLINE_LIMIT - 2)
    over_limit = "x" * (INLINE_LIMIT - 1)

    inline, ref = result_store.encode("run", "t", -1, at_limit)
    assert (len(inline or ""), ref) == (INLINE_LIMIT, None)
    inline, ref = result_store.encode("run", "t", -1, over_limit)
    assert inline is None
    assert ref is not None
    assert result_store.decode(inline, ref) == over_limit


def test_a_mapped_instance_gets_its_own_file(result_store: ResultStore, tmp_path: Path) -> None:
    _, ref = result_store.encode("run", "square", 2, (2, 4))
    assert ref is not None
    assert ref.startswith(f"run/square.2.pickle{TAG_SEPARATOR}")
    assert (tmp_path / "results" / "run" / "square.2.pickle").is_file()


def test_a_file_url_is_a_local_folder(tmp_path: Path) -> None:
    store = ResultStore(f"file://{tmp_path}/results", secret_key=KEY)
    _, ref = store.encode("run", "t", -1, {1: "int key"})
    assert (tmp_path / "results" / "run" / "t.pickle").is_file()
    assert store.decode(None, ref) == {1: "int key"}


def test_none_is_stored_inline(result_store: ResultStore) -> None:
    assert result_store.decode("null", None) is None
    assert result_store.decode(None, None) is None


# references are checked before anything is unpickled


class CreatesFile:
    """Unpickling this creates a file: the code execution a crafted result would get."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.path), "w"))


@pytest.mark.parametrize(
    "url", ["{tmp}/results", "file://{tmp}/results", "memory://headwater-tests/{name}"]
)
def test_a_result_round_trips_through_each_kind_of_store(tmp_path: Path, url: str) -> None:
    store = ResultStore(url.format(tmp=tmp_path, name=tmp_path.name), secret_key=KEY)
    try:
        inline, ref = store.encode("manual__20260105T000000__abc123", "load.part-1", 3, (1, "a"))
        assert inline is None
        assert ref is not None
        assert ref.startswith(
            f"manual__20260105T000000__abc123/load.part-1.3.pickle{TAG_SEPARATOR}"
        )
        assert store.decode(inline, ref) == (1, "a")
        # another process with the same key and store reads it too
        assert ResultStore(store.url, secret_key=KEY).decode(None, ref) == (1, "a")
    finally:
        if url.startswith("memory://"):
            fsspec.filesystem("memory").rm(f"/headwater-tests/{tmp_path.name}", recursive=True)


@pytest.mark.parametrize(
    "name",
    [
        "../outside.pickle",
        "run/../../outside.pickle",
        "/etc/outside.pickle",
        "run//t.pickle",
        "./run/t.pickle",
        "file:///etc/outside.pickle",
        "s3://bucket/outside.pickle",
        "memory://headwater-tests/outside.pickle",
        "run\\..\\t.pickle",
        "",
    ],
)
def test_a_reference_outside_the_store_is_refused(
    result_store: ResultStore, tmp_path: Path, name: str
) -> None:
    marker = tmp_path / "code-was-run"
    (tmp_path / "outside.pickle").write_bytes(pickle.dumps(CreatesFile(marker)))
    with pytest.raises(ResultIntegrityError) as refused:
        result_store.decode(None, f"{name}{TAG_SEPARATOR}{'0' * 64}")
    assert str(refused.value) == (
        f"result reference {name + TAG_SEPARATOR + '0' * 64!r} points outside the result "
        f"store {str(tmp_path / 'results')!r}, so it is not read: a reference names a file "
        "inside the store, as 'RUN_ID/TASK_ID.pickle'"
    )
    assert not marker.exists()


@pytest.mark.parametrize(
    "ref",
    [
        "run/t.pickle",  # as older versions wrote it: a path, no tag
        "run/t.pickle#hmac-sha256=",
        "run/t.pickle#hmac-sha256=abc",
        f"run/t.pickle#hmac-sha256={'0' * 63}G",
        f"run/t.pickle#sha256={'0' * 64}",
    ],
)
def test_a_reference_without_a_valid_tag_is_refused(
    result_store: ResultStore, tmp_path: Path, ref: str
) -> None:
    marker = tmp_path / "code-was-run"
    (tmp_path / "results" / "run").mkdir(parents=True)
    (tmp_path / "results" / "run" / "t.pickle").write_bytes(pickle.dumps(CreatesFile(marker)))
    with pytest.raises(ResultIntegrityError, match="has no integrity tag") as refused:
        result_store.decode(None, ref)
    assert str(refused.value) == (
        f"result reference {ref!r} has no integrity tag ('#hmac-sha256=' and 64 hex "
        "digits), so it is not read: it was not written by this version of headwater, or "
        "was changed in the metadata database; run the task again to store its result anew"
    )
    assert not marker.exists()


def test_a_long_reference_is_shown_cut(result_store: ResultStore) -> None:
    with pytest.raises(ResultIntegrityError) as refused:
        result_store.decode(None, "x" * 10_000)
    assert "x" * 200 + "…" in str(refused.value)
    assert "x" * 201 not in str(refused.value)


def tamper_message(url: str) -> str:
    return (
        f"result file 'run/t.pickle' in {url!r} does not match the tag of its reference, "
        "so it is not unpickled: the file or the reference was changed, or it was written "
        "with another secret key (HEADWATER_SECRET_KEY, or HEADWATER_HOME/secret_key)"
    )


def test_a_changed_payload_is_refused(result_store: ResultStore, tmp_path: Path) -> None:
    marker = tmp_path / "code-was-run"
    _, ref = result_store.encode("run", "t", -1, (1, 2))
    (tmp_path / "results" / "run" / "t.pickle").write_bytes(pickle.dumps(CreatesFile(marker)))

    with pytest.raises(ResultIntegrityError) as refused:
        result_store.decode(None, ref)

    assert str(refused.value) == tamper_message(result_store.url)
    assert not marker.exists()


def test_a_wrong_tag_is_refused(result_store: ResultStore, tmp_path: Path) -> None:
    marker = tmp_path / "code-was-run"
    payload = pickle.dumps(CreatesFile(marker))
    (tmp_path / "results" / "run").mkdir(parents=True)
    (tmp_path / "results" / "run" / "t.pickle").write_bytes(payload)
    # a tag computed without the key, or with another one
    unkeyed = hashlib.sha256(b"run/t.pickle\n" + payload).hexdigest()
    other_key = ResultStore(str(tmp_path / "other"), secret_key="o" * 32)
    _, other_ref = other_key.encode("run", "t", -1, CreatesFile(marker))
    assert other_ref is not None

    for ref in (f"run/t.pickle{TAG_SEPARATOR}{unkeyed}", other_ref):
        with pytest.raises(ResultIntegrityError) as refused:
            result_store.decode(None, ref)
        assert str(refused.value) == tamper_message(result_store.url)
    assert not marker.exists()


def test_a_tag_is_valid_only_for_the_name_it_was_made_for(
    result_store: ResultStore, tmp_path: Path
) -> None:
    _, ref = result_store.encode("run", "t", -1, (1, 2))
    assert ref is not None
    folder = tmp_path / "results" / "run"
    (folder / "u.pickle").write_bytes((folder / "t.pickle").read_bytes())
    moved = ref.replace("run/t.pickle", "run/u.pickle")

    with pytest.raises(ResultIntegrityError, match="does not match the tag"):
        result_store.decode(None, moved)


def test_a_tampered_result_fails_the_try_that_reads_it(runtime: Runtime, tmp_path: Path) -> None:
    marker = tmp_path / "code-was-run"

    @task
    def count(values: list[int]) -> int:
        return len(values)

    @pipeline
    def tampered() -> None:
        count(large())

    run = runtime.run(tampered)
    (tmp_path / "results" / run.run_id / "large.pickle").write_bytes(
        pickle.dumps(CreatesFile(marker))
    )

    again = runtime.clear(run.run_id, ["count"], pipeline=tampered)

    stored = instances(runtime, run.run_id)["count"]
    assert again.state == "failed"
    assert stored.state == "failed"
    assert stored.error is not None
    assert stored.error.startswith("ResultIntegrityError: result file ")
    assert len(runtime.store.get_tries(run.run_id, "count")) == 1  # only the first run's
    assert not marker.exists()


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


# the key


def test_the_key_file_is_made_only_when_a_result_is_pickled(tmp_path: Path) -> None:
    @pipeline
    def inline_only() -> None:
        small()

    runtime = Runtime(Settings.for_home(tmp_path), clock=FakeClock())
    try:
        runtime.run(inline_only)
        assert not (tmp_path / "secret_key").exists()
        runtime.run(results)
        assert (tmp_path / "secret_key").is_file()
    finally:
        runtime.close()


def test_machines_sharing_a_result_store_share_the_key_through_the_environment(
    tmp_path: Path,
) -> None:
    shared = str(tmp_path / "shared-results")
    key = "a-key-both-machines-are-given-0123456789"

    def machine(name: str, secret_key: str | None) -> Runtime:
        settings = Settings.for_home(tmp_path / name, results_url=shared, secret_key=secret_key)
        return Runtime(settings, clock=FakeClock())

    first, second, stranger = machine("one", key), machine("two", key), machine("three", None)
    try:
        run = first.run(results)
        ref = instances(first, run.run_id)["pair"].result_ref

        assert second.result_store.decode(None, ref) == (1, "one")
        with pytest.raises(ResultIntegrityError, match="written with another secret key"):
            stranger.result_store.decode(None, ref)
        assert not (tmp_path / "one" / "secret_key").exists()
        assert not (tmp_path / "two" / "secret_key").exists()
    finally:
        for runtime in (first, second, stranger):
            runtime.close()
