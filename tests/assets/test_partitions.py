"""Static, dynamic and multi partitions, key names, and definitions stored as JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest

from headwater.assets.partitions import (
    DailyPartitions,
    DynamicPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    MultiPartitions,
    PartitionError,
    PartitionsDefinition,
    StaticPartitions,
    WeeklyPartitions,
    check_partition_name,
)
from headwater.errors import ConfigError, DefinitionError

REGIONS = StaticPartitions(["eu", "us", "asia"])
DAYS = DailyPartitions("2026-01-01")
BY_DAY_AND_REGION = MultiPartitions({"date": DAYS, "region": REGIONS})
CUSTOMERS = DynamicPartitions("customers")
KNOWN = {"customers": ["acme", "globex", "initech"]}


# --- key names ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "it is empty"),
        ("a" * 201, "it is 201 characters long"),
        ("tab\there", "it holds a character that does not print"),
        ("eu/west", "it holds '/'"),
        ("eu\\west", "it holds '\\\\'"),
        ("eu|west", "it holds '|'"),
        (".", "it is '.' or holds '..'"),
        ("..", "it is '.' or holds '..'"),
        ("v1..2", "it is '.' or holds '..'"),
        (" eu", "it starts or ends with a space"),
        ("eu ", "it starts or ends with a space"),
        (3, "it is a int, not text"),
    ],
)
def test_a_partition_name_that_cannot_be_a_file_name_or_value_is_refused(
    key: object, reason: str
) -> None:
    with pytest.raises(DefinitionError) as raised:
        check_partition_name("static partition key", key, "asset 'orders'")
    message = str(raised.value)
    assert message.startswith("asset 'orders': invalid static partition key ")
    assert f": {reason}" in message
    assert len(message) < 300  # a long key is cut
    assert "use printable text of at most 200 characters" in message


def test_a_partition_name_may_be_any_other_printable_text() -> None:
    for key in ("eu", "a" * 200, "été 2026", "customer 42", "v1.2", "k=v;x"):
        assert check_partition_name("static partition key", key, "here") == key


def test_a_partition_name_may_raise_a_partition_error_for_keys_given_at_run_time() -> None:
    with pytest.raises(PartitionError, match="invalid partition key ''"):
        check_partition_name("partition key", "", "here", error=PartitionError)
    assert issubclass(PartitionError, ConfigError)


# --- static -------------------------------------------------------------------------------


def test_static_partitions_keep_their_order() -> None:
    assert REGIONS.keys() == ["eu", "us", "asia"]
    assert REGIONS.key_range("us", "asia") == ["us", "asia"]
    assert REGIONS.parse_range("eu..us") == ["eu", "us"]
    assert REGIONS.check_key("asia") == "asia"
    assert REGIONS.time_window("eu") is None
    assert REGIONS.describe() == "static partitions 'eu', 'us', 'asia'"


def test_an_unknown_static_key_lists_the_known_ones() -> None:
    with pytest.raises(PartitionError) as raised:
        REGIONS.check_key("fr")
    assert str(raised.value) == (
        "partition key 'fr' is not a key of static partitions 'eu', 'us', 'asia': there is "
        "no such partition; expected one of 'eu', 'us', 'asia'"
    )
    with pytest.raises(PartitionError, match="goes backward: 'asia' comes after 'eu'"):
        REGIONS.key_range("asia", "eu")
    many = StaticPartitions([f"k{number}" for number in range(8)])
    assert many.expected() == "one of 'k0', 'k1', 'k2', 'k3', 'k4' and 3 more"


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "static partitions need at least one key, got none"),
        ("eu", "static partitions take a list of keys such as ['eu', 'us'], got 'eu'"),
        (["eu", "us", "eu"], "static partitions: key 'eu' is given more than once"),
        (["eu", "a/b"], "static partitions: invalid static partition key 'a/b': it holds '/'"),
    ],
)
def test_bad_static_keys_are_a_definition_error(keys: object, message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        StaticPartitions(keys)  # type: ignore[arg-type]
    assert message in str(raised.value)


# --- dynamic ------------------------------------------------------------------------------


def test_dynamic_keys_come_from_the_store() -> None:
    assert CUSTOMERS.keys(dynamic=KNOWN) == ["acme", "globex", "initech"]
    assert CUSTOMERS.keys(dynamic={}) == []
    assert CUSTOMERS.keys() == []
    assert CUSTOMERS.key_range("globex", "initech", dynamic=KNOWN) == ["globex", "initech"]
    assert CUSTOMERS.check_key("acme", dynamic=KNOWN) == "acme"
    # without the current keys, only what a key may look like is checked
    assert CUSTOMERS.check_key("hooli") == "hooli"


def test_a_dynamic_key_not_added_is_refused() -> None:
    with pytest.raises(PartitionError) as raised:
        CUSTOMERS.check_key("hooli", dynamic=KNOWN)
    assert str(raised.value) == (
        "partition key 'hooli' is not a key of dynamic partitions 'customers': it has not "
        "been added (ctx.add_partitions adds keys); expected a key added to dynamic "
        "partitions 'customers'"
    )
    with pytest.raises(
        PartitionError, match=re.escape("invalid partition key 'a|b': it holds '|'")
    ):
        CUSTOMERS.check_key("a|b")
    with pytest.raises(PartitionError, match=r"'hooli' .* it has not been added"):
        CUSTOMERS.key_range("acme", "hooli", dynamic=KNOWN)


def test_a_bad_dynamic_name_is_a_definition_error() -> None:
    with pytest.raises(DefinitionError, match="invalid dynamic partitions name ''"):
        DynamicPartitions("")


# --- multi --------------------------------------------------------------------------------


def test_multi_keys_are_every_combination_in_dimension_order() -> None:
    assert BY_DAY_AND_REGION.keys(now=datetime(2026, 1, 3, tzinfo=UTC)) == [
        "2026-01-01|eu",
        "2026-01-01|us",
        "2026-01-01|asia",
        "2026-01-02|eu",
        "2026-01-02|us",
        "2026-01-02|asia",
    ]
    assert BY_DAY_AND_REGION.split("2026-01-02|us") == {"date": "2026-01-02", "region": "us"}
    assert BY_DAY_AND_REGION.join({"region": "us", "date": "2026-01-02"}) == "2026-01-02|us"
    assert BY_DAY_AND_REGION.time_dimension == ("date", DAYS)
    assert MultiPartitions({"a": REGIONS, "b": CUSTOMERS}).time_dimension is None


def test_a_multi_key_is_checked_dimension_by_dimension() -> None:
    assert BY_DAY_AND_REGION.check_key("2026-01-02|us") == "2026-01-02|us"
    with pytest.raises(PartitionError) as raised:
        BY_DAY_AND_REGION.check_key("2026-01-02|fr")
    assert str(raised.value).startswith(
        "partition key '2026-01-02|fr' of multi partitions (date: daily from 2026-01-01 in "
        "UTC; region: static partitions 'eu', 'us', 'asia'), dimension 'region': partition "
        "key 'fr' is not a key of static partitions"
    )
    with pytest.raises(PartitionError, match="it has 1 part\\(s\\) for 2 dimensions"):
        BY_DAY_AND_REGION.check_key("2026-01-02")
    with pytest.raises(
        PartitionError, match="needs a part for each of the dimensions date, region"
    ):
        BY_DAY_AND_REGION.join({"date": "2026-01-02"})


def test_a_multi_range_of_whole_keys_is_each_dimension_from_first_to_last() -> None:
    assert BY_DAY_AND_REGION.key_range("2026-01-01|us", "2026-01-02|asia") == [
        "2026-01-01|us",
        "2026-01-01|asia",
        "2026-01-02|us",
        "2026-01-02|asia",
    ]
    with pytest.raises(PartitionError, match=r"dimension 'region': .* goes backward"):
        BY_DAY_AND_REGION.key_range("2026-01-01|us", "2026-01-02|eu")


def test_a_multi_range_of_time_keys_is_every_combination_in_those_days() -> None:
    assert BY_DAY_AND_REGION.parse_range("2026-01-01..2026-01-02") == [
        "2026-01-01|eu",
        "2026-01-01|us",
        "2026-01-01|asia",
        "2026-01-02|eu",
        "2026-01-02|us",
        "2026-01-02|asia",
    ]
    assert BY_DAY_AND_REGION.parse_range("2026-01-02") == [
        "2026-01-02|eu",
        "2026-01-02|us",
        "2026-01-02|asia",
    ]
    assert BY_DAY_AND_REGION.parse_range("2026-01-02|us") == ["2026-01-02|us"]
    with pytest.raises(PartitionError, match="give both ends as whole keys"):
        BY_DAY_AND_REGION.key_range("2026-01-01", "2026-01-02|us")


def test_a_multi_time_window_is_its_time_dimension_s() -> None:
    assert BY_DAY_AND_REGION.time_window("2026-01-02|us") == (
        datetime(2026, 1, 2, tzinfo=UTC),
        datetime(2026, 1, 3, tzinfo=UTC),
    )
    with pytest.raises(PartitionError, match="dimension 'date': partition key '2026-02-30'"):
        BY_DAY_AND_REGION.time_window("2026-02-30|us")


def test_multi_with_a_dynamic_dimension_takes_the_current_keys() -> None:
    by_customer = MultiPartitions({"customer": CUSTOMERS, "month": MonthlyPartitions("2026-01-01")})
    now = datetime(2026, 3, 1, tzinfo=UTC)
    assert by_customer.keys(now=now, dynamic={"customers": ["acme"]}) == [
        "acme|2026-01-01",
        "acme|2026-02-01",
    ]
    assert by_customer.parse_range("2026-01-01", dynamic=KNOWN) == [
        "acme|2026-01-01",
        "globex|2026-01-01",
        "initech|2026-01-01",
    ]


@pytest.mark.parametrize(
    ("dimensions", "message"),
    [
        ({"date": DAYS}, "multi partitions take two or more named dimensions"),
        (
            {"date": DAYS, "hour": HourlyPartitions("2026-01-01")},
            "multi partitions: dimensions 'date', 'hour' are all time partitions; keep one",
        ),
        (
            {"a": REGIONS, "b": BY_DAY_AND_REGION},
            "multi partitions: dimension 'b' must be time, static or dynamic partitions",
        ),
        ({"a": REGIONS, "b": ["x"]}, "dimension 'b' must be time, static or dynamic partitions"),
        ({"a|b": REGIONS, "c": DAYS}, "invalid dimension name 'a|b': it holds '|'"),
    ],
)
def test_bad_multi_partitions_are_a_definition_error(dimensions: object, message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        MultiPartitions(dimensions)  # type: ignore[arg-type]
    assert message in str(raised.value)


# --- JSON and equality --------------------------------------------------------------------

EVERY_KIND: list[PartitionsDefinition] = [
    DAYS,
    HourlyPartitions("2026-01-01T06:00", timezone="America/New_York", end_offset=1),
    WeeklyPartitions(datetime(2026, 1, 5, 12, tzinfo=UTC), end="2026-06-01"),
    MonthlyPartitions("2026-01-01", timezone="Australia/Lord_Howe"),
    REGIONS,
    CUSTOMERS,
    BY_DAY_AND_REGION,
    MultiPartitions({"customer": CUSTOMERS, "region": REGIONS}),
]


@pytest.mark.parametrize("definition", EVERY_KIND, ids=repr)
def test_every_kind_round_trips_through_json(definition: PartitionsDefinition) -> None:
    stored = json.loads(json.dumps(definition.to_json()))
    read = PartitionsDefinition.from_json(stored)
    assert read == definition
    assert hash(read) == hash(definition)
    assert read.to_json() == definition.to_json()
    assert read.describe() == definition.describe()


def test_definitions_are_equal_by_value() -> None:
    assert StaticPartitions(["eu", "us"]) == StaticPartitions(("eu", "us"))
    assert StaticPartitions(["eu", "us"]) != StaticPartitions(["us", "eu"])
    assert DynamicPartitions("customers") == CUSTOMERS
    assert len({DAYS, DailyPartitions("2026-01-01"), REGIONS}) == 2
    assert MultiPartitions({"date": DAYS, "region": REGIONS}) == BY_DAY_AND_REGION
    assert MultiPartitions({"region": REGIONS, "date": DAYS}) != BY_DAY_AND_REGION


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"kind": "yearly"}, "has kind 'yearly'; expected one of"),
        ({"unit": "daily"}, "has kind None"),
        ({"kind": "time", "unit": "daily"}, "is not one to_json wrote (KeyError: 'start')"),
        ({"kind": "multi", "dimensions": 3}, "is not one to_json wrote (TypeError"),
        ({"kind": "static", "keys": []}, "static partitions need at least one key"),
    ],
)
def test_a_stored_definition_that_cannot_be_read_says_why(data: object, message: str) -> None:
    with pytest.raises(DefinitionError) as raised:
        PartitionsDefinition.from_json(data)  # type: ignore[arg-type]
    assert message in str(raised.value)
