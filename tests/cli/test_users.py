"""``headwater users`` and ``headwater tokens``, run as real commands."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.conftest import Result, command_env
from tests.forked_commands import CommandServer

from headwater import accounts
from headwater.clock import SystemClock
from headwater.store.sql.store import SqlStore

TOKEN = re.compile(r"hw_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
Headwater = Callable[..., Result]


@pytest.fixture
def headwater(tmp_path: Path, command_server: CommandServer) -> Headwater:
    """``headwater ARGS`` in tmp_path, with ``stdin`` as its standard input (never a tty)."""

    def run(*args: str, stdin: str = "") -> Result:
        completed = command_server.run(
            list(args), cwd=tmp_path, env=command_env(tmp_path / "home"), stdin=stdin
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    return run


def test_users_are_created_listed_and_managed(
    headwater: Headwater, store_of: Callable[[], SqlStore]
) -> None:
    created = headwater(
        "users", "create", "ada", "--role", "admin", "--password-stdin", stdin="a long secret\n"
    )
    assert created.code == 0, created.stderr
    assert (created.stdout, created.stderr.strip()) == ("", "created user ada (admin)")
    assert headwater("users", "create", "bot", "--role", "viewer", "--no-password").code == 0
    again = headwater("users", "create", "bot", "--role", "admin", "--no-password")
    assert (again.code, again.stderr) == (2, "headwater: error: user 'bot' exists already\n")
    assert headwater("users", "set-role", "bot", "operator").code == 0
    assert headwater("users", "disable", "bot").stderr == "user bot is disabled\n"
    listed = headwater("users", "list", "--json").json()
    assert [{k: v for k, v in user.items() if k != "created_at"} for user in listed] == [
        {"name": "ada", "role": "admin", "password": True, "disabled": False},
        {"name": "bot", "role": "operator", "password": False, "disabled": True},
    ]
    store = store_of()
    assert accounts.authenticate_password(store, "ada", "a long secret").name == "ada"
    for args, message in (
        (("create", "ada", "--role", "admin"), "no terminal to type the password at; pipe"),
        (("set-role", "nobody", "admin"), "no user 'nobody'; 'headwater users list'"),
    ):
        result = headwater("users", *args)
        assert (result.code, result.stdout) == (2, "")
        assert len(result.stderr.splitlines()) == 1
        assert message in result.stderr


def test_a_token_is_printed_alone_once_and_revoked(
    headwater: Headwater, store_of: Callable[[], SqlStore]
) -> None:
    headwater("users", "create", "ci", "--role", "operator", "--no-password")
    created = headwater(
        "tokens", "create", "--user", "ci", "--expires", "30d", "--description", "nightly"
    )
    assert created.code == 0, created.stderr
    token = created.stdout.removesuffix("\n")
    assert TOKEN.fullmatch(token), created.stdout
    token_id = token.split("_")[1]
    assert created.stderr.startswith(f"token {token_id} for ci, valid until ")
    assert token not in created.stderr
    store = store_of()
    assert accounts.authenticate_token(store, token, SystemClock().now()).name == "ci"
    listed = headwater("tokens", "list", "--json")
    assert token.split("_", 2)[2] not in listed.stdout
    (row,) = listed.json()
    assert (row["token_id"], row["user"], row["description"], row["status"]) == (
        token_id,
        "ci",
        "nightly",
        "active",
    )
    assert headwater("tokens", "revoke", token_id).stderr == f"revoked token {token_id}\n"
    assert accounts.list_tokens(store)[0].revoked_at is not None
    bad = headwater("tokens", "create", "--user", "ci", "--expires", "30")
    assert (bad.code, bad.stdout) == (2, "")
    assert bad.stderr == (
        "headwater: error: bad duration '30'; write a whole number and a unit, "
        "e.g. 90m, 12h, 30d or 2w\n"
    )


def test_a_password_is_typed_twice_without_echo(tmp_path: Path) -> None:
    def create(name: str, first: str, second: str) -> tuple[int, str]:
        parent, child = os.openpty()
        process = subprocess.Popen(
            [sys.executable, "-m", "headwater", "users", "create", name, "--role", "viewer"],
            stdin=child,
            stdout=child,
            stderr=child,
            cwd=tmp_path,
            env=command_env(tmp_path / "home"),
            start_new_session=True,  # no controlling terminal: the pty is the only one
        )
        os.close(child)
        seen = b""

        def read_until(text: bytes) -> None:
            nonlocal seen
            deadline = time.monotonic() + 30
            while text not in seen:
                assert time.monotonic() < deadline, seen
                ready, _, _ = select.select([parent], [], [], 1)
                if ready:
                    seen += os.read(parent, 1024)

        read_until(b"Password: ")
        os.write(parent, first.encode() + b"\n")
        read_until(b"Password again: ")
        os.write(parent, second.encode() + b"\n")
        code = process.wait(30)
        try:
            while select.select([parent], [], [], 0.1)[0]:
                seen += os.read(parent, 1024)
        except OSError:  # the child's end closed
            pass
        os.close(parent)
        return code, seen.decode()

    code, output = create("ada", "typed secret", "typed secret")
    assert code == 0, output
    assert "typed secret" not in output
    assert "created user ada (viewer)" in output
    code, output = create("bob", "typed secret", "other secret")
    assert code == 2
    assert "the two passwords differ; nothing was changed" in output
    assert "secret" not in output.replace("nothing", "")
