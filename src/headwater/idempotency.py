"""``headwater test --idempotency``: run a pipeline or assets twice for one date and
compare what each run wrote.

Both runs use a temporary metadata store, and every IO manager is relocated to a
temporary copy of its destination (another folder, a copy of the DuckDB file, another
PostgreSQL schema): the real data is never written. An asset is idempotent when the
second run leaves exactly what the first one wrote (its IO manager's fingerprint: file
hashes, table rows in any order). A task of a plain pipeline writes where its code says,
which cannot be relocated: it is compared by the value it returns.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from headwater.assets.io.base import IOManager
from headwater.assets.io.files import FileIOManager
from headwater.assets.jobs import AssetPipeline
from headwater.assets.keys import key_string
from headwater.assets.step import AssetStep
from headwater.authoring.pipeline import Pipeline
from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.schedules.timetables import DataInterval


@dataclass(frozen=True, slots=True, kw_only=True)
class Difference:
    """One thing the second run wrote differently: an asset's partition, or a task."""

    kind: str  # "asset" or "task"
    name: str
    partition_key: str | None
    first: str | None
    second: str | None

    def describe(self) -> str:
        where = f" partition {self.partition_key}" if self.partition_key else ""
        if self.first is None or self.second is None:
            return f"{self.kind} {self.name}{where}: written by one run only"
        return f"{self.kind} {self.name}{where}: the second run wrote something else"


@dataclass(frozen=True, slots=True, kw_only=True)
class IdempotencyReport:
    pipeline_id: str
    partition_key: str | None
    states: tuple[str, str]
    compared: int
    differences: tuple[Difference, ...]

    @property
    def idempotent(self) -> bool:
        return not self.differences and self.states == ("success", "success")


class Relocator:
    """Gives each distinct IO manager one temporary copy of its destination."""

    def __init__(self, root: Path, real_default_base: str) -> None:
        self.root = root
        self.real_default_base = real_default_base
        self.copies: dict[IOManager, IOManager] = {}

    def __call__(self, manager: IOManager) -> IOManager:
        if manager not in self.copies:
            original = manager
            if isinstance(manager, FileIOManager) and manager.base_url is None:
                # the default folder is the real store's: read what is there, write elsewhere
                original = dataclasses.replace(manager, base_url=self.real_default_base)
            base = self.root / f"io-{len(self.copies)}"
            self.copies[manager] = original.relocated(str(base))
        return self.copies[manager]

    def discard(self) -> None:
        for copy in self.copies.values():
            copy.discard()


def _relocate(pipeline: Pipeline, relocate: Relocator) -> None:
    for node in pipeline.plan.nodes:
        step = node.fn
        if isinstance(step, AssetStep):
            step.io_manager = relocate(step.io_manager)
            step.inputs = tuple(
                dataclasses.replace(item, io_manager=relocate(item.io_manager))
                for item in step.inputs
            )


def _asset_fingerprints(
    pipeline: AssetPipeline, partition: str | None, default_base: str
) -> dict[str, str | None]:
    found = {}
    for node in pipeline.plan.nodes:
        step = node.fn
        if isinstance(step, AssetStep):
            key = partition if step.partitions is not None else None
            found[step.name] = step.io_manager.fingerprint(step.key, key, default_base)
    return found


def _task_fingerprints(runtime: Runtime, run_id: str) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for instance in runtime.store.get_task_instances(run_id):
        name = instance.task_id + (f"[{instance.map_index}]" if instance.map_index >= 0 else "")
        if instance.result_ref is not None:
            data = runtime.result_store.decode(None, instance.result_ref)
            found[name] = hashlib.sha256(repr(data).encode()).hexdigest()
        else:
            found[name] = instance.result
    return found


@contextmanager
def _scratch() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="headwater-idempotency-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def check_idempotency(
    pipeline: Pipeline,
    moment: datetime,
    *,
    partition_key: str | None = None,
    executor: str = "thread",
) -> IdempotencyReport:
    """Run ``pipeline`` twice for ``moment`` (or ``partition_key``) and compare the writes."""
    real = Settings.from_env()
    with _scratch() as root:
        settings = Settings.for_home(root / "home")
        relocate = Relocator(root, f"{real.results_url.rstrip('/')}/assets")
        runtime = Runtime(settings)
        try:
            _relocate(pipeline, relocate)
            default_base = f"{runtime.result_store.url}/assets"
            runs, prints = [], []
            for attempt in range(2):
                run = _run_once(runtime, pipeline, moment, partition_key, executor, attempt)
                runs.append(run.state)
                if isinstance(pipeline, AssetPipeline):
                    prints.append(_asset_fingerprints(pipeline, run.partition_key, default_base))
                else:
                    prints.append(_task_fingerprints(runtime, run.run_id))
                partition_key = run.partition_key
        finally:
            runtime.close()
            relocate.discard()
    kind = "asset" if isinstance(pipeline, AssetPipeline) else "task"
    first, second = prints
    differences = tuple(
        Difference(
            kind=kind,
            name=name,
            partition_key=partition_key if kind == "asset" else None,
            first=first.get(name),
            second=second.get(name),
        )
        for name in sorted(set(first) | set(second))
        if first.get(name) != second.get(name)
    )
    return IdempotencyReport(
        pipeline_id=pipeline.pipeline_id,
        partition_key=partition_key,
        states=(runs[0], runs[1]),
        compared=len(set(first) | set(second)),
        differences=differences,
    )


def _run_once(
    runtime: Runtime,
    pipeline: Pipeline,
    moment: datetime,
    partition_key: str | None,
    executor: str,
    attempt: int,
) -> Any:
    options: dict[str, Any] = {"replace": True}
    partitions = getattr(pipeline, "partitions", None)
    if partitions is not None:
        partition_key = partition_key or _partition_at(partitions, moment)
        window = partitions.time_window(partition_key)
        if window is not None:
            options["interval"] = DataInterval(start=window[0], end=window[1])
        else:
            options["logical_date"] = moment
        options["partition_key"] = partition_key
    else:
        options["logical_date"] = moment
    record = runtime.create_run(pipeline, triggered_by=f"idempotency test {attempt + 1}", **options)
    return runtime.engine(pipeline, executor=executor).drive(record.run_id)


def _partition_at(partitions: Any, moment: datetime) -> str:
    key_of = getattr(partitions, "key_of", None)
    if key_of is None:
        dimension = getattr(partitions, "time_dimension", None)
        raise ValueError(
            "this partitions definition has no dates: name the partition with --partition"
            if dimension is None
            else "two-dimensional partitions: name the partition with --partition"
        )
    key = key_of(moment)
    if key is None:
        raise ValueError(f"{moment.isoformat()} is outside {partitions.describe()}")
    return str(key)


def describe_assets(pipeline: Pipeline) -> str:
    keys = getattr(pipeline, "asset_keys", None)
    return ", ".join(key_string(k) for k in keys) if keys else pipeline.pipeline_id
