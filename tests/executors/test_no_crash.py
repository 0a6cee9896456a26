"""The engine's process never crashes, whatever its task threads are doing as it exits.

``print`` holds a borrowed reference to ``sys.stdout`` while it writes, so replacing
``sys.stdout`` (as the thread executor does when it stops routing print output to the
tries' logs) must never free the stream a thread is printing to. These tests stop an
executor, or interrupt ``headwater run``, while tries print as fast as they can, several
times over: a crash shows as SIGSEGV or "Fatal Python error".
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESOURCES = ROOT / "tests" / "resources" / "executors"
ATTEMPTS = 6


def crash_of(process: subprocess.Popen[str], timeout: float = 30) -> str | None:
    """How ``process`` crashed or hung, or None if it exited by itself."""
    try:
        _, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return f"still running after {timeout} s"
    if process.returncode == -signal.SIGSEGV or "Fatal Python error" in stderr:
        return f"crashed (exit status {process.returncode}):\n{stderr[-3000:]}"
    return None


SCRIPT = """
import queue, sys
from pathlib import Path
sys.path[:0] = [{root!r}]
from headwater.executors.threads import ThreadExecutor
from tests.executors.requests import try_request
from tests.resources.executors.chatter import chatter

tmp = Path(sys.argv[1])
(tmp / "full.log").symlink_to("/dev/full")
requests = [
    try_request(chatter, "chatters", tmp, try_number=1),
    try_request(chatter, "chatters", tmp, try_number=2, log_path=str(tmp / "full.log")),
]
executor = ThreadExecutor(2)
executor.start(queue.SimpleQueue().put)
for request in requests:
    executor.submit(request, chatter.plan.node("chatters").fn)
log = tmp / "chatters-1.log"
while not log.exists() or log.stat().st_size < 10_000:
    pass
executor.shutdown()  # while both tries still print
print("stopped")
"""


def test_stopping_the_thread_executor_while_tries_print_never_crashes(tmp_path: Path) -> None:
    # Given: a script that stops a thread executor while its tries print, and exits
    script = tmp_path / "stop.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    folders = [tmp_path / str(attempt) for attempt in range(ATTEMPTS)]

    # When: it runs several times at once
    processes = []
    for folder in folders:
        folder.mkdir()
        processes.append(
            subprocess.Popen(
                [sys.executable, str(script), str(folder)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )

    # Then: each exits by itself, without crashing, and said so on the real stdout
    crashes = [crash for process in processes if (crash := crash_of(process)) is not None]
    assert crashes == []
    assert [process.returncode for process in processes] == [0] * ATTEMPTS


CYCLES = """
import io, sys, threading
sys.path[:0] = [{root!r}]
from headwater.executors.threads import ThreadExecutor


class Litter(io.TextIOBase):  # the size of a routed stream: takes its memory once freed
    def __init__(self) -> None:
        self.name = "litter"
        self.fallback = None


printing = True


def chatter() -> None:
    while printing:
        print("a line from a thread of the application, not from a try")


threads = [threading.Thread(target=chatter) for _ in range(2)]
for thread in threads:
    thread.start()
for _ in range(2000):
    executor = ThreadExecutor(1)
    executor.start(lambda outcome: None)
    executor.shutdown()
    litter = [Litter() for _ in range(50)]
printing = False
for thread in threads:
    thread.join()
"""


def test_starting_and_stopping_executors_while_threads_print_never_crashes(
    tmp_path: Path,
) -> None:
    # Given: a script whose threads print (unbuffered) while executors start and stop,
    # routing print output and giving it back 2000 times
    script = tmp_path / "cycles.py"
    script.write_text(CYCLES.format(root=str(ROOT)))

    # When: it runs several times at once
    processes = [
        subprocess.Popen(
            [sys.executable, "-u", str(script)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(ATTEMPTS)
    ]

    # Then: none crashed
    crashes = [crash for process in processes if (crash := crash_of(process)) is not None]
    assert crashes == []
    assert [process.returncode for process in processes] == [0] * ATTEMPTS


def start_run(home: Path, pipeline_file: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env["HEADWATER_HOME"] = str(home)
    return subprocess.Popen(
        [sys.executable, "-m", "headwater", "run", *args, str(pipeline_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_output(home: Path, process: subprocess.Popen[str]) -> None:
    """Wait until the run's try has written to its log."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and process.poll() is None:
        for log in (home / "logs").glob("chatter/*/chatters/try-1.log"):
            if log.stat().st_size > 10_000:
                return
        time.sleep(0.02)
    raise AssertionError(f"the try wrote nothing (exit status {process.poll()})")


def test_ctrl_c_while_a_thread_task_prints_never_crashes(tmp_path: Path) -> None:
    # Given: runs whose task prints for ever
    homes = [tmp_path / str(attempt) for attempt in range(3)]
    processes = [
        start_run(home, RESOURCES / "chatter.py", "--executor", "thread") for home in homes
    ]

    # When: each is interrupted once its task is printing
    for home, process in zip(homes, processes, strict=True):
        wait_for_output(home, process)
        process.send_signal(signal.SIGINT)

    # Then: each exits by itself, without crashing
    crashes = [crash for process in processes if (crash := crash_of(process)) is not None]
    assert crashes == []


ROOM_LEFT = 96 * 1024  # what a run finds free on the small disk once its store exists


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A small file system (a tmpfs) that tries' logs and the metadata store soon fill:
    see ``leave_little_room``."""
    if shutil.which("mount") is None or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root and mount(8)")
    folder = tmp_path / "disk"
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def leave_little_room(disk: Path, home: Path) -> None:
    """Create the metadata store of ``home`` on ``disk``, then shrink the disk to what it
    uses plus ``ROOM_LEFT``: the run fills it, not the store's creation."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
    env["HEADWATER_HOME"] = str(home)
    subprocess.run(
        [sys.executable, "-m", "headwater", "runs", "list"],
        env=env,
        check=True,
        capture_output=True,
    )
    usage = os.statvfs(disk)
    used = (usage.f_blocks - usage.f_bfree) * usage.f_frsize
    size = -(-(used + ROOM_LEFT) // 4096) * 4096
    subprocess.run(["mount", "-o", f"remount,size={size}", str(disk)], check=True)


def test_a_full_disk_during_a_run_never_crashes(small_disk: Path) -> None:
    # When: a task prints for ever (its log soon fails), filling the disk that holds
    # HEADWATER_HOME, while small tasks keep the engine writing to its store there
    leave_little_room(small_disk, small_disk)
    process = start_run(small_disk, RESOURCES / "fill_disk.py", "--executor", "thread")

    # Then: it ends by itself, without crashing
    assert crash_of(process) is None
