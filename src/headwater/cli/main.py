"""The ``headwater`` entry point: wires the commands and maps errors to exit codes.

Exit codes: 0 success; 1 the run failed (or ``validate`` found a broken file);
2 bad input (a file that fails to import, an unknown pipeline, run or task, a malformed
``--param``, ``--date`` or ``--after``); 130 interrupted.
"""

from __future__ import annotations

import importlib
import os
import sys
import traceback

import click

from headwater.errors import HeadwaterError

EXIT_OK = 0
EXIT_RUN_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


# name: (module, attribute, one-line help). Each command's module is imported only when
# that command runs, so `headwater validate` or `--help` never load the database layer.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("headwater.cli.run", "run_command", "Run a pipeline once, to completion."),
    "validate": (
        "headwater.cli.validate",
        "validate_command",
        "Import pipeline files or folders and check their graphs.",
    ),
    "runs": ("headwater.cli.runs", "runs_group", "List and inspect runs."),
    "logs": ("headwater.cli.runs", "logs_command", "Print the log of a task's try."),
    "retry": (
        "headwater.cli.runs",
        "retry_command",
        "Re-run the failed and upstream-failed tasks of a run.",
    ),
    "resume": ("headwater.cli.runs", "resume_command", "Continue a run from the store."),
    "clear": ("headwater.cli.runs", "clear_command", "Reset tasks of a run to run again."),
    "cancel": ("headwater.cli.runs", "cancel_command", "Cancel a run: stop it, fail it."),
    "pause": (
        "headwater.cli.pipelines",
        "pause_command",
        "Pause a pipeline: no more scheduled or event runs.",
    ),
    "unpause": ("headwater.cli.pipelines", "unpause_command", "Schedule a paused pipeline again."),
    "pipelines": ("headwater.cli.pipelines", "pipelines_group", "List recorded pipelines."),
    "next": ("headwater.cli.schedules", "next_command", "List the next data intervals."),
    "trigger": ("headwater.cli.scheduler", "trigger_command", "Ask the scheduler for a run."),
    "scheduler": (
        "headwater.cli.scheduler",
        "scheduler_command",
        "Run pipelines on their schedules and events.",
    ),
    "dev": (
        "headwater.cli.scheduler",
        "dev_command",
        "The scheduler and the web server, for local work.",
    ),
    "server": ("headwater.cli.server", "server_command", "Serve the REST API and web UI."),
    "backfill": (
        "headwater.cli.backfill",
        "backfill_command",
        "Run a pipeline over past intervals, or assets over partitions.",
    ),
    "backfills": ("headwater.cli.backfill", "backfills_group", "List and resume backfills."),
    "materialize": (
        "headwater.cli.materialize",
        "materialize_command",
        "Materialize assets now, one run per partition.",
    ),
    "assets": ("headwater.cli.assets", "assets_group", "List and inspect assets, their lineage."),
    "test": (
        "headwater.cli.test_command",
        "test_command",
        "Run a pipeline or assets twice for a date: are they idempotent?",
    ),
    "pools": ("headwater.cli.pools", "pools_group", "Manage pools of slots."),
    "alerts": ("headwater.cli.alerts", "alerts_group", "Test alert channels, list deliveries."),
    "db": ("headwater.cli.db", "db_group", "Manage the metadata database."),
    "users": ("headwater.cli.users", "users_group", "Add users and change their roles."),
    "tokens": ("headwater.cli.users", "tokens_group", "Create, list and revoke API tokens."),
}


class LazyGroup(click.Group):
    """A group whose commands are imported when they are used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        spec = COMMANDS.get(cmd_name)
        if spec is None:
            return None
        command: click.Command = getattr(importlib.import_module(spec[0]), spec[1])
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, spec[2]) for name, spec in COMMANDS.items()])


@click.group(
    name="headwater",
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
@click.version_option(package_name="headwater")
def cli(debug: bool) -> None:
    """headwater: run data pipelines with durable state, retries and trigger rules."""


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
