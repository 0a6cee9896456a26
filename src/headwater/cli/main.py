"""The ``headwater`` entry point: wires the commands and maps errors to exit codes.

Exit codes: 0 success; 1 the run failed (or ``validate`` found a broken file);
2 bad input (a file that fails to import, an unknown pipeline, run or task, a malformed
``--param``, ``--date`` or ``--after``); 130 interrupted.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from headwater.cli import backfill, db, pools, run, runs, scheduler, schedules
from headwater.errors import HeadwaterError

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@click.group(
    name="headwater",
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="headwater")
def cli(debug: bool) -> None:
    """headwater: run data pipelines with durable state, retries and trigger rules."""


cli.add_command(run.run_command)
cli.add_command(run.validate_command)
cli.add_command(runs.logs_command)
cli.add_command(runs.retry_command)
cli.add_command(runs.resume_command)
cli.add_command(runs.clear_command)
cli.add_command(runs.runs_group)
cli.add_command(schedules.next_command)
cli.add_command(scheduler.trigger_command)
cli.add_command(scheduler.scheduler_command)
cli.add_command(scheduler.dev_command)
cli.add_command(backfill.backfill_command)
cli.add_command(backfill.backfills_group)
cli.add_command(pools.pools_group)
cli.add_command(db.db_group)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and exit with its documented exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or bool(os.environ.get("HEADWATER_DEBUG"))
    args = [arg for arg in args if arg != "--debug"]
    try:
        code = cli.main(args=args, prog_name="headwater", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = EXIT_USAGE
    except (click.exceptions.Abort, KeyboardInterrupt):
        sys.stderr.write("headwater: interrupted\n")
        code = EXIT_INTERRUPTED
    except HeadwaterError as exc:
        if debug:
            traceback.print_exception(exc)
        sys.stderr.write(f"headwater: error: {exc}\n")
        code = EXIT_USAGE
    sys.stdout.flush()
    sys.exit(code if isinstance(code, int) else EXIT_OK)


if __name__ == "__main__":
    main()
