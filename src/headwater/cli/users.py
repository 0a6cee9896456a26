"""``headwater users`` and ``headwater tokens``: who may use the web UI and the API.

A password is read from the terminal (twice, without echo) or from standard input with
``--password-stdin``; it is never taken as an argument, which other users of the machine
could read in the process list. A new token is printed alone on standard output, once:
only its hash is kept.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

import click
from rich.table import Table

from headwater import accounts
from headwater.accounts import Role
from headwater.cli.console import console, error_console, print_json
from headwater.clock import Clock, SystemClock
from headwater.config import Settings
from headwater.errors import ConfigError
from headwater.private_files import make_private_dir
from headwater.store.records import TokenRecord
from headwater.store.sql.store import SqlStore

ROLES = click.Choice([role.value for role in Role])
password_stdin_option = click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from standard input (one line) instead of the terminal.",
)


json_option = click.option("--json", "json_output", is_flag=True, help="Print only JSON.")


@dataclass(frozen=True, slots=True)
class _Opened:
    store: SqlStore
    clock: Clock


@contextmanager
def _runtime() -> Iterator[_Opened]:
    # the store alone, not a whole Runtime: these commands run no pipeline, and start
    # faster without the engine
    settings = Settings.from_env()
    make_private_dir(settings.home)
    store = SqlStore.from_settings(settings)
    try:
        yield _Opened(store, SystemClock())
    finally:
        store.close()


def utc_minutes(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(sep=" ", timespec="minutes")[:16]


def id_column(table: Table, header: str) -> None:
    table.add_column(header, no_wrap=True, overflow="fold")


def text_column(table: Table, header: str) -> None:
    table.add_column(header, overflow="fold")


def _say(message: str) -> None:
    """A line for people, on stderr: stdout carries only what scripts capture."""
    error_console.print(message, highlight=False, soft_wrap=True)


def read_password(from_stdin: bool) -> str:
    """The new password, from standard input or typed twice at the terminal.

    Raises ConfigError when there is no terminal to type it at, or the two differ.
    """
    if from_stdin:
        password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        if not password:
            raise ConfigError("--password-stdin read an empty password; pipe one line in")
        return password
    if not sys.stdin.isatty():
        raise ConfigError(
            "no terminal to type the password at; pipe it in with --password-stdin, "
            "or make a token-only user with --no-password"
        )
    first: str = click.prompt("Password", hide_input=True, err=True)
    if click.prompt("Password again", hide_input=True, err=True) != first:
        raise ConfigError("the two passwords differ; nothing was changed")
    return first


@click.group("users")
def users_group() -> None:
    """Add users, change their roles, and disable them."""


@users_group.command("create")
@click.argument("name")
@click.option(
    "--role",
    type=ROLES,
    required=True,
    help="viewer reads; operator also acts; admin also manages.",
)
@password_stdin_option
@click.option("--no-password", is_flag=True, help="A user who signs in with tokens only.")
def create_command(name: str, role: str, password_stdin: bool, no_password: bool) -> int:
    """Add user NAME with a role and a password."""
    if password_stdin and no_password:
        raise ConfigError("choose one of --password-stdin and --no-password")
    accounts.check_user_name(name)
    password = None if no_password else read_password(password_stdin)
    if password is not None:
        accounts.hash_password(password)  # its length checked before the store is opened
    with _runtime() as runtime:
        accounts.create_user(runtime.store, name, Role(role), password, runtime.clock.now())
    _say(f"created user {name} ({role})")
    return 0


@users_group.command("list")
@json_option
def list_command(json_output: bool) -> int:
    """The users, their roles, and whether they may sign in with a password."""
    with _runtime() as runtime:
        users = accounts.list_users(runtime.store)
    if json_output:
        print_json(
            [
                {
                    "name": user.name,
                    "role": user.role,
                    "password": user.has_password,
                    "disabled": user.disabled,
                    "created_at": user.created_at.isoformat(),
                }
                for user in users
            ]
        )
        return 0
    if not users:
        console.print("no users; add one with 'headwater users create NAME --role admin'")
        return 0
    table = Table()
    id_column(table, "user")
    text_column(table, "role")
    text_column(table, "password")
    text_column(table, "status")
    text_column(table, "created (UTC)")
    for user in users:
        table.add_row(
            user.name,
            user.role,
            "yes" if user.has_password else "no (tokens only)",
            "disabled" if user.disabled else "active",
            utc_minutes(user.created_at),
        )
    console.print(table)
    return 0


@users_group.command("set-role")
@click.argument("name")
@click.argument("role", type=ROLES)
def set_role_command(name: str, role: str) -> int:
    """Give user NAME another ROLE; it applies to their next request."""
    with _runtime() as runtime:
        accounts.set_role(runtime.store, name, Role(role))
    _say(f"user {name} is now {role}")
    return 0


@users_group.command("set-password")
@click.argument("name")
@password_stdin_option
def set_password_command(name: str, password_stdin: bool) -> int:
    """Give user NAME a new password; their sessions end."""
    password = read_password(password_stdin)
    with _runtime() as runtime:
        accounts.set_password(runtime.store, name, password)
    _say(f"user {name} has a new password")
    return 0


def _enabler(disabled: bool) -> Callable[[str], int]:
    def command(name: str) -> int:
        with _runtime() as runtime:
            accounts.set_disabled(runtime.store, name, disabled)
        _say(f"user {name} is {'disabled' if disabled else 'enabled'}")
        return 0

    return command


users_group.command(
    "disable", help="Disable user NAME: their sessions and tokens stop working at once."
)(click.argument("name")(_enabler(True)))
users_group.command("enable", help="Let user NAME sign in again.")(
    click.argument("name")(_enabler(False))
)


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: create, list and revoke them."""


@tokens_group.command("create")
@click.option("--user", "user_name", required=True, help="Whose token it is (their role applies).")
@click.option("--expires", help="Lifetime: 90m, 12h, 30d or 2w (default: until revoked).")
@click.option("--description", default="", help="What the token is for.")
def create_token_command(user_name: str, expires: str | None, description: str) -> int:
    """Create a token and print it alone on stdout, once: it cannot be shown again."""
    expires_in = None if expires is None else accounts.parse_duration(expires)
    with _runtime() as runtime:
        token, record = accounts.create_token(
            runtime.store,
            user_name,
            runtime.clock.now(),
            expires_in=expires_in,
            description=description,
        )
    sys.stdout.write(token + "\n")
    sys.stdout.flush()
    until = "until revoked" if record.expires_at is None else f"until {_when(record.expires_at)}"
    _say(f"token {record.token_id} for {user_name}, valid {until}; store it now, it is not kept")
    return 0


def _when(moment: datetime | None) -> str:
    return "" if moment is None else utc_minutes(moment) + " UTC"


def _status(token: TokenRecord, now: datetime) -> str:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and token.expires_at <= now:
        return "expired"
    return "active"


@tokens_group.command("list")
@click.option("--user", "user_name", help="Only this user's tokens.")
@json_option
def list_tokens_command(user_name: str | None, json_output: bool) -> int:
    """The tokens (their ids, never the tokens themselves)."""
    with _runtime() as runtime:
        tokens = accounts.list_tokens(runtime.store, user_name)
        now = runtime.clock.now()
    if json_output:
        print_json(
            [
                {
                    "token_id": token.token_id,
                    "user": token.user_name,
                    "description": token.description,
                    "status": _status(token, now),
                    "created_at": token.created_at.isoformat(),
                    "expires_at": _iso(token.expires_at),
                    "last_used_at": _iso(token.last_used_at),
                    "revoked_at": _iso(token.revoked_at),
                }
                for token in tokens
            ]
        )
        return 0
    if not tokens:
        console.print("no tokens; create one with 'headwater tokens create --user NAME'")
        return 0
    table = Table()
    id_column(table, "token")
    text_column(table, "user")
    text_column(table, "status")
    text_column(table, "expires (UTC)")
    text_column(table, "last used (UTC)")
    text_column(table, "description")
    for token in tokens:
        table.add_row(
            token.token_id,
            token.user_name,
            _status(token, now),
            utc_minutes(token.expires_at) if token.expires_at else "never",
            utc_minutes(token.last_used_at) if token.last_used_at else "",
            token.description,
        )
    console.print(table)
    return 0


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


@tokens_group.command("revoke")
@click.argument("token_id")
def revoke_token_command(token_id: str) -> int:
    """Revoke token TOKEN_ID (as 'headwater tokens list' shows it): it stops working at once."""
    with _runtime() as runtime:
        accounts.revoke_token(runtime.store, token_id, runtime.clock.now())
    shown = token_id.removeprefix(accounts.TOKEN_PREFIX).partition("_")[0]
    _say(f"revoked token {shown}")
    return 0
