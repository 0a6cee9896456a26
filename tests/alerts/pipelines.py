"""Tiny pipelines for the alert tests."""

from __future__ import annotations

from datetime import timedelta

from headwater import pipeline, task

outcome = {"fail": True}


@task(retries=3, retry_delay=timedelta(seconds=5))
def extract() -> None:
    if outcome["fail"]:
        raise RuntimeError("upstream said 503\nSourceUnavailable: the orders API answered 503")


@task
def load(rows: None) -> None:
    pass


@pipeline(schedule="@daily", start="2026-01-01", alerts=["oncall"])
def orders() -> None:
    load(extract())
