"""Users, passwords, tokens and the limit on failed sign-ins, on both store backends."""

from __future__ import annotations

import hashlib
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from headwater import accounts
from headwater.accounts import LoginThrottled, Role
from headwater.config import Settings
from headwater.errors import AlreadyExistsError, AuthError, ConfigError, NotFoundError
from headwater.server.ui_auth import RedactTokens, safe_next
from headwater.store.sql import auth as queries
from headwater.store.sql.store import SqlStore

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse"


def test_a_token_is_shown_once_and_only_its_hash_is_stored(store: SqlStore) -> None:
    accounts.create_user(store, "ci", Role.OPERATOR, None, NOW)
    token, record = accounts.create_token(store, "ci", NOW, description="nightly")
    assert token.startswith(f"hw_{record.token_id}_")
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT token_hash FROM api_tokens").scalar_one()
    secret = token.partition(f"{record.token_id}_")[2]
    assert secret not in stored
    assert token not in stored
    principal = accounts.authenticate_token(store, token, NOW)
    assert (principal.name, principal.role, principal.via) == ("ci", Role.OPERATOR, "token")


def test_expired_revoked_wrong_and_disabled_tokens_fail_alike(store: SqlStore) -> None:
    accounts.create_user(store, "ci", Role.VIEWER, None, NOW)
    accounts.create_user(store, "gone", Role.VIEWER, None, NOW)
    expiring, _ = accounts.create_token(store, "ci", NOW, expires_in=timedelta(hours=12))
    revoked, revoked_record = accounts.create_token(store, "ci", NOW)
    disabled, _ = accounts.create_token(store, "gone", NOW)
    accounts.revoke_token(store, revoked_record.token_id, NOW)
    accounts.set_disabled(store, "gone", True)
    later = NOW + timedelta(hours=12)
    assert accounts.authenticate_token(store, expiring, later - timedelta(seconds=1)).name == "ci"
    wrong_secret = expiring[:-4] + ("AAAA" if not expiring.endswith("AAAA") else "BBBB")
    messages = set()
    for token in (expiring, revoked, disabled, wrong_secret, "hw_nope_x", "garbage", ""):
        with pytest.raises(AuthError) as caught:
            accounts.authenticate_token(store, token, later)
        messages.add(str(caught.value))
    assert messages == {"invalid token"}


def test_revoking_takes_the_id_or_the_whole_token_and_unknown_ids_are_named(
    store: SqlStore,
) -> None:
    accounts.create_user(store, "ci", Role.VIEWER, None, NOW)
    token, record = accounts.create_token(store, "ci", NOW)
    accounts.revoke_token(store, token, NOW)
    accounts.revoke_token(store, record.token_id, NOW)  # again: nothing to do
    assert accounts.list_tokens(store)[0].revoked_at == NOW
    with pytest.raises(NotFoundError, match="no token 'abc'; 'headwater tokens list' shows"):
        accounts.revoke_token(store, "abc", NOW)
    with pytest.raises(NotFoundError, match="no user 'nobody'"):
        accounts.create_token(store, "nobody", NOW)


def test_users_are_created_once_and_managed(store: SqlStore) -> None:
    accounts.create_user(store, "ada", Role.VIEWER, PASSWORD, NOW)
    with pytest.raises(AlreadyExistsError, match="user 'ada' exists already"):
        accounts.create_user(store, "ada", Role.ADMIN, PASSWORD, NOW)
    accounts.set_role(store, "ada", Role.ADMIN)
    assert accounts.authenticate_password(store, "ada", PASSWORD).role is Role.ADMIN
    accounts.set_password(store, "ada", "a new password")
    with pytest.raises(AuthError):
        accounts.authenticate_password(store, "ada", PASSWORD)
    accounts.set_disabled(store, "ada", True)
    with pytest.raises(AuthError):
        accounts.authenticate_password(store, "ada", "a new password")
    with pytest.raises(NotFoundError, match="no user 'bob'; 'headwater users list' shows"):
        accounts.set_role(store, "bob", Role.ADMIN)
    with store.engine.connect() as connection:
        stored = connection.exec_driver_sql("SELECT password_hash FROM users").scalars().all()
    assert all(value.startswith("scrypt$16384$8$1$") for value in stored)


@pytest.mark.parametrize(
    ("name", "password", "message"),
    [
        ("", PASSWORD, "user name '' must be 1 to 100 printable characters"),
        (" ada", PASSWORD, "user name ' ada' must be"),
        ("a\nb", PASSWORD, "user name 'a\\nb' must be"),
        ("ada", "short", "a password must be 8 to 1024 characters, got 5"),
    ],
)
def test_bad_names_and_passwords_are_refused(
    store: SqlStore, name: str, password: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        accounts.create_user(store, name, Role.VIEWER, password, NOW)
    assert message in str(caught.value)
    assert password not in str(caught.value) or password == name


def test_unknown_users_and_token_only_users_cost_as_much_as_a_wrong_password(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a user with a password and one with tokens only
    accounts.create_user(store, "ada", Role.VIEWER, PASSWORD, NOW)
    accounts.create_user(store, "bot", Role.VIEWER, None, NOW)
    calls: list[int] = []
    real_scrypt = hashlib.scrypt

    def counted(password: bytes, **kwargs: Any) -> bytes:
        calls.append(kwargs["n"])
        return real_scrypt(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    # Then each refusal runs scrypt once, at the same cost, with the same answer: neither
    # the time it takes nor the message tells a name that exists from one that does not
    for name in ("ada", "nobody", "bot"):
        calls.clear()
        with pytest.raises(AuthError) as caught:
            accounts.authenticate_password(store, name, "wrong password")
        assert str(caught.value) == "unknown user or wrong password"
        assert calls == [2**14], name


def test_failed_sign_ins_are_limited_per_name_and_client_across_servers(
    store: SqlStore, settings: Settings
) -> None:
    accounts.create_user(store, "ada", Role.VIEWER, PASSWORD, NOW)
    other_server = SqlStore.from_settings(settings)  # another server on the same database
    for attempt in range(accounts.MAX_FAILURES_PER_USER_AND_CLIENT):
        server = store if attempt % 2 else other_server
        with pytest.raises(AuthError, match="wrong password"):
            accounts.sign_in(server, "ada", "guess", client="10.0.0.9", now=NOW)
    other_server.close()
    # the right password is not even checked now, from that client
    with pytest.raises(LoginThrottled, match="try again in 15 minute"):
        accounts.sign_in(store, "ada", PASSWORD, client="10.0.0.9", now=NOW)
    # another client is not locked out by the attacker
    assert accounts.sign_in(store, "ada", PASSWORD, client="10.0.0.7", now=NOW).name == "ada"
    # and the window ends
    later = NOW + accounts.LOGIN_WINDOW
    assert accounts.sign_in(store, "ada", PASSWORD, client="10.0.0.9", now=later).name == "ada"


def test_a_client_guessing_many_names_is_limited(store: SqlStore) -> None:
    accounts.create_user(store, "ada", Role.VIEWER, PASSWORD, NOW)
    # counted by hand: 50 refusals would cost 50 scrypt computations
    key = accounts._failure_key("client", "10.0.0.9")
    with store.engine.begin() as connection:
        for _ in range(accounts.MAX_FAILURES_PER_CLIENT):
            queries.count_attempt(connection, key, NOW, NOW - accounts.LOGIN_WINDOW)
    with pytest.raises(LoginThrottled):
        accounts.sign_in(store, "ada", PASSWORD, client="10.0.0.9", now=NOW)


def test_a_success_clears_the_count_of_its_name_and_client(store: SqlStore) -> None:
    accounts.create_user(store, "ada", Role.VIEWER, PASSWORD, NOW)
    for _ in range(2):
        for _ in range(accounts.MAX_FAILURES_PER_USER_AND_CLIENT - 1):
            with pytest.raises(AuthError):
                accounts.sign_in(store, "ada", "guess", client="c", now=NOW)
        accounts.sign_in(store, "ada", PASSWORD, client="c", now=NOW)


def test_a_public_host_needs_an_enabled_user(store: SqlStore) -> None:
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        accounts.require_users_for_host(store, host)
    with pytest.raises(ConfigError) as caught:
        accounts.require_users_for_host(store, "0.0.0.0")
    assert str(caught.value) == (
        "refusing to serve on '0.0.0.0' without users: anyone who reaches it could use it; "
        "create one first with 'headwater users create NAME --role admin', "
        "or serve on 127.0.0.1"
    )
    accounts.create_user(store, "ada", Role.ADMIN, PASSWORD, NOW)
    accounts.set_disabled(store, "ada", True)
    with pytest.raises(ConfigError):
        accounts.require_users_for_host(store, "example.com")
    accounts.set_disabled(store, "ada", False)
    accounts.require_users_for_host(store, "example.com")


def test_the_dev_token_belongs_to_a_local_admin(store: SqlStore) -> None:
    first = accounts.create_dev_token(store, NOW, expires_in=timedelta(days=1))
    second = accounts.create_dev_token(store, NOW, expires_in=timedelta(days=1))
    assert first != second
    assert accounts.authenticate_token(store, second, NOW).role is Role.ADMIN
    assert [user.name for user in accounts.list_users(store)] == [accounts.DEV_USER]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        (" 2W ", timedelta(weeks=2)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert accounts.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "30", "d", "0d", "-1d", "1.5h", "30 days", "9" * 9 + "d"])
def test_bad_durations_say_what_to_write(text: str) -> None:
    with pytest.raises(ConfigError, match=r"e\.g\. 90m, 12h, 30d or 2w"):
        accounts.parse_duration(text)


def test_token_lifetimes_and_descriptions_are_bounded(store: SqlStore) -> None:
    accounts.create_user(store, "ci", Role.VIEWER, None, NOW)
    with pytest.raises(ConfigError, match="at most 3650 days"):
        accounts.create_token(store, "ci", NOW, expires_in=timedelta(days=4000))
    with pytest.raises(ConfigError, match="at most 500 characters, got 501"):
        accounts.create_token(store, "ci", NOW, description="x" * 501)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/runs/abc?tab=log", "/runs/abc?tab=log"),
        ("/", "/"),
        (None, "/"),
        ("", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example/x", "/"),
        ("/\\evil.example", "/"),
        ("/\t/evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("runs", "/"),
        ("/login?next=/x", "/"),
        ("/" + "a" * 3000, "/"),
    ],
)
def test_next_is_always_a_local_path(value: str | None, expected: str) -> None:
    assert safe_next(value) == expected


def test_login_tokens_never_reach_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/login?token=hw_abc_SECRET&next=/x", "1.1", 303),
        None,
    )
    assert RedactTokens().filter(record)
    assert "SECRET" not in record.getMessage()
    assert "/login?token=[redacted]&next=/x" in record.getMessage()


def test_the_stand_in_hash_costs_what_a_password_hash_does() -> None:
    assert accounts._STAND_IN_HASH.split("$")[:4] == accounts.hash_password(PASSWORD).split("$")[:4]


def test_guesses_sent_at_once_do_not_slip_under_the_limit(
    store: SqlStore, settings: Settings
) -> None:
    # Given ten guesses at once, half through another server on the same database
    accounts.create_user(store, "ada", Role.VIEWER, PASSWORD, NOW)
    other_server = SqlStore.from_settings(settings)
    outcomes: list[str] = []

    def guess(server: SqlStore) -> None:
        try:
            accounts.sign_in(server, "ada", "guess", client="10.0.0.9", now=NOW)
        except LoginThrottled:
            outcomes.append("throttled")
        except AuthError:
            outcomes.append("checked")

    threads = [
        threading.Thread(target=guess, args=(store if i % 2 else other_server,)) for i in range(10)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other_server.close()
    # Then only as many passwords were checked as the limit allows
    assert sorted(outcomes) == ["checked"] * 5 + ["throttled"] * 5
