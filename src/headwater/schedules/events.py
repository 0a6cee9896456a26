"""Event schedules: run a pipeline when a file arrives or another pipeline succeeds.

``schedule=on_file("data/incoming/*.csv")`` starts one run per new file, with the file's
path in ``params["path"]``; ``schedule=after("extract_orders")`` starts a run when a run
of that pipeline succeeds, for the same logical date; ``schedule=on_asset("orders")``
starts a run each time that asset is materialized. Each event a pipeline reacts to is
recorded in the store together with the run it started, in one transaction, so an event
seen while the scheduler was down is picked up when it comes back, and none is handled
twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from headwater.errors import DefinitionError


@dataclass(frozen=True, slots=True)
class OnFile:
    """Run once per new file matching ``pattern`` (a glob; relative to the working dir)."""

    pattern: str

    def __str__(self) -> str:
        return f"on_file({self.pattern!r})"


@dataclass(frozen=True, slots=True)
class AfterPipeline:
    """Run when a run of ``pipeline_id`` succeeds, for the same logical date."""

    pipeline_id: str

    def __str__(self) -> str:
        return f"after({self.pipeline_id!r})"


@dataclass(frozen=True, slots=True)
class OnAsset:
    """Run each time the asset ``key`` is materialized (data-aware scheduling)."""

    key: str

    def __str__(self) -> str:
        return f"on_asset({self.key!r})"


EventSchedule = OnFile | AfterPipeline | OnAsset


def on_file(pattern: str) -> OnFile:
    """A schedule that starts one run per new file matching ``pattern``.

    The run's ``params["path"]`` is the file's absolute path. A file counts as new when
    its path, or its modification time, has not been seen before.
    """
    if not isinstance(pattern, str) or not pattern.strip():
        raise DefinitionError(f"on_file() needs a glob pattern, got {pattern!r}")
    return OnFile(pattern)


def after(pipeline_id: str) -> AfterPipeline:
    """A schedule that starts a run each time a run of ``pipeline_id`` succeeds."""
    if not isinstance(pipeline_id, str) or not pipeline_id.strip():
        raise DefinitionError(f"after() needs a pipeline id, got {pipeline_id!r}")
    return AfterPipeline(pipeline_id)


def on_asset(key: object) -> OnAsset:
    """A schedule that starts a run each time the asset ``key`` is materialized.

    ``key`` is an asset key (``"sales/orders_cleaned"``), a list of its parts or the
    asset itself. The run's ``params`` get ``asset`` and ``partition``; a partitioned
    asset pipeline's run materializes that partition.
    """
    parts = getattr(key, "key", key)
    if isinstance(parts, (list, tuple)):
        parts = "/".join(str(p) for p in parts)
    if not isinstance(parts, str) or not parts.strip():
        raise DefinitionError(f"on_asset() needs an asset key, got {key!r}")
    return OnAsset(parts)
