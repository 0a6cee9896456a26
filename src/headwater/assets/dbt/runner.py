"""Running dbt: ``dbt parse`` when the manifest is out of date, ``dbt build`` of chosen nodes.

dbt runs in a child process of the running interpreter (so the dbt-core and adapter of
headwater's environment, never a ``dbt`` found first on ``PATH``), in the project directory:
a relative path in ``profiles.yml`` (a DuckDB file) is read from there. Importing this module
does not import dbt.

Each build writes its artifacts to its own ``target/headwater-runs/<id>/`` (removed after),
so that two builds at once never read each other's ``run_results.json``, and so that
``target/manifest.json`` stays the one ``ensure_manifest`` parsed. The build's per-node
results are read from there: the models, seeds and snapshots it built and the tests it ran,
which the caller records as materializations and check results.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from headwater.assets.dbt.process import run_dbt, with_output
from headwater.clock import SystemClock
from headwater.errors import ConfigError, ExecutorError, TaskTimeoutError

# dbt's own entry point, run by this interpreter: no console script to look for.
_DBT_ENTRY = "import sys; from dbt.cli.main import cli; sys.exit(cli(prog_name='dbt'))"
TARGET_DIR = "target"
RUNS_DIR = "headwater-runs"
_STAMP = "headwater-parse.json"
_LOCK = ".headwater-parse.lock"
_BUILD_LOCK = ".headwater-build.lock"
_TURN_POLL_SECONDS = 0.1
_CLOCK = SystemClock()
_PARTIAL_PARSE = "partial_parse.msgpack"
# The files dbt parses: a change to one makes the manifest out of date.
_PROJECT_SUFFIXES = frozenset({".sql", ".yml", ".yaml", ".csv", ".py", ".md", ".jinja"})
_NOT_PROJECT_DIRS = frozenset({TARGET_DIR, "logs", "__pycache__"})


@dataclass(frozen=True, slots=True, kw_only=True)
class DbtNodeResult:
    """What one node of a build did, from dbt's ``run_results.json``.

    Attributes:
        unique_id: the node's dbt id (a model, seed, snapshot or test).
        status: ``success``, ``error`` or ``skipped`` for a model, seed or snapshot;
            ``pass``, ``fail``, ``warn``, ``error`` or ``skipped`` for a test.
        message: dbt's message (``OK``, the database error...), if any.
        execution_time: seconds dbt spent on the node.
        rows_affected: rows written, when the adapter says.
        failures: failing rows counted by a test, if it ran.
    """

    unique_id: str
    status: str
    message: str | None
    execution_time: float
    rows_affected: int | None
    failures: int | None


@dataclass(frozen=True)
class DbtBuildResult:
    """The outcome of one ``dbt build``.

    Attributes:
        ok: dbt exited with code 0 (every node built, no test with severity error failed).
        results: each node's result, by unique id; nodes outside the selection are absent.
        log: dbt's output.
        command: the command that ran.
    """

    ok: bool
    results: dict[str, DbtNodeResult]
    log: str
    command: list[str]

    @property
    def selection(self) -> str:
        """What the build chose, for people: the command from ``--select`` on."""
        command = self.command
        start = command.index("--select") if "--select" in command else len(command)
        return " ".join(command[start:])


def ensure_manifest(
    project_dir: Path, profiles_dir: Path | None, *, target: str | None = None
) -> Path:
    """``<project_dir>/target/manifest.json``, made by ``dbt parse`` if it is out of date.

    It is out of date when missing, when a project file (SQL, YAML, CSV, Python, Markdown)
    or ``profiles.yml`` changed since it was parsed, when another target or profiles
    directory was used, or when something else rewrote it. Two processes at once parse once:
    the second waits for the first behind ``target/.headwater-parse.lock``. The parse uses
    no vars: vars given to a build apply to that build only.

    Raises:
        ConfigError: the project directory has no ``dbt_project.yml``, the profiles
            directory is missing, or dbt-core is not installed.
        ExecutorError: ``dbt parse`` failed; the message ends with its last lines.
    """
    project_dir, profiles_dir = _checked_dirs(project_dir, profiles_dir)
    target_dir = project_dir / TARGET_DIR
    manifest = target_dir / "manifest.json"
    if manifest_is_fresh(project_dir, profiles_dir, target=target):
        return manifest
    target_dir.mkdir(exist_ok=True)
    with _parse_lock(target_dir, exclusive=True):
        # another process may have parsed while this one waited for the lock
        if manifest_is_fresh(project_dir, profiles_dir, target=target):
            return manifest
        files = _project_files(project_dir, profiles_dir)
        command = _dbt_command("parse", project_dir, profiles_dir, target, target_dir)
        finished = run_dbt(command, project_dir, log=None, timeout=None)
        if finished.code != 0 or not manifest.is_file():
            raise ExecutorError(
                with_output(
                    f"dbt parse of project {str(project_dir)!r} failed with exit code "
                    f"{finished.code}; fix the project, then try again",
                    finished,
                )
            )
        stamp = {
            "parsed_with": _parsed_with(profiles_dir, target),
            "project_files": files,
            "manifest_ns": manifest.stat().st_mtime_ns,
        }
        _write_stamp(target_dir, stamp)
    return manifest


def manifest_is_fresh(
    project_dir: Path, profiles_dir: Path | None, *, target: str | None = None
) -> bool:
    """Whether ``target/manifest.json`` is the one parsed from the project as it is now.

    That is: ``ensure_manifest`` parsed it with this target and profiles directory, nothing
    rewrote it since, and no project file or ``profiles.yml`` was saved, added or removed
    after the parse began (their paths, sizes and times are compared).
    With ``profiles_dir`` None, only a ``profiles.yml`` in the project directory is watched.
    """
    project_dir = Path(project_dir).resolve()
    profiles_dir = None if profiles_dir is None else Path(profiles_dir).resolve()
    target_dir = project_dir / TARGET_DIR
    try:
        stamp = json.loads((target_dir / _STAMP).read_text(encoding="utf-8"))
        manifest_ns = (target_dir / "manifest.json").stat().st_mtime_ns
    except (OSError, ValueError):
        return False
    if not isinstance(stamp, dict) or stamp.get("parsed_with") != _parsed_with(
        profiles_dir, target
    ):
        return False
    if stamp.get("manifest_ns") != manifest_ns:
        return False
    return bool(stamp.get("project_files") == _project_files(project_dir, profiles_dir))


def dbt_build(
    project_dir: Path,
    profiles_dir: Path | None,
    select: list[str],
    *,
    target: str | None = None,
    vars: Mapping[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
    timeout: float | None = None,
    indirect_selection: str | None = None,
    one_at_a_time: bool = False,
) -> DbtBuildResult:
    """Run ``dbt build --select <select>`` and read each node's result.

    Args:
        project_dir: the dbt project (the directory of ``dbt_project.yml``).
        profiles_dir: the directory of ``profiles.yml``; None lets dbt look (the project
            directory, then ``~/.dbt``).
        select: the selection, such as ``select_arguments`` gives; never empty.
        target: the profile's target, None for its default.
        vars: dbt vars for this build (``--vars``).
        log: called with each line dbt prints, in the calling thread.
        timeout: seconds before dbt and its children are killed.
        indirect_selection: dbt's ``--indirect-selection`` (``cautious`` runs only the
            tests all of whose nodes are selected), None for dbt's default.
        one_at_a_time: wait until no other build of the project runs on this machine (a
            DuckDB file has one writer: ``DbtProject.single_writer``); the wait counts
            in ``timeout``.

    Raises:
        ConfigError: a bad project or profiles directory, an empty selection, or no dbt-core.
        ExecutorError: dbt ended without results (it could not start: a bad profile or
            target, a project that does not parse); the message ends with its last lines.
        TaskTimeoutError: dbt ran longer than ``timeout``.
    """
    project_dir, profiles_dir = _checked_dirs(project_dir, profiles_dir)
    if not select:
        raise ConfigError(
            f"dbt build of project {str(project_dir)!r} was given no --select: name the "
            "nodes to build (select_arguments gives the arguments for unique ids)"
        )
    run_dir = project_dir / TARGET_DIR / RUNS_DIR / uuid.uuid4().hex
    run_dir.mkdir(parents=True)
    started = _CLOCK.monotonic()
    try:
        _copy_partial_parse(project_dir / TARGET_DIR, run_dir)
        command = _dbt_command("build", project_dir, profiles_dir, target, run_dir)
        command += ["--select", *select]
        if indirect_selection:
            command += ["--indirect-selection", indirect_selection]
        if vars:
            command += ["--vars", json.dumps(dict(vars))]
        turn = _build_turn(project_dir, log, timeout) if one_at_a_time else contextlib.nullcontext()
        with turn:
            waited = _CLOCK.monotonic() - started
            finished = run_dbt(command, project_dir, log=log, timeout=timeout, waited=waited)
        results = _read_run_results(run_dir / "run_results.json")
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    if results is None:
        raise ExecutorError(
            with_output(
                f"dbt build of project {str(project_dir)!r} ended with exit code "
                f"{finished.code} and no results: dbt could not start (check the profile, "
                "the target and that the project parses)",
                finished,
            )
        )
    return DbtBuildResult(
        ok=finished.code == 0, results=results, log="\n".join(finished.lines), command=command
    )


def _checked_dirs(project_dir: Path, profiles_dir: Path | None) -> tuple[Path, Path | None]:
    """The directories made absolute, once checked; and dbt-core checked to be installed."""
    project_dir = Path(project_dir).resolve()
    if not (project_dir / "dbt_project.yml").is_file():
        raise ConfigError(
            f"dbt project directory {str(project_dir)!r} has no dbt_project.yml; "
            "give the directory that holds the project's dbt_project.yml"
        )
    if profiles_dir is not None:
        profiles_dir = Path(profiles_dir).resolve()
        if not profiles_dir.is_dir():
            raise ConfigError(
                f"dbt profiles directory {str(profiles_dir)!r} does not exist; give the "
                "directory that holds profiles.yml, or None to let dbt look for it"
            )
    try:
        metadata.version("dbt-core")
    except metadata.PackageNotFoundError:
        raise ConfigError(
            f"dbt-core is not installed in the Python environment of {sys.executable!r}: "
            "pip install 'headwater[dbt]' and the adapter of your warehouse (dbt-duckdb...)"
        )
    return project_dir, profiles_dir


def _dbt_command(
    subcommand: str,
    project_dir: Path,
    profiles_dir: Path | None,
    target: str | None,
    target_path: Path,
) -> list[str]:
    command = [sys.executable, "-c", _DBT_ENTRY, subcommand, "--no-use-colors"]
    command += ["--project-dir", str(project_dir), "--target-path", str(target_path)]
    if profiles_dir is not None:
        command += ["--profiles-dir", str(profiles_dir)]
    if target is not None:
        command += ["--target", target]
    return command


def _project_files(project_dir: Path, profiles_dir: Path | None) -> str:
    """A digest of the path, size and modification time of every file dbt parses.

    Any change shows: a file saved, added or removed, even one restored with an old time.
    """
    entries = []
    for root, dirs, files in os.walk(project_dir):
        dirs[:] = [d for d in dirs if d not in _NOT_PROJECT_DIRS and not d.startswith(".")]
        for name in files:
            if os.path.splitext(name)[1] in _PROJECT_SUFFIXES:
                path = os.path.join(root, name)
                entries.append((os.path.relpath(path, project_dir), *_size_and_time(path)))
    if profiles_dir is not None:
        entries.append(("<profiles>", *_size_and_time(str(profiles_dir / "profiles.yml"))))
    return hashlib.sha256(json.dumps(sorted(entries)).encode()).hexdigest()


def _size_and_time(path: str) -> tuple[int, int]:
    try:
        status = os.stat(path)
    except FileNotFoundError:  # removed meanwhile, or no profiles.yml there
        return (-1, -1)
    return (status.st_size, status.st_mtime_ns)


def _parsed_with(profiles_dir: Path | None, target: str | None) -> dict[str, str | None]:
    return {"profiles_dir": None if profiles_dir is None else str(profiles_dir), "target": target}


def _write_stamp(target_dir: Path, stamp: Mapping[str, Any]) -> None:
    """Record what the parse that made the manifest depended on, beside it."""
    partial = target_dir / f"{_STAMP}.{uuid.uuid4().hex}"
    partial.write_text(json.dumps(stamp), encoding="utf-8")
    partial.replace(target_dir / _STAMP)


@contextlib.contextmanager
def _parse_lock(target_dir: Path, *, exclusive: bool) -> Iterator[None]:
    """Held by a parse (exclusive) and by a build copying the parse's state (shared)."""
    with open(target_dir / _LOCK, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _build_turn(
    project_dir: Path, log: Callable[[str], None] | None, timeout: float | None
) -> Iterator[None]:
    """Held while a build runs, by one build of the project at a time (on this machine)."""
    timed_out = TaskTimeoutError(
        f"dbt build of project {str(project_dir)!r} waited for another build of the project "
        f"longer than its timeout of {timeout} s"
    )
    waiting = (
        "waiting for another dbt build of this project to end (its database file has one "
        "writer at a time)"
    )
    with polled_lock(project_dir / TARGET_DIR / _BUILD_LOCK, waiting, log, timeout, timed_out):
        yield


@contextlib.contextmanager
def polled_lock(
    path: Path,
    waiting: str,
    log: Callable[[str], None] | None,
    timeout: float | None = None,
    timed_out: Exception | None = None,
) -> Iterator[None]:
    """An exclusive lock on the file ``path``, held until the block ends.

    Taken in short steps, never in one blocking call (as ``run_dbt`` waits), so that a
    thread executor's timeout can stop the wait. ``waiting`` is logged once if it must
    wait; past ``timeout`` seconds, ``timed_out`` is raised.
    """
    deadline = None if timeout is None else _CLOCK.monotonic() + timeout
    with open(path, "a+b") as lock:
        told = False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not told and log is not None:
                    log(waiting)
                    told = True
                if deadline is not None and _CLOCK.monotonic() > deadline:
                    raise (timed_out or TimeoutError(waiting)) from None
                _CLOCK.sleep(_TURN_POLL_SECONDS)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _copy_partial_parse(target_dir: Path, run_dir: Path) -> None:
    """Let the build start from the last parse's state, so that it parses only what changed."""
    if not (target_dir / _PARTIAL_PARSE).is_file():
        return
    with _parse_lock(target_dir, exclusive=False), contextlib.suppress(FileNotFoundError):
        shutil.copyfile(target_dir / _PARTIAL_PARSE, run_dir / _PARTIAL_PARSE)


def _read_run_results(path: Path) -> dict[str, DbtNodeResult] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    results = {}
    for raw in document.get("results", []):
        response = raw.get("adapter_response") or {}
        rows = response.get("rows_affected")
        failures = raw.get("failures")
        results[raw["unique_id"]] = DbtNodeResult(
            unique_id=raw["unique_id"],
            status=str(raw.get("status", "")).lower(),
            message=raw.get("message"),
            execution_time=float(raw.get("execution_time") or 0.0),
            rows_affected=rows if isinstance(rows, int) and rows >= 0 else None,
            failures=failures if isinstance(failures, int) else None,
        )
    return results
