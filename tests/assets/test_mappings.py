"""Partition mappings: identity across definitions that differ, windows, all, and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from headwater.assets.mappings import (
    PartitionMapping,
    all_partitions,
    identity,
    last,
)
from headwater.assets.partitions import (
    DailyPartitions,
    DynamicPartitions,
    HourlyPartitions,
    MultiPartitions,
    PartitionError,
    PartitionsDefinition,
    StaticPartitions,
    WeeklyPartitions,
)
from headwater.errors import DefinitionError

DAYS = DailyPartitions("2026-01-01")
HOURS = HourlyPartitions("2026-01-01")
WEEKS = WeeklyPartitions("2026-01-05")
REGIONS = StaticPartitions(["eu", "us"])
BY_DAY_AND_REGION = MultiPartitions({"date": DAYS, "region": REGIONS})
CUSTOMERS = DynamicPartitions("customers")
NOW = datetime(2026, 1, 4, tzinfo=UTC)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


# --- identity -----------------------------------------------------------------------------


def test_identity_maps_a_key_to_itself() -> None:
    for definition, key in [
        (DAYS, "2026-01-02"),
        (REGIONS, "us"),
        (BY_DAY_AND_REGION, "2026-01-02|eu"),
    ]:
        assert identity().upstream_keys(key, definition, definition) == [key]
        assert identity().downstream_keys(key, definition, definition) == [key]
    assert identity().upstream_keys("acme", CUSTOMERS, DynamicPartitions("customers")) == ["acme"]


def test_identity_maps_time_partitions_of_other_units_to_the_overlapping_windows() -> None:
    hours = identity().upstream_keys("2026-01-02", DAYS, HOURS)
    assert hours is not None
    assert (len(hours), hours[0], hours[-1]) == (24, "2026-01-02-00:00", "2026-01-02-23:00")
    assert identity().downstream_keys("2026-01-02-05:00", HOURS, DAYS) == ["2026-01-02"]
    assert identity().upstream_keys("2026-01-07", DAYS, WEEKS) == ["2026-01-05"]
    week = identity().upstream_keys("2026-01-05", WEEKS, DAYS)
    assert week == [f"2026-01-{day:02d}" for day in range(5, 12)]


def test_identity_follows_the_wall_clock_of_each_zone() -> None:
    paris_days = DailyPartitions("2026-01-01", timezone="Europe/Paris")
    paris_hours = HourlyPartitions("2026-01-01", timezone="Europe/Paris")
    short_day = identity().upstream_keys("2026-03-29", paris_days, paris_hours)
    assert short_day is not None
    assert len(short_day) == 23
    # a day in Paris overlaps two days in UTC: 23:00 the day before to 23:00
    assert identity().upstream_keys("2026-01-02", paris_days, DAYS) == ["2026-01-01", "2026-01-02"]


def test_identity_leaves_out_upstream_keys_before_its_start() -> None:
    later = DailyPartitions("2026-01-02")
    assert identity().upstream_keys("2026-01-01", DAYS, later) == []


def test_identity_between_multi_and_time_goes_through_the_time_dimension() -> None:
    assert identity().upstream_keys("2026-01-02|us", BY_DAY_AND_REGION, DAYS) == ["2026-01-02"]
    assert identity().downstream_keys("2026-01-02", DAYS, BY_DAY_AND_REGION) == [
        "2026-01-02|eu",
        "2026-01-02|us",
    ]
    assert identity().upstream_keys("2026-01-02", DAYS, BY_DAY_AND_REGION) == [
        "2026-01-02|eu",
        "2026-01-02|us",
    ]
    assert identity().downstream_keys("2026-01-02|eu", BY_DAY_AND_REGION, DAYS) == ["2026-01-02"]
    by_hour = identity().upstream_keys("2026-01-02|us", BY_DAY_AND_REGION, HOURS)
    assert by_hour is not None
    assert len(by_hour) == 24


def test_identity_between_multi_and_a_static_dimension_takes_every_day() -> None:
    assert identity().upstream_keys("2026-01-02|us", BY_DAY_AND_REGION, REGIONS) == ["us"]
    assert identity().downstream_keys("us", REGIONS, BY_DAY_AND_REGION, now=NOW) == [
        "2026-01-01|us",
        "2026-01-02|us",
        "2026-01-03|us",
    ]


def test_identity_between_multis_maps_dimension_by_dimension() -> None:
    hourly = MultiPartitions({"hour": HOURS, "region": StaticPartitions(["us", "eu"])})
    upstream = identity().upstream_keys("2026-01-02|eu", BY_DAY_AND_REGION, hourly)
    assert upstream is not None
    assert (len(upstream), upstream[0]) == (24, "2026-01-02-00:00|eu")


def test_identity_maps_static_partitions_with_the_same_keys_in_another_order() -> None:
    assert identity().upstream_keys("us", REGIONS, StaticPartitions(["us", "eu"])) == ["us"]


def test_identity_with_an_unpartitioned_side() -> None:
    # upstream not partitioned: None; downstream not partitioned: every upstream key
    assert identity().upstream_keys("2026-01-02", DAYS, None) is None
    assert identity().upstream_keys(None, None, DAYS, now=NOW) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    ]
    assert identity().downstream_keys("2026-01-02", DAYS, None) is None
    assert identity().downstream_keys(None, None, REGIONS) == ["eu", "us"]
    assert identity().upstream_keys(None, None, None) is None
    identity().check(None, DAYS)
    identity().check(DAYS, None)


@pytest.mark.parametrize(
    ("downstream", "upstream", "reason"),
    [
        (
            DAYS,
            REGIONS,
            "daily from 2026-01-01 in UTC is time partitions and static partitions 'eu', 'us' "
            "is not",
        ),
        (REGIONS, StaticPartitions(["eu", "fr"]), "have different keys"),
        (REGIONS, CUSTOMERS, "have different keys"),
        (CUSTOMERS, DynamicPartitions("suppliers"), "have different keys"),
        (
            MultiPartitions({"a": REGIONS, "b": CUSTOMERS}),
            DAYS,
            "daily from 2026-01-01 in UTC matches none of the dimensions",
        ),
        (
            MultiPartitions({"a": REGIONS, "b": StaticPartitions(["eu", "us"])}),
            REGIONS,
            "matches more than one of the dimensions",
        ),
        (
            BY_DAY_AND_REGION,
            MultiPartitions({"date": DAYS, "customer": CUSTOMERS}),
            "their dimensions differ",
        ),
    ],
)
def test_identity_refuses_definitions_it_cannot_map_and_says_to_give_a_mapping(
    downstream: PartitionsDefinition, upstream: PartitionsDefinition, reason: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        identity().check(downstream, upstream)
    message = str(raised.value)
    assert message.startswith(
        f"partition mapping identity() cannot map {downstream.describe()} (downstream) to "
        f"{upstream.describe()} (upstream): "
    )
    assert reason in message
    assert message.endswith(
        "give the dependency a partition mapping, such as all_partitions() or last(n)"
    )
    with pytest.raises(DefinitionError):
        identity().upstream_keys(
            downstream.keys(now=NOW, dynamic={"customers": ["a"]})[0], downstream, upstream
        )


def test_a_bad_key_is_a_partition_error() -> None:
    with pytest.raises(PartitionError, match="partition key '2026-02-30'"):
        identity().upstream_keys("2026-02-30", DAYS, HOURS)


# --- last(n) ------------------------------------------------------------------------------


def test_last_7_is_the_day_and_the_six_before() -> None:
    assert last(7).upstream_keys("2026-01-10", DAYS, DAYS) == [
        f"2026-01-{day:02d}" for day in range(4, 11)
    ]


def test_last_7_leaves_out_the_days_before_the_upstream_start() -> None:
    assert last(7).upstream_keys("2026-01-01", DAYS, DAYS) == ["2026-01-01"]
    assert last(7).upstream_keys("2026-01-03", DAYS, DAYS) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    ]
    bounded = DailyPartitions("2026-01-01", end="2026-01-05")
    assert last(3).upstream_keys("2026-01-06", DAYS, bounded) == ["2026-01-04"]


def test_last_7_downstream_keys_are_the_days_whose_window_holds_the_upstream_day() -> None:
    assert last(7).downstream_keys("2026-01-03", DAYS, DAYS) == [
        f"2026-01-{day:02d}" for day in range(3, 10)
    ]


def test_last_n_of_another_unit_ends_with_the_downstream_window() -> None:
    # a week reads the last 7 days: the days of that week
    assert last(7).upstream_keys("2026-01-12", WEEKS, DAYS) == [
        f"2026-01-{day:02d}" for day in range(12, 19)
    ]
    assert last(2).upstream_keys("2026-01-02", DAYS, HOURS) == [
        "2026-01-02-22:00",
        "2026-01-02-23:00",
    ]


def test_last_n_through_multi_keeps_the_other_dimensions() -> None:
    assert last(2).upstream_keys("2026-01-03|us", BY_DAY_AND_REGION, BY_DAY_AND_REGION) == [
        "2026-01-02|us",
        "2026-01-03|us",
    ]
    assert last(2).upstream_keys("2026-01-03", DAYS, BY_DAY_AND_REGION) == [
        "2026-01-02|eu",
        "2026-01-02|us",
        "2026-01-03|eu",
        "2026-01-03|us",
    ]


@pytest.mark.parametrize(
    ("mapping", "downstream", "upstream"),
    [
        (identity(), DAYS, HOURS),
        (identity(), HOURS, DAYS),
        (identity(), WEEKS, DAYS),
        (identity(), DailyPartitions("2026-01-01", timezone="Europe/Paris"), DAYS),
        (identity(), BY_DAY_AND_REGION, HOURS),
        (last(7), DAYS, DAYS),
        (last(3), WEEKS, DAYS),
        (last(5), DAYS, HOURS),
        (last(30), HOURS, HourlyPartitions("2026-01-01", timezone="America/New_York")),
        (last(2), BY_DAY_AND_REGION, BY_DAY_AND_REGION),
    ],
    ids=str,
)
def test_both_directions_agree(
    mapping: PartitionMapping, downstream: PartitionsDefinition, upstream: PartitionsDefinition
) -> None:
    now = utc(2026, 1, 20)
    for down_key in _some(downstream.keys(now=now)):
        for up_key in mapping.upstream_keys(down_key, downstream, upstream) or []:
            assert down_key in (mapping.downstream_keys(up_key, upstream, downstream) or [])
    for up_key in _some(upstream.keys(now=now)):
        for down_key in mapping.downstream_keys(up_key, upstream, downstream) or []:
            assert up_key in (mapping.upstream_keys(down_key, downstream, upstream) or [])


def _some(keys: list[str]) -> list[str]:
    """About a dozen keys, spread out, with the first and the last."""
    return [*keys[: -1 : max(1, len(keys) // 12)], keys[-1]]


@pytest.mark.parametrize(
    ("downstream", "upstream", "message"),
    [
        (DAYS, None, "needs time partitions on both sides, and the upstream asset is not"),
        (None, DAYS, "the downstream asset is not partitioned"),
        (REGIONS, REGIONS, "one of them has no time partitions to take a window of"),
        (DAYS, REGIONS, "cannot map daily from 2026-01-01 in UTC (downstream) to static"),
    ],
)
def test_last_n_needs_time_partitions_on_both_sides(
    downstream: PartitionsDefinition | None, upstream: PartitionsDefinition | None, message: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        last(7).check(downstream, upstream)
    assert message in str(raised.value)
    assert "last(n) maps time partitions to time partitions; give another mapping" in str(
        raised.value
    )


@pytest.mark.parametrize("n", [0, -1, True, 1.5, "7"])
def test_last_takes_a_whole_number_of_1_or_more(n: object) -> None:
    with pytest.raises(
        DefinitionError, match=f"last\\(n\\) takes a whole number of 1 or more, got {n!r}"
    ):
        last(n)  # type: ignore[arg-type]


# --- all_partitions -----------------------------------------------------------------------


def test_all_partitions_maps_any_key_to_every_key() -> None:
    mapping = all_partitions()
    mapping.check(REGIONS, DAYS)
    assert mapping.upstream_keys("eu", REGIONS, DAYS, now=NOW) == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    ]
    assert mapping.downstream_keys("2026-01-02", DAYS, REGIONS) == ["eu", "us"]
    assert mapping.upstream_keys(None, None, CUSTOMERS, dynamic={"customers": ["a"]}) == ["a"]
    assert mapping.upstream_keys("eu", REGIONS, None) is None
    assert mapping.downstream_keys("eu", REGIONS, None) is None


# --- JSON ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mapping", [identity(), last(7), all_partitions()], ids=repr)
def test_mappings_round_trip_through_json(mapping: PartitionMapping) -> None:
    read = PartitionMapping.from_json(json.loads(json.dumps(mapping.to_json())))
    assert read == mapping
    assert hash(read) == hash(mapping)
    assert read.describe() == mapping.describe()


def test_mappings_are_equal_by_value() -> None:
    assert last(7) == last(7)
    assert last(7) != last(6)
    assert identity() != all_partitions()


@pytest.mark.parametrize(
    "data", [{"kind": "every"}, {"kind": "last"}, {"kind": "last", "n": 0}, {}]
)
def test_a_stored_mapping_that_cannot_be_read_is_a_definition_error(data: object) -> None:
    with pytest.raises(DefinitionError):
        PartitionMapping.from_json(data)  # type: ignore[arg-type]
