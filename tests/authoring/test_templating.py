"""Templates: shell commands get each value quoted; env values, cwd and globs do not."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import pytest

from headwater import DefinitionError, file_sensor, pipeline
from headwater.authoring.context import Context
from headwater.authoring.templating import render, render_shell
from headwater.testing import FakeClock, run_pipeline_test

DAY = datetime(2026, 1, 5, tzinfo=UTC)


def context(**params: Any) -> Context:
    return Context(
        run_id="manual__20260105T000000__abcdef",
        pipeline_id="p",
        task_id="t",
        map_index=-1,
        try_number=1,
        logical_date=DAY,
        data_interval_start=DAY,
        data_interval_end=DAY,
        params=params,
        log=logging.getLogger("test"),
        upstream_states={},
    )


@pytest.mark.parametrize(
    ("template", "params", "expected"),
    [
        ("echo {{ ds }} {{ run_id }}", {}, "echo 2026-01-05 manual__20260105T000000__abcdef"),
        ("echo {{ params.x }}", {"x": "a b"}, "echo 'a b'"),
        ("echo {{ params.x }}", {"x": ""}, "echo ''"),
        ("echo {{ params.x }}", {"x": "it's"}, "echo 'it'\"'\"'s'"),
        ("echo {{ params.n * 2 }}", {"n": 21}, "echo 42"),
        ('echo {{ "a b" }}', {}, "echo 'a b'"),  # a constant Jinja folds when compiling
        ("ls {% for p in params.ps %}{{ p }} {% endfor %}", {"ps": ["a", "b c"]}, "ls a 'b c' "),
        (
            "{% set f %}{{ params.x }}.csv{% endset %}cat {{ f }}",
            {"x": "a b"},
            "cat 'a b.csv'",
        ),
        ("echo {{ params.x | unquoted }}", {"x": "$HOME *"}, "echo $HOME *"),
        ("echo plain text, no template", {}, "echo plain text, no template"),
        ("echo $(( 1 + {{ params.n }} ))", {"n": 2}, "echo $(( 1 + 2 ))"),
    ],
)
def test_render_shell_quotes_each_value(template: str, params: Any, expected: str) -> None:
    assert render_shell(template, context(**params)) == expected


def test_an_unquoted_value_is_part_of_the_command_the_next_values_are_checked_in() -> None:
    # the unquoted value opens a quote: the value after it would be inside it
    with pytest.raises(DefinitionError, match="stands inside single quotes"):
        render_shell("echo {{ params.x | unquoted }}{{ params.y }}'", context(x="'", y="z"))


def test_a_placeholder_looking_value_is_only_text() -> None:
    value = "\x000123456789abcdef:0\x00"
    assert render_shell("echo {{ params.x }}", context(x=value)) == f"echo '{value}'"


def test_an_unknown_variable_is_an_error_in_both_renderers() -> None:
    for renderer in (render, render_shell):
        with pytest.raises(jinja2.UndefinedError, match="missing"):
            renderer("echo {{ params.missing }}", context())


def test_render_leaves_values_as_they_are() -> None:
    rendered = render("{{ params.x }}/{{ params.x | unquoted }}", context(x="a b; c"))
    assert rendered == "a b; c/a b; c"


def test_a_file_sensors_glob_is_not_quoted(tmp_path: Path) -> None:
    landing = tmp_path / "landing zone" / "eu west"
    landing.mkdir(parents=True)
    (landing / "orders.csv").write_text("x")

    @pipeline(params={"region": "eu west"})
    def landed() -> None:
        file_sensor("arrived", str(tmp_path / "landing zone" / "{{ params.region }}" / "*.csv"))

    run = run_pipeline_test(landed, clock=FakeClock(), home=tmp_path / "home")

    assert run.result("arrived") == [str(landing / "orders.csv")]
