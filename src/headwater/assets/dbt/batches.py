"""One ``dbt build`` for what a run can build at once.

A run that materializes several nodes of a dbt project gives each node its own task (its
own state, retries and checks), but each ``dbt build`` pays dbt's start-up, seconds. So the
first of those tasks to run builds, in one ``dbt build``, its own node and every node of the
project whose task the run has not started and that waits only for nodes of that build:
its siblings, and what is downstream of it through dbt nodes alone (or through nodes that
another build of the run made and whose tasks have not run yet). The tasks of those nodes,
when they start, find their node's result recorded for their try and build nothing.

A node does not join a build:
- when it waits for a task outside it (a Python asset between two dbt models);
- when a node of the build it reads is guarded by a blocking ``@asset_check`` (dbt would
  build it before that check could refuse its upstream);
- when it waits for a node that another build of the run made with a failure;
- when it reads a seed of the build through ``source()`` only (dbt does not order them).

The results are recorded in ``target/headwater-batches/<run>.json``, under a lock per run,
so that two tasks of one run decide one after the other. A result is kept for the try
number its task was going to have: a retry builds again. A run whose tasks run on several
machines builds on each what the other's file does not show: the outcome is the same, the
work is not shared.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from headwater.assets.dbt.manifest import DbtProject
from headwater.assets.dbt.runner import TARGET_DIR, DbtBuildResult, DbtNodeResult, polled_lock

BATCHES_DIR = "headwater-batches"
_KEPT_SECONDS = 7 * 24 * 3600  # a run's file is removed a week after it was last written


class RunBuilds:
    """What the dbt builds of one run made: each node's result, for the try it was made for."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            document = None
        if not (
            isinstance(document, dict)
            and isinstance(document.get("nodes"), dict)
            and isinstance(document.get("builds"), list)
        ):
            document = {"nodes": {}, "builds": []}  # none yet, or damaged: built again
        self._document: dict[str, Any] = document

    def built(self, unique_id: str, try_number: int) -> tuple[DbtBuildResult, str] | None:
        """The build that made ``unique_id`` for this try, and the task that ran it."""
        entry = self._document["nodes"].get(unique_id)
        if not isinstance(entry, dict) or entry.get("try") != try_number:
            return None
        try:
            build = self._document["builds"][entry["build"]]
            results = {key: DbtNodeResult(**value) for key, value in build["results"].items()}
            return (
                DbtBuildResult(ok=build["ok"], results=results, log="", command=build["command"]),
                build["task"],
            )
        except (IndexError, KeyError, TypeError):  # written by another version
            return None

    def made_well(self, unique_id: str, try_number: int) -> bool:
        """Whether a build made ``unique_id`` for this try, in a build where nothing failed."""
        found = self.built(unique_id, try_number)
        if found is None:
            return False
        result = found[0]
        own = result.results.get(unique_id)
        return result.ok and own is not None and own.status == "success"

    def record(self, result: DbtBuildResult, task_id: str, tries: Mapping[str, int]) -> None:
        """Keep ``result`` for the nodes ``tries`` names (unique id -> try number)."""
        builds = self._document["builds"]
        builds.append(
            {
                "task": task_id,
                "ok": result.ok,
                "command": result.command,
                "results": {key: asdict(value) for key, value in result.results.items()},
            }
        )
        for unique_id, try_number in tries.items():
            self._document["nodes"][unique_id] = {"try": try_number, "build": len(builds) - 1}
        partial = self.path.with_name(f"{self.path.name}.{uuid.uuid4().hex}")
        partial.write_text(json.dumps(self._document), encoding="utf-8")
        partial.replace(self.path)


@contextlib.contextmanager
def run_builds(
    project_dir: Path, run_id: str, log: Callable[[str], None] | None
) -> Iterator[RunBuilds]:
    """The builds of ``run_id``, held by this task alone until the block ends."""
    folder = project_dir / TARGET_DIR / BATCHES_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(run_id.encode()).hexdigest()[:32]
    waiting = "waiting for the dbt build another task of this run is running"
    with polled_lock(folder / f"{name}.lock", waiting, log):
        yield RunBuilds(folder / f"{name}.json")
    _prune(folder)


def batch(
    project: DbtProject,
    own: str,
    task_of: Mapping[str, str],
    waiting: Mapping[str, tuple[int, tuple[str, ...]]],
    guarded: frozenset[str],
    builds: RunBuilds,
) -> dict[str, int]:
    """The nodes to build with ``own``: unique id -> the try their task will have.

    Args:
        project: the dbt project.
        own: the unique id of the node whose task builds.
        task_of: the task id of each node of the project.
        waiting: the run's asset tasks that have not started (``AssetTryInfo.waiting``).
        guarded: the tasks whose value a blocking ``@asset_check`` may refuse.
        builds: what this run's builds made already.
    """
    chosen: dict[str, int] = {}
    # what another build of the run made, with no failure, counts as built by this one
    in_build = {task_of[own]}
    candidates = {}
    for unique_id, task_id in task_of.items():
        if unique_id == own or task_id not in waiting:
            continue
        try_number = waiting[task_id][0]
        if builds.made_well(unique_id, try_number):
            in_build.add(task_id)
        elif builds.built(unique_id, try_number) is None:
            candidates[unique_id] = waiting[task_id]
    grew = True
    while grew:
        grew = False
        for unique_id, (try_number, waits) in list(candidates.items()):
            reads_a_seed_of_the_build = any(
                task_of.get(seed) in in_build for seed in project.nodes[unique_id].source_seeds
            )
            if (
                set(waits) <= in_build
                and not (set(waits) & guarded)
                and not reads_a_seed_of_the_build
            ):
                chosen[unique_id] = try_number
                in_build.add(task_of[unique_id])
                del candidates[unique_id]
                grew = True
    return chosen


def _prune(folder: Path) -> None:
    """Remove the files of runs last written more than a week ago."""
    limit = time.time() - _KEPT_SECONDS
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.stat().st_mtime < limit:
                    os.unlink(entry.path)
