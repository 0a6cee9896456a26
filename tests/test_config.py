"""Settings from the environment, and the secret key that signs result references."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from headwater import ConfigError
from headwater.config import Settings, key_from_file

GOOD_KEY = "0123456789abcdef" * 4


def test_the_secret_key_comes_from_the_environment_and_is_never_shown(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HEADWATER_HOME": str(tmp_path), "HEADWATER_SECRET_KEY": GOOD_KEY}
    )

    assert settings.secret_key == GOOD_KEY
    assert GOOD_KEY not in repr(settings)
    assert settings.secret_key_file == tmp_path / "secret_key"


def test_without_the_variable_the_key_file_is_used(tmp_path: Path) -> None:
    assert Settings.from_env({"HEADWATER_HOME": str(tmp_path)}).secret_key is None


@pytest.mark.parametrize("key", ["short", "x" * 31, " " + "x" * 32, "x" * 32 + "\n"])
def test_a_weak_secret_key_is_refused_without_showing_it(key: str) -> None:
    with pytest.raises(ConfigError) as refused:
        Settings.from_env({"HEADWATER_SECRET_KEY": key})
    assert str(refused.value) == (
        "HEADWATER_SECRET_KEY must be at least 32 characters without surrounding spaces, "
        f"got {len(key)} characters; make one with: "
        "python -c 'import secrets; print(secrets.token_hex(32))'"
    )


def test_the_key_file_is_made_on_first_use_private_and_then_kept(tmp_path: Path) -> None:
    path = tmp_path / "home" / "secret_key"

    key = key_from_file(path)

    assert len(key) == 64
    assert path.read_bytes() == key + b"\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert key_from_file(path) == key


def test_a_key_file_copied_into_the_variable_gives_the_same_key(tmp_path: Path) -> None:
    key = key_from_file(tmp_path / "secret_key")
    copied = (tmp_path / "secret_key").read_text().strip()
    assert Settings.for_home(tmp_path, secret_key=copied).secret_key == key.decode()


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text("cut short\n")

    with pytest.raises(ConfigError) as refused:
        key_from_file(path)

    assert str(refused.value) == (
        f"the secret key file {path} holds no valid key (9 characters, at least 32 without "
        "spaces needed); restore it, or delete it to have a new one made (results stored "
        "with the old key can then no longer be read)"
    )


def test_a_key_file_that_cannot_be_made_says_how_to_fix_it(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")

    with pytest.raises(ConfigError) as refused:
        key_from_file(blocked / "secret_key")

    message = str(refused.value)
    assert message.startswith(f"cannot create or read the secret key file {blocked}/secret_key: ")
    assert message.endswith("; fix its folder's permissions, or set HEADWATER_SECRET_KEY")
