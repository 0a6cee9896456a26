"""``headwater scheduler``, ``headwater dev`` and ``headwater trigger``."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

import click

from headwater.cli.console import console, print_json
from headwater.cli.options import parse_date, parse_params, pipelines_option
from headwater.cli.run import executor_option, json_option
from headwater.config_file import load_config
from headwater.engine.runs import create_run
from headwater.errors import ConfigError
from headwater.loader import find_pipeline
from headwater.runtime import Runtime
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.service import SchedulerService, ServiceOptions


def _serve(
    pipelines_dir: Path,
    executor: str,
    tick: float,
    max_runs: int,
    *,
    parallelism: int | None = None,
    grace: float = 30.0,
    config_path: Path | None = None,
) -> int:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if stop.is_set():  # the second signal: no more waiting for running tries
            sys.stderr.write(f"headwater: {name} again: exiting now\n")
            os._exit(128 + signum)
        logging.getLogger("headwater.scheduler").info("received %s", name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    runtime = Runtime()
    try:
        config = load_config(config_path, runtime.settings.home)
    except ConfigError:
        runtime.close()
        raise
    registry = PipelineRegistry(pipelines_dir)
    options = ServiceOptions(
        executor=executor,
        tick_interval=tick,
        max_runs=max_runs,
        lease=runtime.settings.lease,
        parallelism=parallelism,
        grace=grace,
        pools=config.pools,
        alerts=config.alerts,
    )
    logging.getLogger("headwater.scheduler").info(
        "scheduler %s watching %s", runtime.owner, pipelines_dir.resolve()
    )
    try:
        clean = SchedulerService(runtime, registry, options).run(stop)
    finally:
        runtime.close()
    if not clean:
        # Tries still run in this process: end it now, and them with it, rather than
        # wait for them at the interpreter's exit (see SchedulerService.run).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _positive_seconds(_ctx: click.Context, param: click.Parameter, value: float) -> float:
    # a tick of 0 (or NaN) would spin the loop; one of infinity would never look again
    if not 0 < value <= 3600:
        raise click.BadParameter(
            f"must be a number of seconds from 0 (excluded) to 3600, got {value}"
        )
    return value


tick_option = click.option(
    "--tick",
    type=float,
    default=1.0,
    show_default=True,
    callback=_positive_seconds,
    help="Seconds between checks for due runs.",
)
max_runs_option = click.option(
    "--max-runs",
    type=click.IntRange(min=1),
    default=64,
    show_default=True,
    help="Runs this process drives at once.",
)

parallelism_option = click.option(
    "--parallelism",
    type=click.IntRange(min=1),
    default=None,
    help="Tries this process runs at once, over all runs [default: the executor's size].",
)
grace_option = click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds running tries get to finish after SIGTERM or Ctrl-C; past it the process "
    "exits, ending them, without handing their runs back.",
)
config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="HEADWATER_CONFIG",
    show_envvar=True,
    default=None,
    help="TOML config file declaring pools and alerts "
    "[default: $HEADWATER_HOME/headwater.toml if it exists].",
)


def _service_command(name: str, help_text: str) -> click.Command:
    """``scheduler`` and ``dev``: the same loop (the web UI will join ``dev`` later)."""

    @click.command(name, help=help_text)
    @pipelines_option
    @executor_option
    @tick_option
    @max_runs_option
    @parallelism_option
    @grace_option
    @config_option
    def command(
        pipelines_dir: Path,
        executor: str,
        tick: float,
        max_runs: int,
        parallelism: int | None,
        grace: float,
        config_path: Path | None,
    ) -> int:
        return _serve(
            pipelines_dir,
            executor,
            tick,
            max_runs,
            parallelism=parallelism,
            grace=grace,
            config_path=config_path,
        )

    return command


scheduler_command = _service_command(
    "scheduler", "Run pipelines on their schedules and events until stopped (SIGTERM or Ctrl-C)."
)
dev_command = _service_command(
    "dev", "The scheduler and its executor in one process, for local development."
)


@click.command("trigger")
@click.argument("pipeline_spec", metavar="PIPELINE")
@click.option("--date", help="Logical date: an ISO date or datetime (default: now).")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE", help="Override a param.")
@pipelines_option
@json_option
def trigger_command(
    pipeline_spec: str,
    date: str | None,
    params: tuple[str, ...],
    pipelines_dir: Path,
    json_output: bool,
) -> int:
    """Ask the scheduler for a run now. A date that already has a run is refused (exit 2)."""
    pipeline = find_pipeline(pipeline_spec, pipelines_dir)
    overrides = parse_params(list(params), pipeline)
    logical_date = parse_date(date, pipeline.zone)
    runtime = Runtime()
    try:
        run = create_run(
            runtime.store,
            pipeline,
            clock=runtime.clock,
            logical_date=logical_date,
            params=overrides,
            triggered_by="trigger",
        )
    finally:
        runtime.close()
    if json_output:
        print_json(
            {
                "run_id": run.run_id,
                "pipeline": run.pipeline_id,
                "state": run.state,
                "logical_date": run.logical_date.isoformat(),
            }
        )
    else:
        console.print(
            f"queued run {run.run_id} of {run.pipeline_id} for "
            f"{run.logical_date.isoformat()}; a running scheduler will start it",
            highlight=False,
            soft_wrap=True,
        )
    return 0
