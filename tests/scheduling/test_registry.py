"""PipelineRegistry: a folder's pipelines, re-read when files change; broken files skipped."""

from __future__ import annotations

import os
from pathlib import Path

from headwater.scheduling.registry import PipelineRegistry

GOOD = """\
from headwater import pipeline, task

@task
def step() -> int:
    return {value}

@pipeline(pipeline_id="{pipeline_id}")
def build() -> None:
    step()
"""


def write(path: Path, text: str, *, bump: int = 0) -> None:
    path.write_text(text)
    if bump:  # make the change visible even within the file system's time resolution
        stat = path.stat()
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + bump * 1_000_000_000))


def test_it_loads_every_pipeline_and_reports_broken_files(tmp_path: Path) -> None:
    write(tmp_path / "a.py", GOOD.format(value=1, pipeline_id="a"))
    write(tmp_path / "b.py", GOOD.format(value=2, pipeline_id="b"))
    write(tmp_path / "broken.py", "raise RuntimeError('broken on purpose')\n")
    registry = PipelineRegistry(tmp_path)

    errors = registry.refresh()

    assert sorted(registry.pipelines) == ["a", "b"]
    assert [str(error) for error in errors] == [
        f"{(tmp_path / 'broken.py').resolve()}:1: RuntimeError: broken on purpose"
    ]
    assert registry.refresh() == []  # an unchanged broken file is reported once


def test_a_changed_file_is_read_again_and_a_removed_one_forgotten(tmp_path: Path) -> None:
    write(tmp_path / "a.py", GOOD.format(value=1, pipeline_id="a"))
    write(tmp_path / "b.py", GOOD.format(value=2, pipeline_id="b"))
    registry = PipelineRegistry(tmp_path)
    registry.refresh()
    first = registry.pipelines["a"]

    write(tmp_path / "a.py", GOOD.format(value=1, pipeline_id="renamed"), bump=5)
    (tmp_path / "b.py").unlink()
    registry.refresh()

    assert sorted(registry.pipelines) == ["renamed"]
    assert registry.pipelines["renamed"] is not first


def test_a_file_that_breaks_keeps_its_last_good_definition_for_runs_in_flight(
    tmp_path: Path,
) -> None:
    write(tmp_path / "a.py", GOOD.format(value=1, pipeline_id="a"))
    registry = PipelineRegistry(tmp_path)
    registry.refresh()
    good = registry.pipelines["a"]

    write(tmp_path / "a.py", "def broken(:\n", bump=5)
    errors = registry.refresh()

    assert len(errors) == 1
    assert "a" not in registry.pipelines  # no new runs until it imports again
    assert registry.definition("a") is good  # runs in flight finish with it
    write(tmp_path / "a.py", GOOD.format(value=3, pipeline_id="a"), bump=10)
    assert registry.refresh() == []
    assert "a" in registry.pipelines


def test_a_pipeline_id_defined_twice_keeps_the_first_file(tmp_path: Path) -> None:
    write(tmp_path / "a.py", GOOD.format(value=1, pipeline_id="same"))
    write(tmp_path / "b.py", GOOD.format(value=2, pipeline_id="same"))
    registry = PipelineRegistry(tmp_path)
    registry.refresh()
    assert list(registry.pipelines) == ["same"]
    assert registry.pipelines["same"].source_file == str((tmp_path / "a.py").resolve())


def test_a_missing_folder_has_no_pipelines(tmp_path: Path) -> None:
    registry = PipelineRegistry(tmp_path / "nowhere")
    assert registry.refresh() == []
    assert registry.pipelines == {}
