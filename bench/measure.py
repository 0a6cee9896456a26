"""One measurement, in a fresh process: ``measure.py SHAPE N EXECUTOR HOME``.

Prints one JSON object on stdout. ``bench/run.py`` starts this script once per repeat,
so the peak memory (``ru_maxrss``) is that of one run alone and the process executor's
workers are spawned fresh each time.

Timestamps are ``time.time()`` so that the parent can subtract the moment it started
this process from the moment the imports were done here.
"""

from __future__ import annotations

import time

STARTED = time.time()

import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402


class WorkerMemory:
    """Polls the peak RSS (VmHWM) of this process's children: the executor's workers.

    ``RUSAGE_CHILDREN`` cannot be used: a child started by fork + exec is charged with
    the parent's RSS at the fork, so it reports the parent's peak, not the worker's.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _poll(self) -> None:
        while not self._stop.wait(self.interval):
            for pid in self._children():
                try:
                    # Only workers: not the resource tracker, nor a child caught between
                    # fork and exec, which still shows this process's memory.
                    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                        if b"headwater.executors.worker" not in cmdline.read():
                            continue
                    with open(f"/proc/{pid}/status") as status:
                        for line in status:
                            if line.startswith("VmHWM:"):
                                self.peak_kib = max(self.peak_kib, int(line.split()[1]))
                except OSError:
                    pass  # it just exited

    @staticmethod
    def _children() -> list[str]:
        pids: list[str] = []
        try:
            for tid in os.listdir("/proc/self/task"):
                with open(f"/proc/self/task/{tid}/children") as children:
                    pids.extend(children.read().split())
        except OSError:
            pass
        return pids


def main() -> None:
    shape, n_text, executor, home = sys.argv[1:5]
    n = int(n_text)
    # Read by bench/pipelines.py at import, here and in the process executor's workers.
    os.environ["HEADWATER_BENCH_PIPELINE"] = f"{shape}:{n}"

    from headwater.config import Settings
    from headwater.runtime import Runtime

    imported = time.time()

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pipelines

    pipe = pipelines.bench_pipeline
    built = time.time()

    baseline_fn = pipelines.BASELINES[shape]
    baseline_times = []
    for _ in range(7):
        t0 = time.perf_counter()
        baseline_value = baseline_fn(n)
        baseline_times.append(time.perf_counter() - t0)
    assert baseline_value == pipelines.expected_result(shape, n)

    t0 = time.perf_counter()
    runtime = Runtime(Settings.for_home(Path(home)))
    store_open = time.perf_counter() - t0

    with WorkerMemory() as workers:
        t0 = time.perf_counter()
        record = runtime.run(pipe, executor=executor)
        wall = time.perf_counter() - t0

    last = f"t{n - 1}" if shape == "chain" else "join"
    instances = {ti.task_id: ti for ti in runtime.store.get_task_instances(record.run_id)}
    value = runtime.result_store.decode(instances[last].result, instances[last].result_ref)
    runtime.close()
    if record.state != "success" or value != pipelines.expected_result(shape, n):
        raise SystemExit(f"bad run: state {record.state}, result {value!r}")

    self_usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # CPU only: see WorkerMemory
    print(
        json.dumps(
            {
                "shape": shape,
                "n": n,
                "tasks": len(pipe.plan.nodes),
                "executor": executor,
                "started": STARTED,
                "imported": imported,
                "build": built - imported,
                "baseline": statistics.median(baseline_times),
                "store_open": store_open,
                "wall": wall,
                "cpu": self_usage.ru_utime + self_usage.ru_stime,
                "peak_kib": self_usage.ru_maxrss,  # KiB on Linux
                "worker_peak_kib": workers.peak_kib,  # the largest worker, if any
                "child_cpu": children.ru_utime + children.ru_stime,
            }
        )
    )


if __name__ == "__main__":
    main()
