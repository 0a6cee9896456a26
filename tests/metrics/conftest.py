"""Metrics fixtures: a Runtime on a FakeClock, and reading the text format back as a
scraper would."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from headwater.config import Settings
from headwater.runtime import Runtime
from headwater.testing import FakeClock

# The only label names any headwater metric may carry: each has a bounded set of values.
BOUNDED_LABELS = frozenset(
    {"pipeline", "task", "pool", "state", "channel", "outcome", "asset", "le"}
)


def parse(text: str) -> dict[str, list[Sample]]:
    """The samples of each family of headwater's, by family name."""
    return {
        family.name: family.samples
        for family in text_string_to_metric_families(text)
        if family.name.startswith("headwater_")
    }


def value(families: dict[str, list[Sample]], sample_name: str, **labels: str) -> float | None:
    """The value of the sample named ``sample_name`` with exactly ``labels``, or None."""
    for samples in families.values():
        for sample in samples:
            if sample.name == sample_name and sample.labels == labels:
                return sample.value
    return None


def label_sets(families: dict[str, list[Sample]]) -> list[dict[str, str]]:
    return [sample.labels for samples in families.values() for sample in samples]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock("2026-01-05T06:00:00+00:00")


@pytest.fixture
def runtime(migrated_home: Path, clock: FakeClock) -> Iterator[Runtime]:
    """A Runtime whose store, logs and results live in tmp_path."""
    runtime = Runtime(Settings.for_home(migrated_home), clock=clock)
    yield runtime
    runtime.close()
