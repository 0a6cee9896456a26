"""Run params: the declared params are the schema; values take their default's type."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from headwater import ConfigError
from headwater.authoring.params import convert_params

DECLARED: dict[str, Any] = {
    "bad": False,
    "days": 7,
    "ratio": 0.5,
    "name": "all",
    "regions": ["eu"],
    "options": {"mode": "fast"},
    "anything": None,
    "since": date(2026, 1, 1),
}


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [
        ("bad", "true", True),
        ("bad", "False", False),
        ("bad", "1", True),
        ("bad", "no", False),
        ("days", "30", 30),
        ("days", " -2 ", -2),
        ("ratio", "1", 1.0),
        ("ratio", "2.5e-1", 0.25),
        ("name", "123", "123"),  # a str param keeps its text, even when it looks like JSON
        ("name", "x; id > pwned", "x; id > pwned"),
        ("regions", '["eu", "us"]', ["eu", "us"]),
        ("options", '{"mode": "slow"}', {"mode": "slow"}),
        ("anything", "[1, 2]", [1, 2]),
        ("anything", "plain text", "plain text"),
        ("anything", "NaN", "NaN"),  # not JSON (NaN is refused): kept as text
        ("since", "2026-02-03", date(2026, 2, 3)),
    ],
)
def test_text_takes_the_type_of_the_default(name: str, text: str, value: Any) -> None:
    converted = convert_params("typed", DECLARED, {name: text})
    assert converted == {name: value}
    assert type(converted[name]) is type(value)


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bad",
            "maybe",
            "param 'bad' of pipeline 'typed' must be true or false (its default "
            "is False), got 'maybe'",
        ),
        (
            "days",
            "7.5",
            "param 'days' of pipeline 'typed' must be a whole number (its default is 7), got '7.5'",
        ),
        (
            "ratio",
            "lots",
            "param 'ratio' of pipeline 'typed' must be a number (its default is 0.5), got 'lots'",
        ),
        ("ratio", "nan", "param 'ratio' of pipeline 'typed' must be a finite number, got nan"),
        ("ratio", "inf", "param 'ratio' of pipeline 'typed' must be a finite number, got inf"),
        (
            "ratio",
            "-Infinity",
            "param 'ratio' of pipeline 'typed' must be a finite number, got -inf",
        ),
        (
            "regions",
            '{"a": 1}',
            "param 'regions' of pipeline 'typed' must be a list like its "
            "default ['eu'], got {'a': 1}",
        ),
        (
            "since",
            "yesterday",
            "param 'since' of pipeline 'typed' must be an ISO date such as "
            "2026-01-01, got 'yesterday'",
        ),
    ],
)
def test_a_value_that_does_not_fit_is_refused(name: str, text: str, message: str | None) -> None:
    with pytest.raises(ConfigError) as caught:
        convert_params("typed", DECLARED, {name: text})
    if message is not None:
        assert str(caught.value) == message


def test_nan_inside_a_json_value_is_refused() -> None:
    with pytest.raises(ConfigError, match="must be a JSON list"):
        convert_params("typed", DECLARED, {"regions": "[1, NaN]"})
    with pytest.raises(ConfigError, match="must be a finite number"):
        convert_params("typed", DECLARED, {"options": {"x": [float("inf")]}})


def test_an_undeclared_param_is_refused_naming_the_declared_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        convert_params("typed", DECLARED, {"bda": "true"})
    assert str(caught.value) == (
        "pipeline 'typed' has no param 'bda'; its params are: anything, bad, days, name, "
        "options, ratio, regions, since"
    )


def test_a_pipeline_without_params_takes_none() -> None:
    with pytest.raises(ConfigError) as caught:
        convert_params("plain", {}, {"x": "1"})
    assert str(caught.value) == (
        "pipeline 'plain' declares no params, so it takes none (got 'x'); declare them with "
        "@pipeline(params={...})"
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("bad", 1), ("days", True), ("days", 1.5), ("name", 3), ("regions", "eu")],
)
def test_python_values_must_have_the_type_of_the_default(name: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"param '{name}' of pipeline 'typed' must be a"):
        convert_params("typed", DECLARED, {name: value})


def test_python_values_of_the_right_type_pass() -> None:
    given = {"bad": True, "days": 3, "ratio": 2, "regions": ("us",), "anything": {"k": 1}}
    assert convert_params("typed", DECLARED, given) == given
