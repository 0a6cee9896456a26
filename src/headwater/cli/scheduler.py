"""``headwater scheduler``, ``headwater dev`` and ``headwater trigger``."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import click

from headwater.cli.console import console, print_json
from headwater.cli.options import parse_date, parse_params, pipelines_option
from headwater.cli.run import executor_option, json_option
from headwater.config_file import load_config
from headwater.engine.runs import create_run
from headwater.errors import ConfigError
from headwater.loader import find_pipeline
from headwater.metrics.exposition import MetricsServer, metrics_registry, serve_metrics
from headwater.runtime import Runtime
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.service import SchedulerService, ServiceOptions

if TYPE_CHECKING:
    from headwater.cli.server import Companion

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8787

host_option = click.option(
    "--host", default=DEFAULT_HOST, show_default=True, help="The address to listen on."
)
port_option = click.option(
    "--port",
    type=click.IntRange(min=0, max=65535),
    default=DEFAULT_PORT,
    show_default=True,
    help="The port to listen on.",
)


def _serve(
    pipelines_dir: Path,
    executor: str,
    tick: float,
    max_runs: int,
    *,
    parallelism: int | None = None,
    grace: float = 30.0,
    config_path: Path | None = None,
    companion: Companion | None = None,
    metrics_address: tuple[str, int] | None = None,
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
    stop_companion: Callable[[], None] | None = None
    try:
        service = SchedulerService(runtime, registry, options)
        if companion is not None:
            registry.refresh()  # the server shows the pipelines from its first request
            stop_companion = companion(runtime, registry, service)
        metrics = _serve_metrics(service, metrics_address)
        try:
            clean = service.run(stop)
        finally:
            if metrics is not None:
                metrics.stop()
    finally:
        if stop_companion is not None:
            stop_companion()
        runtime.close()
    if not clean:
        # Tries still run in this process: end it now, and them with it, rather than
        # wait for them at the interpreter's exit (see SchedulerService.run).
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


def _serve_metrics(
    service: SchedulerService, address: tuple[str, int] | None
) -> MetricsServer | None:
    """Serve the scheduler's metrics and the store's gauges at ``address``, if given."""
    if address is None:
        return None
    runtime = service.runtime
    registry = metrics_registry(store=runtime.store, clock=runtime.clock, engine=service.metrics)
    server = serve_metrics(registry, *address)
    logging.getLogger("headwater.scheduler").info("metrics at %s", server.url)
    return server


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
metrics_port_option = click.option(
    "--metrics-port",
    type=click.IntRange(min=0, max=65535),
    default=None,
    help="Serve Prometheus metrics at http://HOST:PORT/metrics (0: any free port; the "
    "log says which) [default: not served].",
)
metrics_host_option = click.option(
    "--metrics-host",
    default="127.0.0.1",
    show_default=True,
    help="Address the metrics are served on; 0.0.0.0 for every interface (no credentials "
    "are asked).",
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


@click.command("scheduler")
@pipelines_option
@executor_option
@tick_option
@max_runs_option
@parallelism_option
@grace_option
@config_option
@metrics_port_option
@metrics_host_option
def scheduler_command(
    pipelines_dir: Path,
    executor: str,
    tick: float,
    max_runs: int,
    parallelism: int | None,
    grace: float,
    config_path: Path | None,
    metrics_port: int | None,
    metrics_host: str,
) -> int:
    """Run pipelines on their schedules and events until stopped (SIGTERM or Ctrl-C)."""
    return _serve(
        pipelines_dir,
        executor,
        tick,
        max_runs,
        parallelism=parallelism,
        grace=grace,
        config_path=config_path,
        metrics_address=None if metrics_port is None else (metrics_host, metrics_port),
    )


@click.command("dev")
@host_option
@port_option
@pipelines_option
@executor_option
@tick_option
@max_runs_option
@parallelism_option
@grace_option
@config_option
def dev_command(
    host: str,
    port: int,
    pipelines_dir: Path,
    executor: str,
    tick: float,
    max_runs: int,
    parallelism: int | None,
    grace: float,
    config_path: Path | None,
) -> int:
    """The scheduler and the web server in one process, for local work.

    On a loopback --host it makes a local admin user and prints a login URL carrying a
    new token; on any other address it needs users (see 'headwater users create').
    """
    # imported here: the server's libraries are an extra that `scheduler` does not need
    from headwater.cli.server import dev_companion

    return _serve(
        pipelines_dir,
        executor,
        tick,
        max_runs,
        parallelism=parallelism,
        grace=grace,
        config_path=config_path,
        companion=dev_companion(host, port),
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
