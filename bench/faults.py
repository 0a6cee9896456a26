"""Fault injection: ``.venv/bin/python bench/faults.py [-n KILLS] [--seed S] [MODE]``.

A 30-task pipeline (``faults_pipeline.py``: a chain, a fan-out/fan-in, a mapped task, a
task whose first try fails, six tasks in a pool of 2 slots; tasks of 50 to 500 ms) is run
by real ``headwater`` processes, which are SIGKILLed at random moments (seeded) and then
resumed or restarted. Each task execution appends ``run task map_index try pid start end``
to a marks file (fsync'ed), once when it starts and once when it ends. At the end the
store and the marks are compared (``faults_checks.py``), and a table of counters is
printed; each must be 0.

Modes:

- default: ``headwater run FILE --date D`` (a new date each time), SIGKILLed after a random
  delay (0 to the run's usual duration), then ``headwater resume RUN_ID`` (or the same
  ``headwater run`` again if the run was not created yet) until the run ends;
  ``--kill-resumes`` SIGKILLs some resumes too;
- ``--scheduler``: one ``headwater scheduler`` with a 1-second schedule (catchup, start
  a little in the past), SIGKILLed at random moments and restarted at once, then left
  to finish the schedule (whose ``end`` is set past the kills), then stopped with SIGTERM;
- ``--schedulers 2``: two schedulers at once, killed in turn, each restarted after its kill.

Variants: ``--interrupt`` sends half the ``headwater run`` a SIGINT (Ctrl-C) instead;
``--stall SECONDS`` (scheduler modes) SIGSTOPs a scheduler that long and then SIGCONTs it
instead of killing it, with ``--lease SECONDS`` shorter than the stall so that its runs
are taken over meanwhile; ``--executor process`` runs the tasks in worker processes.

Each invocation uses a fresh HEADWATER_HOME and store: SQLite there by default, or with
``--database-url`` a new PostgreSQL database created next to the one named, and dropped
at the end. ``--json`` prints the results as JSON; ``--write-docs`` writes them to
docs/benchmarks.md between the ``faults`` markers. Exit status: 0 when every counter is
0, 1 otherwise (the working folder is then kept, and named, for inspection).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import sqlalchemy as sa  # noqa: E402  (after the path to headwater's sources)
from faults_checks import COUNTERS, FINAL, check_all, read_marks  # noqa: E402

from headwater.config import Settings  # noqa: E402
from headwater.store.sql.store import SqlStore  # noqa: E402

HEADWATER = [sys.executable, "-m", "headwater"]
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"
PIPELINE_ID, POOL, POOL_SLOTS = "faults", "faults", 2
INTERVAL = timedelta(seconds=1)  # the schedule of the scheduler modes: ~1 run in flight
BACKLOG = 5  # intervals already due when the schedulers start
MAX_ACTIVE_RUNS = 3
COMMAND_TIMEOUT = 120.0  # a headwater command taking longer than this hangs
INTERRUPT_TIMEOUT = 15.0  # a command still running this long after Ctrl-C hangs
EXIT_INTERRUPTED = 130


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# the lab: a fresh home, store, pipeline file and marks


@dataclass
class Kill:
    """One fault: the signal, of what, which process, and when it was certainly dead."""

    target: str
    pid: int
    dead_at: float  # epoch seconds
    after: float  # seconds after the process was started
    signal: str = "SIGKILL"
    workers: dict[int, float] = field(default_factory=dict)  # its children: pid -> gone at

    def deaths(self) -> dict[int, float]:
        """When the process, and each of its task workers, was gone."""
        return {self.pid: self.dead_at, **self.workers}


@dataclass
class Stall:
    """A SIGSTOP, then a SIGCONT: the process lives on, but was frozen in between."""

    target: str
    pid: int
    stopped_at: float  # epoch seconds
    resumed_at: float


@dataclass
class Lab:
    """A working folder with HEADWATER_HOME, the pipeline file, the marks and the logs."""

    work: Path
    database_url: str | None
    executor: str = "thread"
    lease: float | None = None  # HEADWATER_LEASE_SECONDS for every command
    kills: list[Kill] = field(default_factory=list)
    stalls: list[Stall] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    commands: int = 0
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def home(self) -> Path:
        return self.work / "home"

    @property
    def pipelines(self) -> Path:
        return self.work / "pipelines"

    @property
    def file(self) -> Path:
        return self.pipelines / "faults.py"

    @property
    def marks(self) -> Path:
        return self.pipelines / "marks"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        env["HEADWATER_HOME"] = str(self.home)
        if self.database_url:
            env["HEADWATER_DATABASE_URL"] = self.database_url
        if self.lease is not None:
            env["HEADWATER_LEASE_SECONDS"] = str(self.lease)
        return env

    def start(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        """Start ``headwater ARGS``, its output going to ``logs/NNN-name.log``."""
        self.commands += 1
        (self.work / "logs").mkdir(exist_ok=True)
        path = self.work / "logs" / f"{self.commands:04d}-{name}.log"
        if args[0] in ("run", "resume", "scheduler"):
            args = [*args, "--executor", self.executor]
        with path.open("wb") as output:
            process = subprocess.Popen(
                [*HEADWATER, *args],
                cwd=self.work,
                env=self.env(),
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        self.children = [child for child in self.children if child.poll() is None]
        self.children.append(process)
        return process

    def close(self) -> None:
        """Kill the commands still running (this script was interrupted, or failed)."""
        for child in self.children:
            if child.poll() is None:
                child.kill()
                child.wait()

    def call(self, args: list[str], name: str) -> int:
        process = self.start(args, name)
        try:
            return process.wait(timeout=COMMAND_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill(process, f"{name} (hung)", time.monotonic() - COMMAND_TIMEOUT)
            self.notes.append(f"{name}: still running after {COMMAND_TIMEOUT:.0f}s: killed")
            return -9

    def kill(
        self,
        process: subprocess.Popen[bytes],
        target: str,
        started: float,
        how: signal.Signals = signal.SIGKILL,
    ) -> bool:
        """Send ``how`` to ``process`` and reap it; False when it had already exited.

        After a SIGINT (Ctrl-C), the process has a few seconds to exit by itself, with
        130; past ``INTERRUPT_TIMEOUT`` it is SIGKILLed.
        """
        if process.poll() is not None:
            return False
        workers = children_of(process.pid)
        after = time.monotonic() - started
        process.send_signal(how)
        try:
            code = process.wait(timeout=None if how == signal.SIGKILL else INTERRUPT_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.notes.append(f"{target} pid {process.pid}: still running after Ctrl-C")
            process.kill()
            code = process.wait()  # reaped: from now on its pid is seen as dead
        if how == signal.SIGINT and code not in (0, 1, EXIT_INTERRUPTED):
            self.notes.append(f"{target} pid {process.pid}: exited {code} after Ctrl-C")
        kill = Kill(target, process.pid, time.time(), after, how.name)
        kill.workers = self._wait_for_workers(workers, target)
        self.kills.append(kill)
        return True

    def _wait_for_workers(self, pids: list[int], target: str) -> dict[int, float]:
        """Wait for the task workers of a killed process to die with it (10 s at most)."""
        gone: dict[int, float] = {}
        deadline = time.monotonic() + 10
        while len(gone) < len(pids) and time.monotonic() < deadline:
            gone.update((pid, time.time()) for pid in pids if pid not in gone and is_gone(pid))
            time.sleep(0.005)
        for pid in set(pids) - set(gone):
            self.notes.append(f"{target}: worker {pid} outlived its killed parent by 10 s")
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            gone[pid] = time.time()
        return gone

    def store(self) -> SqlStore:
        return SqlStore.from_settings(Settings.for_home(self.home, database_url=self.database_url))

    def last_log(self, lines: int = 5) -> str:
        logs = sorted((self.work / "logs").glob("*.log"))
        if not logs:
            return ""
        tail = logs[-1].read_text(errors="replace").strip().splitlines()[-lines:]
        return f"{logs[-1].name}: " + " | ".join(tail)


def children_of(pid: int) -> list[int]:
    """The processes ``pid`` started (the process executor's workers), from /proc."""
    found: list[int] = []
    for children in Path(f"/proc/{pid}/task").glob("*/children"):
        with suppress(OSError):
            found.extend(int(child) for child in children.read_text().split())
    return found


def is_gone(pid: int) -> bool:
    """True once ``pid`` has exited (a zombie waiting to be reaped has exited too)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def write_pipeline(lab: Lab, schedule: dict[str, Any] | None) -> None:
    """The pipeline's file in the lab, and its schedule (the scheduler modes)."""
    lab.pipelines.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(Path(__file__).with_name("faults_pipeline.py"), lab.file)
    if schedule is not None:
        (lab.pipelines / "schedule.json").write_text(json.dumps(schedule))


@contextmanager
def fresh_database(url: str | None) -> Iterator[str | None]:
    """A new PostgreSQL database next to the one ``url`` names (None: SQLite)."""
    if url is None:
        yield None
        return
    name = f"headwater_faults_{os.getpid()}_{secrets.token_hex(3)}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def wait_until(condition: Callable[[], bool], timeout: float, interval: float = 0.25) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


def sleep_until(moment: float, process: subprocess.Popen[bytes]) -> None:
    """Sleep until ``moment`` (monotonic), or until ``process`` exits."""
    while time.monotonic() < moment and process.poll() is None:
        time.sleep(min(0.01, max(0.0, moment - time.monotonic())))


# the default mode: headwater run, killed, then resumed


def date_of(index: int) -> datetime:
    return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=index)


def run_mode(
    lab: Lab, kills: int, rng: random.Random, *, kill_resumes: bool, interrupt: bool
) -> list[datetime]:
    """``headwater run`` per date, SIGKILLed, then recovered; returns the dates run.

    With ``interrupt``, half the runs get a SIGINT (Ctrl-C) instead of the SIGKILL.
    """
    write_pipeline(lab, None)
    started = time.monotonic()
    if lab.call(["run", str(lab.file), "--date", date_of(0).isoformat()], "calibrate") != 0:
        lab.notes.append(f"the calibration run did not succeed: {lab.last_log()}")
    usual = time.monotonic() - started
    log(f"a run takes {usual:.2f}s from start to exit; killing within that")
    dates = [date_of(0)]
    while len(lab.kills) < kills and len(dates) <= 3 * kills:
        date = date_of(len(dates))
        dates.append(date)
        started = time.monotonic()
        process = lab.start(["run", str(lab.file), "--date", date.isoformat()], "run")
        sleep_until(started + rng.uniform(0, usual), process)
        how = signal.SIGINT if interrupt and rng.random() < 0.5 else signal.SIGKILL
        if not lab.kill(process, "run", started, how) and process.returncode != 0:
            lab.notes.append(f"{date:%Y-%m-%d}: run exited {process.returncode} unkilled")
        recover(lab, date, rng, usual if kill_resumes else None)
        if len(dates) % 10 == 0:
            log(f"{len(dates)} runs, {len(lab.kills)} kills")
    return dates


def recover(lab: Lab, date: datetime, rng: random.Random, kill_within: float | None) -> None:
    """Resume the date's run (or run it again if it was never created) until it ends.

    With ``kill_within``, half the resumes (at most 3 per run) are SIGKILLed too.
    """
    resume_kills = 0
    store = lab.store()
    try:
        for _ in range(10):
            run = store.find_run(PIPELINE_ID, date)
            if run is not None and run.state in FINAL:
                return
            if run is None:
                args, name = ["run", str(lab.file), "--date", date.isoformat()], "restart"
            else:
                args, name = ["resume", run.run_id], "resume"
            if kill_within is not None and resume_kills < 3 and rng.random() < 0.5:
                started = time.monotonic()
                process = lab.start(args, name)
                sleep_until(started + rng.uniform(0, kill_within), process)
                resume_kills += lab.kill(process, name, started)
                continue
            code = lab.call(args, name)
            if code not in (0, 1):
                lab.notes.append(f"{date:%Y-%m-%d}: {name} exited {code}: {lab.last_log()}")
        lab.notes.append(f"{date:%Y-%m-%d}: not final after 10 resumes")
    finally:
        store.close()


# the scheduler modes


@dataclass
class Schedule:
    """The scheduled intervals the scheduler modes must run: ``start`` + k × INTERVAL."""

    start: datetime
    end: datetime

    def logical_dates(self) -> list[datetime]:
        dates, moment = [], self.start
        while moment <= self.end:
            dates.append(moment)
            moment += INTERVAL
        return dates

    def options(self) -> dict[str, Any]:
        """What ``faults_pipeline.py`` reads from ``schedule.json``."""
        return {
            "seconds": INTERVAL.total_seconds(),
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "max_active_runs": MAX_ACTIVE_RUNS,
        }


class Schedulers:
    """``count`` scheduler processes, each restarted after it is killed."""

    def __init__(self, lab: Lab, count: int) -> None:
        self.lab = lab
        self.names = [chr(ord("A") + index) for index in range(count)]
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.started: dict[str, float] = {}

    def start(self, name: str) -> None:
        args = ["scheduler", "--pipelines", str(self.lab.pipelines), "--tick", "0.1"]
        self.processes[name] = self.lab.start(args, f"scheduler-{name}")
        self.started[name] = time.monotonic()

    def kill_and_restart(self, name: str) -> None:
        process = self.processes[name]
        if not self.lab.kill(process, f"scheduler {name}", self.started[name]):
            self.lab.notes.append(
                f"scheduler {name} had exited with {process.returncode}: {self.lab.last_log()}"
            )
        self.start(name)

    def stall(self, name: str, seconds: float) -> None:
        """SIGSTOP the scheduler for ``seconds``, then SIGCONT: alive, but silent."""
        process = self.processes[name]
        process.send_signal(signal.SIGSTOP)
        stopped_at = time.time()
        time.sleep(seconds)
        resumed_at = time.time()
        process.send_signal(signal.SIGCONT)
        self.lab.stalls.append(Stall(f"scheduler {name}", process.pid, stopped_at, resumed_at))

    def stop(self) -> None:
        for process in self.processes.values():
            process.send_signal(signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                code = process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.lab.kill(process, f"scheduler {name} (ignored SIGTERM)", self.started[name])
                code = -9
            if code != 0:
                self.lab.notes.append(f"scheduler {name} exited {code} after SIGTERM")


def scheduler_mode(
    lab: Lab, kills: int, rng: random.Random, count: int, stall: float | None
) -> list[datetime]:
    """``count`` schedulers, SIGKILLed ``kills`` times in turn; returns the due dates.

    With ``stall``, each fault is a SIGSTOP for that many seconds instead (no restart).
    """
    gaps = [rng.uniform(0.5, 4.0) for _ in range(kills)]
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - BACKLOG * INTERVAL
    planned = timedelta(seconds=sum(gaps))  # the schedule ends with the kills
    schedule = Schedule(start, now + planned)
    write_pipeline(lab, schedule.options())
    if lab.call(["pools", "set", POOL, str(POOL_SLOTS)], "pools") != 0:
        raise SystemExit(f"could not create the pool: {lab.last_log()}")
    schedulers = Schedulers(lab, count)
    for name in schedulers.names:
        schedulers.start(name)
    try:
        last = time.monotonic()
        for index, gap in enumerate(gaps):  # each gap runs from the previous kill
            name = schedulers.names[index % count]
            sleep_until(last + gap, schedulers.processes[name])
            if stall is None:
                schedulers.kill_and_restart(name)
            else:
                schedulers.stall(name, stall)
            last = time.monotonic()
            if (index + 1) % 5 == 0:
                log(f"{index + 1} kills")
        dates = schedule.logical_dates()
        log(f"kills done; waiting for the {len(dates)} scheduled runs to end")
        wait_for_runs(lab, dates, schedule.end + INTERVAL)
    finally:
        schedulers.stop()
    return dates


def wait_for_runs(lab: Lab, dates: list[datetime], due: datetime) -> None:
    """Wait until every date has a final run (the last one is due at ``due``)."""
    store = lab.store()
    try:

        def all_final() -> bool:
            runs = store.list_runs(PIPELINE_ID, limit=100_000)
            final = {run.logical_date for run in runs if run.state in FINAL}
            return final >= set(dates)

        timeout = (due - datetime.now(UTC)).total_seconds() + 90
        if not wait_until(all_final, timeout):
            lab.notes.append(f"the scheduled runs were not all final {timeout:.0f}s later")
    finally:
        store.close()


def check(lab: Lab, dates: list[datetime]) -> tuple[dict[str, list[str]], dict[str, Any]]:
    executions = read_marks(lab.marks)
    deaths = {pid: moment for kill in lab.kills for pid, moment in kill.deaths().items()}
    frozen: dict[int, list[tuple[float, float]]] = {}
    for stall in lab.stalls:
        frozen.setdefault(stall.pid, []).append((stall.stopped_at, stall.resumed_at))
    store = lab.store()
    try:
        offenders, totals = check_all(
            store,
            PIPELINE_ID,
            dates,
            executions,
            slots=POOL_SLOTS,
            deaths=deaths,
            frozen=frozen,
            end=time.time(),
        )
    finally:
        store.close()
    cut = {e.pid for e in executions if e.end is None}  # processes killed mid-task
    totals["kills_mid_task"] = sum(bool(cut & kill.deaths().keys()) for kill in lab.kills)
    return offenders, totals


# the report


def backend(url: str | None) -> str:
    return "PostgreSQL" if url else "SQLite"


def mode_name(args: argparse.Namespace) -> str:
    if args.schedulers:
        name = f"{args.schedulers} schedulers" if args.schedulers > 1 else "1 scheduler"
    else:
        name = "headwater run + resume" + (", resumes killed too" if args.kill_resumes else "")
        name += ", Ctrl-C half the time" if args.interrupt else ""
    if args.stall is not None:
        name += f", stalled {args.stall:g} s"
    if args.lease is not None:
        name += f", lease {args.lease:g} s"
    return name + (", process executor" if args.executor == "process" else "")


def command_line(argv: list[str]) -> str:
    shown = [
        sa.make_url(arg).render_as_string(hide_password=True) if "://" in arg else arg
        for arg in argv
        if arg not in ("--json", "--write-docs")
    ]
    return shlex.join([".venv/bin/python", "bench/faults.py", *shown])


def print_report(result: dict[str, Any]) -> None:
    print(f"\n{result['mode']}, {result['backend']}: {result['summary']}\n")
    print(markdown_table(result["counters"]))
    for name, offenders in result["offenders"].items():
        if offenders:
            print(f"\n{COUNTERS[name]}: {len(offenders)}")
            for line in offenders[:20]:
                print(f"  - {line}")
            if len(offenders) > 20:
                print(f"  … and {len(offenders) - 20} more")
    for note in result["notes"]:
        print(f"note: {note}")


def markdown_table(counters: dict[str, int]) -> str:
    rows = [f"| {COUNTERS[name]} | {value} |" for name, value in counters.items()]
    return "\n".join(["| Counter | Count |", "|---|---:|", *rows])


def faults_done(result: dict[str, Any]) -> str:
    """``12 SIGKILL of run, 8 SIGINT of run (15 of the 20 while tasks ran)``, or the stalls."""
    if not result["kills"]:
        stalls = Counter(stall["target"] for stall in result["stalls"])
        return ", ".join(f"{count} SIGSTOP of {target}" for target, count in sorted(stalls.items()))
    kills = Counter(
        f"{kill['signal']} of {kill['target'].split(' (')[0]}" for kill in result["kills"]
    )
    done = ", ".join(f"{count} {target}" for target, count in sorted(kills.items()))
    mid_task = result["totals"]["kills_mid_task"]
    return f"{done} ({mid_task} of the {len(result['kills'])} while tasks ran)"


def summary(result: dict[str, Any]) -> str:
    totals = result["totals"]
    return (
        f"{faults_done(result)}, {totals['runs']} runs, "
        f"{totals['tries']} tries, {totals['executions']} task executions "
        f"({totals['executions_killed']} killed mid-way), seed {result['seed']}, "
        f"{result['seconds']:.0f} s"
    )


def docs_entry(result: dict[str, Any]) -> str:
    key = f"{result['mode']}, {result['backend']}"
    return (
        f"<!-- faults:entry {key} -->\n"
        f"### {key}\n\n"
        f"`{result['command']}` on {result['date']} ({result['cpus']} CPUs): "
        f"{result['summary']}.\n\n"
        f"{markdown_table(result['counters'])}\n"
    )


def write_docs(result: dict[str, Any]) -> None:
    """Replace this configuration's entry between the faults markers (others are kept)."""
    text = DOC.read_text()
    if BEGIN not in text:
        text += f"\n## Fault injection\n\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    body, tail = rest.split(END, 1)
    entries = {}
    for chunk in body.split("<!-- faults:entry ")[1:]:
        key = chunk.split(" -->", 1)[0]
        entries[key] = "<!-- faults:entry " + chunk.strip() + "\n"
    entry = docs_entry(result)
    entries[entry.split(" -->", 1)[0].removeprefix("<!-- faults:entry ")] = entry
    ordered = "\n".join(entries[key] for key in sorted(entries, key=entry_order))
    DOC.write_text(f"{head}{BEGIN}\n\n{ordered}\n{END}{tail}")


def entry_order(key: str) -> tuple[int, int, bool, str]:
    """By mode, the plain configuration before its variants, SQLite before PostgreSQL."""
    modes = ("headwater run", "1 scheduler", "2 schedulers")
    rank = next((i for i, mode in enumerate(modes) if key.startswith(mode)), len(modes))
    return (rank, key.count(", "), not key.endswith(", SQLite"), key)


# main


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", "--kills", type=int, default=20, help="SIGKILLs to land")
    parser.add_argument("--seed", type=int, default=1)
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument("--scheduler", dest="schedulers", action="store_const", const=1)
    modes.add_argument("--schedulers", type=int, choices=(1, 2, 3))
    parser.add_argument("--kill-resumes", action="store_true", help="kill some resumes too")
    parser.add_argument(
        "--interrupt", action="store_true", help="Ctrl-C (SIGINT) half the runs instead"
    )
    parser.add_argument("--executor", choices=("thread", "process"), default="thread")
    parser.add_argument(
        "--stall",
        type=float,
        metavar="SECONDS",
        help="scheduler modes: SIGSTOP a scheduler this long (then SIGCONT) instead of killing",
    )
    parser.add_argument("--lease", type=float, metavar="SECONDS", help="HEADWATER_LEASE_SECONDS")
    parser.add_argument("--database-url", help="a PostgreSQL server to create a database on")
    parser.add_argument("--json", action="store_true", help="print only JSON")
    parser.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    return parser.parse_args(argv)


def experiment(args: argparse.Namespace, lab: Lab) -> dict[str, Any]:
    rng = random.Random(args.seed)
    began = time.monotonic()
    lab.store().close()  # creates the schema before the first command
    if args.schedulers:
        dates = scheduler_mode(lab, args.kills, rng, args.schedulers, args.stall)
    else:
        lab.call(["pools", "set", POOL, str(POOL_SLOTS)], "pools")
        dates = run_mode(
            lab, args.kills, rng, kill_resumes=args.kill_resumes, interrupt=args.interrupt
        )
    offenders, totals = check(lab, dates)
    return {
        "mode": mode_name(args),
        "backend": backend(args.database_url),
        "seed": args.seed,
        "seconds": time.monotonic() - began,
        "kills": [asdict(kill) for kill in lab.kills],
        "stalls": [asdict(stall) for stall in lab.stalls],
        "totals": totals,
        "counters": {name: len(found) for name, found in offenders.items()},
        "offenders": offenders,
        "notes": lab.notes,
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="headwater-faults-"))
    ok = False
    try:
        with fresh_database(args.database_url) as url:
            lab = Lab(work, url, args.executor, args.lease)
            try:
                result = experiment(args, lab)
            finally:
                lab.close()
        result.update(
            command=command_line(argv),
            date=f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
            cpus=os.cpu_count(),
        )
        result["summary"] = summary(result)
        ok = not any(result["counters"].values())
        if args.json:
            print(json.dumps(result, indent=2, default=str))
        else:
            print_report(result)
        if args.write_docs:
            write_docs(result)
    finally:
        if ok and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"working folder kept: {work}")
    return 0 if ok else 1


def _exit_on_sigterm(_signum: int, _frame: Any) -> None:
    raise SystemExit(143)  # through the finally blocks: children killed, database dropped


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    with suppress(KeyboardInterrupt):
        sys.exit(main(sys.argv[1:]))
