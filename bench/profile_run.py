"""Profile one run with cProfile: ``bench/profile_run.py SHAPE N [--executor E] [--sort KEY]``.

Profiles the thread that drives the run (the engine's loop and the store); the tasks
themselves run on other threads or processes and are not in the profile. Prints the top
functions by own time and by cumulative time, and saves the stats for snakeviz or
``python -m pstats``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("shape", choices=("chain", "fanout"))
    parser.add_argument("n", type=int)
    parser.add_argument("--executor", default="thread", choices=("thread", "process"))
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--save", type=Path, help="write the raw stats here")
    args = parser.parse_args()

    os.environ["HEADWATER_BENCH_PIPELINE"] = f"{args.shape}:{args.n}"
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pipelines

    from headwater.config import Settings
    from headwater.runtime import Runtime

    with tempfile.TemporaryDirectory(prefix="headwater-profile-") as home:
        runtime = Runtime(Settings.for_home(Path(home)))
        # A first run warms SQLAlchemy's statement cache, as a long-lived process would be.
        runtime.run(pipelines.bench_pipeline, executor=args.executor)
        profiler = cProfile.Profile()
        started = time.perf_counter()
        profiler.enable()
        record = runtime.run(pipelines.bench_pipeline, executor=args.executor)
        profiler.disable()
        elapsed = time.perf_counter() - started
        runtime.close()
    print(
        f"{args.shape}-{args.n} on {args.executor}: {record.state} in {elapsed:.3f} s "
        f"under the profiler\n"
    )
    stats = pstats.Stats(profiler)
    if args.save:
        stats.dump_stats(args.save)
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
