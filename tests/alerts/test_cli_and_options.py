"""``headwater alerts`` and the alert options of @pipeline and headwater.toml."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from headwater import pipeline, task
from headwater.alerts.config import parse_alerts
from headwater.errors import ConfigError, DefinitionError
from tests.alerts.receivers import HttpReceiver
from tests.cli.conftest import Headwater, headwater

__all__ = ["headwater"]  # the fixture


@task
def step() -> None:
    pass


def write_config(tmp_path: Path, text: str) -> None:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True, mode=0o700)
    (home / "headwater.toml").write_text(text)


def test_alerts_test_sends_to_the_channel_and_list_shows_deliveries(
    tmp_path: Path, headwater: Headwater, receiver: HttpReceiver
) -> None:
    write_config(
        tmp_path,
        '[alerts.channels.team]\ntype = "slack"\nwebhook_url = "env:SLACK_URL"\n',
    )
    env = {"SLACK_URL": receiver.url + "/services/T/B/SECRETTOKEN"}
    result = headwater("alerts", "test", "team", env=env)
    assert (result.code, result.stdout.strip()) == (
        0,
        "test message delivered to slack channel team",
    )
    assert "test message to channel team" in receiver.received[0].json()["text"]
    # unknown channel, unset secret, receiver down: one-line errors, no secret
    unknown = headwater("alerts", "test", "nope", env=env)
    assert unknown.code == 2
    assert unknown.stderr == (
        "headwater: error: no alert channel 'nope'; declared channels: team (declare one "
        "under [alerts.channels.NAME] in headwater.toml)\n"
    )
    unset = headwater("alerts", "test", "team")
    assert unset.code == 2
    assert "key 'webhook_url'" in unset.stderr
    assert "'SLACK_URL', which is not set" in unset.stderr
    receiver.statuses = [500]
    down = headwater("alerts", "test", "team", env=env)
    assert down.code == 1
    assert down.stderr == (
        "headwater: error: slack channel 'team': the receiver answered HTTP 500: server error\n"
    )
    listed = headwater("alerts", "list", "--json")
    assert (listed.code, listed.json()) == (0, [])
    assert "SECRETTOKEN" not in unknown.stderr + unset.stderr + down.stderr + listed.stdout


def test_pipeline_alert_options_are_validated_and_exposed() -> None:
    @pipeline(schedule="@daily", alerts=["oncall"], deadline=timedelta(hours=3))
    def daily() -> None:
        step()

    assert (daily.alerts, daily.deadline, daily.freshness) == (
        ("oncall",),
        timedelta(hours=3),
        None,
    )
    with pytest.raises(DefinitionError, match="deadline must be a positive timedelta"):
        pipeline(pipeline_id="p", schedule="@daily", deadline=3)(lambda: step())
    with pytest.raises(DefinitionError, match="alerts must be a list of channel names"):
        pipeline(pipeline_id="p", alerts="oncall")(lambda: step())
    with pytest.raises(DefinitionError, match="deadline needs a time schedule"):
        pipeline(pipeline_id="p", deadline=timedelta(hours=1))(lambda: step())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"channels": {"x": {"type": "sms"}}},
            "type must be one of slack, email, pagerduty, webhook",
        ),
        ({"channels": {"x": {"type": "slack"}}}, "missing key(s) 'webhook_url'"),
        (
            {"channels": {"x": {"type": "webhook", "url": "u", "token": 1}}},
            "unknown key(s) 'token'",
        ),
        ({"rules": [{"channels": ["nope"]}]}, "unknown channel(s) 'nope'"),
        (
            {
                "channels": {"x": {"type": "slack", "webhook_url": "u"}},
                "rules": [{"events": ["boom"], "channels": ["x"]}],
            },
            "unknown event(s) 'boom'",
        ),
        ({"scheduler_down_after": "soon"}, "scheduler_down_after must be a duration"),
        ({"colour": 1}, "unknown setting(s) 'colour'"),
    ],
)
def test_bad_alert_settings_are_one_line_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_alerts(data, Path("headwater.toml"))
    assert message in str(error.value)
    assert str(error.value).startswith("headwater.toml")


def test_durations_accept_units_and_seconds() -> None:
    config = parse_alerts(
        {"scheduler_down_after": "90s", "max_age": "2d", "send_delay": 5}, Path("h.toml")
    )
    assert config.scheduler_down_after == timedelta(seconds=90)
    assert config.max_age == timedelta(days=2)
    assert config.send_delay == timedelta(seconds=5)
