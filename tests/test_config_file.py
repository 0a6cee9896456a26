"""The TOML config file: pools declared for every scheduler, and its error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater.config_file import ConfigFile, PoolConfig, load_config
from headwater.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "headwater.toml"
    path.write_text(text)
    return path


def test_pools_are_read_in_both_forms(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[pools]\nwarehouse = 4\n\n"
        '[pools.source_db]\nslots = 2\ndescription = "the orders replica"\n',
    )
    assert load_config(path, tmp_path).pools == (
        PoolConfig(name="warehouse", slots=4, description=None),  # keeps the stored one
        PoolConfig(name="source_db", slots=2, description="the orders replica"),
    )


def test_the_file_in_headwater_home_is_read_when_none_is_given(tmp_path: Path) -> None:
    assert load_config(None, tmp_path) == ConfigFile()  # no file: nothing declared
    path = write(tmp_path, "[pools]\nsource = 0\n")
    assert load_config(None, tmp_path) == ConfigFile(
        path=path, pools=(PoolConfig(name="source", slots=0),)
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[pool]\nsource = 1\n", "unknown setting(s) 'pool'; known sections are [pools]"),
        ("pools = 3\n", "[pools] must be a table of 'name = slots' or [pools.NAME] tables"),
        ("[pools]\nsource = -1\n", "pool 'source': slots must be a whole number from 0"),
        ("[pools]\nsource = true\n", "slots must be a whole number from 0 to 1000000"),
        ('[pools]\nsource = "2"\n', "(0 holds the pool's tasks in queued), got '2'"),
        ('[pools]\n"bad name" = 1\n', "invalid pool name 'bad name'"),
        ("[pools.source]\nsize = 2\n", "pool 'source': unknown key(s) 'size'; a [pools.source]"),
        ("[pools.source]\ndescription = 'x'\n", "pool 'source': no slots; a [pools.source]"),
        ("[pools.source]\nslots = 1\ndescription = 3\n", "description must be a string, got 3"),
        ("[pools\n", "is not valid TOML"),
    ],
)
def test_invalid_files_are_refused_naming_the_file_and_the_value(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, tmp_path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_a_config_file_given_but_missing_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"config file '.*nope\.toml' does not exist"):
        load_config(tmp_path / "nope.toml", tmp_path)
