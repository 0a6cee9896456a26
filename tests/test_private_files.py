"""Private files: folders 0700 and files 0600 whatever the umask, which is left alone."""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.private_files import (
    create_once,
    create_private_file,
    make_private_dir,
    write_private_file,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(params=[0o022, 0o000, 0o277], ids=["umask-022", "umask-000", "umask-277"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test under a umask that widens nothing (022), everything (000) or narrows."""
    previous = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(previous)


def test_folders_are_0700_and_files_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    folder = tmp_path / "a" / "b"
    make_private_dir(folder)
    created = create_private_file(folder / "empty")
    write_private_file(folder / "written", b"data")
    once = create_once(folder / "once", b"first")

    assert (mode(tmp_path / "a"), mode(folder)) == (0o700, 0o700)
    assert created
    assert mode(folder / "empty") == 0o600
    assert mode(folder / "written") == 0o600
    assert (mode(folder / "once"), once) == (0o600, b"first")
    assert os.umask(umask) == umask  # the process umask was not changed
    assert sorted(p.name for p in folder.iterdir()) == ["empty", "once", "written"]


def test_existing_folders_and_files_are_left_as_they_are(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    (shared / "db").write_bytes(b"rows")

    make_private_dir(shared)
    assert not create_private_file(shared / "db")

    assert mode(shared) == 0o750
    assert (shared / "db").read_bytes() == b"rows"


def test_write_private_file_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "result"
    write_private_file(path, b"first, longer")
    write_private_file(path, b"second")
    assert path.read_bytes() == b"second"


def test_create_once_keeps_the_first_content(tmp_path: Path) -> None:
    path = tmp_path / "key"
    assert create_once(path, b"first") == b"first"
    assert create_once(path, b"second") == b"first"
    assert path.read_bytes() == b"first"


def test_creators_racing_agree_on_one_content(tmp_path: Path) -> None:
    path = tmp_path / "key"
    start = threading.Barrier(16)
    seen: list[bytes] = []

    def create(number: int) -> None:
        start.wait()
        seen.append(create_once(path, f"content {number}".encode()))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert len(seen) == 16
    assert len(set(seen)) == 1
    assert path.read_bytes() == seen[0]
    assert [p.name for p in tmp_path.iterdir()] == ["key"]  # no temporary file left
