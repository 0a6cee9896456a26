"""SqlTableIOManager on real DuckDB, PostgreSQL and SQLite: idempotent partition writes in
one transaction, hostile names and keys, round trips, fingerprints, relocation, concurrency.

PostgreSQL tests run when HEADWATER_TEST_DATABASE_URL is set; each gets its own schema.
"""

from __future__ import annotations

import datetime as dt
import decimal
import os
import pickle
import secrets
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from headwater.assets.io import (
    InputContext,
    IOManagerError,
    OutputContext,
    SqlTableIOManager,
    sql_engines,
    sql_rows,
)
from headwater.assets.io.sql_copies import relocated_schema
from headwater.errors import DefinitionError
from tests.waiting import wait_until

POSTGRES_ENV = "HEADWATER_TEST_DATABASE_URL"
KEY = ("sales", "orders")
TABLE = "sales__orders"


@dataclass
class Database:
    """A database to store assets in, and a way to look at it behind the IO manager."""

    backend: str
    url: str
    schema: str | None = None

    def manager(self, **options: Any) -> SqlTableIOManager:
        return SqlTableIOManager(self.url, schema=self.schema, **options)

    def query(self, sql: str, **params: Any) -> list[tuple[Any, ...]]:
        engine = sa.create_engine(self.url, poolclass=NullPool)
        try:
            with engine.begin() as connection:
                return [tuple(row) for row in connection.execute(sa.text(sql), params)]
        finally:
            engine.dispose()

    def qualified(self, table: str = TABLE) -> str:
        return f"{self.schema}.{table}" if self.schema else table

    def partition_rows(self, partition: str, table: str = TABLE) -> list[tuple[Any, ...]]:
        sql = f"SELECT order_id, amount FROM {self.qualified(table)} WHERE partition_key = :p"
        return sorted(self.query(sql + " ORDER BY order_id", p=partition))


def duckdb_database(tmp_path: Path) -> Database:
    return Database("duckdb", f"duckdb:///{tmp_path / 'assets.duckdb'}")


def postgres_database() -> Iterator[Database]:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV} (see README, Tests)")
    schema = f"io_test_{os.getpid()}_{secrets.token_hex(4)}"
    admin = sa.create_engine(url, poolclass=NullPool)
    with admin.begin() as connection:
        connection.execute(sa.schema.CreateSchema(schema))
    yield Database("postgres", url, schema)
    with admin.begin() as connection:
        connection.execute(sa.schema.DropSchema(schema, cascade=True))
    admin.dispose()


@pytest.fixture(params=["duckdb", "postgres", "sqlite"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "duckdb":
        yield duckdb_database(tmp_path)
    elif request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'assets.db'}")
    else:
        yield from postgres_database()


@pytest.fixture(params=["duckdb", "sqlite"])
def file_database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    if request.param == "duckdb":
        return duckdb_database(tmp_path)
    return Database("sqlite", f"sqlite:///{tmp_path / 'assets.db'}")


@pytest.fixture
def postgres() -> Iterator[Database]:
    yield from postgres_database()


@pytest.fixture
def duckdb(tmp_path: Path) -> Database:
    return duckdb_database(tmp_path)


def output(partition: str | None, key: tuple[str, ...] = KEY) -> OutputContext:
    return OutputContext(asset_key=key, partition_key=partition, run_id="r", default_base_url="x")


def input_of(
    partitions: list[str] | None, expects: Any = None, key: tuple[str, ...] = KEY
) -> InputContext:
    return InputContext(
        asset_key=key, partition_keys=partitions, default_base_url="x", expects=expects
    )


def orders(*amounts: float) -> pd.DataFrame:
    return pd.DataFrame({"order_id": list(range(1, len(amounts) + 1)), "amount": list(amounts)})


def create_orders_table(database: Database) -> None:
    """The table, made beforehand with NOT NULL on order_id."""
    engine = sa.create_engine(database.url, poolclass=NullPool)
    table = sa.Table(
        TABLE,
        sa.MetaData(),
        sa.Column("partition_key", sa.Text, nullable=False),
        sa.Column("order_id", sa.BigInteger, nullable=False),
        sa.Column("amount", sa.Double),
        schema=database.schema,
    )
    with engine.begin() as connection:
        table.create(connection)
    engine.dispose()


# idempotent writes


def test_writing_a_partition_twice_keeps_one_copy(database: Database) -> None:
    manager = database.manager()

    first = manager.handle_output(output("2026-01-01"), orders(1.0, 2.0))
    second = manager.handle_output(output("2026-01-01"), orders(1.0, 2.0))

    assert first == {"table": database.qualified(), "rows_written": 2, "rows_deleted": 0}
    assert second == {"table": database.qualified(), "rows_written": 2, "rows_deleted": 2}
    assert database.partition_rows("2026-01-01") == [(1, 1.0), (2, 2.0)]


def test_partitions_are_kept_apart(database: Database) -> None:
    manager = database.manager()
    manager.handle_output(output("2026-01-01"), orders(1.0))
    manager.handle_output(output("2026-01-02"), orders(2.0, 2.0))

    manager.handle_output(output("2026-01-01"), orders(3.0))

    assert database.partition_rows("2026-01-01") == [(1, 3.0)]
    assert database.partition_rows("2026-01-02") == [(1, 2.0), (2, 2.0)]


def test_an_unpartitioned_asset_replaces_all_rows(database: Database) -> None:
    manager = database.manager()
    manager.handle_output(output(None), orders(1.0, 2.0, 3.0))

    metadata = manager.handle_output(output(None), orders(4.0))

    assert metadata["rows_deleted"] == 3
    assert database.query(f"SELECT * FROM {database.qualified()}") == [(1, 4.0)]
    assert manager.load_input(input_of(None, list)) == [{"order_id": 1, "amount": 4.0}]


def test_a_failed_insert_keeps_the_previous_rows_of_the_partition(database: Database) -> None:
    create_orders_table(database)
    manager = database.manager()
    manager.handle_output(output("p"), orders(1.0, 2.0))
    bad_frame = pd.DataFrame({"order_id": pd.array([7, None], dtype="Int64"), "amount": [1.0, 2.0]})
    bad_records = [{"order_id": 7, "amount": 1.0}, {"order_id": None, "amount": 2.0}]

    for bad in (bad_frame, bad_records):
        with pytest.raises(IOManagerError, match=r"writing partition 'p' to table .* failed, so"):
            manager.handle_output(output("p"), bad)

    assert database.partition_rows("p") == [(1, 1.0), (2, 2.0)]


def test_a_failure_after_the_first_batch_rolls_back_the_whole_write(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql_rows, "BATCH_ROWS", 2)
    create_orders_table(database)
    manager = database.manager()
    manager.handle_output(output("p"), orders(1.0))
    rows = [{"order_id": n, "amount": 1.0} for n in range(1, 6)] + [{"order_id": None}]

    with pytest.raises(IOManagerError, match="keeps its previous rows"):
        manager.handle_output(output("p"), rows)

    assert database.partition_rows("p") == [(1, 1.0)]


def test_a_value_that_fails_to_convert_is_refused_before_any_write(database: Database) -> None:
    manager = database.manager()
    manager.handle_output(output("p"), orders(1.0))

    with pytest.raises(IOManagerError, match=r"asset 'sales/orders': cannot convert"):
        manager.handle_output(output("p"), pd.DataFrame({"order_id": [1, "two"], "amount": 1.0}))

    assert database.partition_rows("p") == [(1, 1.0)]


def test_a_pandas_index_becomes_columns_only_when_it_is_named(database: Database) -> None:
    manager = database.manager(load_as="records")
    filtered = orders(1.0, -2.0, 3.0).query("amount > 0")  # index [0, 2], unnamed

    manager.handle_output(output("p"), filtered)
    manager.handle_output(output(None, key=("by_day",)), orders(1.0).set_index("order_id"))

    assert database.partition_rows("p") == [(1, 1.0), (3, 3.0)]
    by_day = manager.load_input(input_of(None, key=("by_day",)))
    assert by_day == [{"order_id": 1, "amount": 1.0}]


def test_an_empty_value_empties_the_partition(database: Database) -> None:
    manager = database.manager()
    manager.handle_output(output("p"), orders(1.0))

    metadata = manager.handle_output(output("p"), orders())

    assert metadata == {"table": database.qualified(), "rows_written": 0, "rows_deleted": 1}
    assert database.partition_rows("p") == []


# partition column


def test_rows_stamped_with_the_partition_key_are_accepted_as_they_are(database: Database) -> None:
    manager = database.manager()

    manager.handle_output(output("p"), orders(1.0).assign(partition_key="p"))

    assert database.partition_rows("p") == [(1, 1.0)]


def test_rows_stamped_with_another_partition_are_refused(database: Database) -> None:
    manager = database.manager()
    stamped = [{"partition_key": "p", "amount": 1.0}, {"partition_key": "q", "amount": 2.0}]

    with pytest.raises(
        IOManagerError,
        match=r"writing partition 'p', but some rows are stamped with another partition in "
        r"column 'partition_key': \['q'\]",
    ):
        manager.handle_output(output("p"), stamped)


def test_the_partition_column_can_be_named_by_the_manager_or_the_asset(database: Database) -> None:
    manager = database.manager(partition_column="day")
    manager.handle_output(output("2026-01-01"), orders(1.0))
    context = OutputContext(
        asset_key=("other",),
        partition_key="eu",
        run_id="r",
        default_base_url="x",
        partition_column="region",
    )
    manager.handle_output(context, orders(2.0))

    loaded = manager.load_input(input_of(["2026-01-01"], list))
    other = manager.load_input(
        InputContext(
            asset_key=("other",),
            partition_keys=["eu"],
            default_base_url="x",
            expects=list,
            partition_column="region",
        )
    )

    assert loaded == [{"day": "2026-01-01", "order_id": 1, "amount": 1.0}]
    assert other == [{"region": "eu", "order_id": 1, "amount": 2.0}]


def test_a_value_with_other_columns_than_the_table_is_refused(database: Database) -> None:
    manager = database.manager()
    manager.handle_output(output("p"), orders(1.0))

    with pytest.raises(
        IOManagerError,
        match=r"columns differ from table .*: new columns \['discount'\], missing columns "
        r"\['amount'\]; the IO manager does not alter tables",
    ):
        manager.handle_output(output("q"), pd.DataFrame({"order_id": [1], "discount": [0.1]}))


# hostile names and keys


HOSTILE_KEYS = ["'; DROP TABLE sales__orders; --", 'a"b', "back\\slash", "%_*", "é|ü", " "]


def test_hostile_partition_keys_are_stored_and_loaded_as_plain_values(database: Database) -> None:
    manager = database.manager()

    for number, key in enumerate(HOSTILE_KEYS):
        manager.handle_output(output(key), [{"order_id": number, "amount": 1.0}])

    loaded = manager.load_input(input_of(HOSTILE_KEYS, list))
    assert [row["partition_key"] for row in loaded] == HOSTILE_KEYS
    assert [row["order_id"] for row in loaded] == list(range(len(HOSTILE_KEYS)))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda m: m.handle_output(output("p", key=("sales", "orders; drop")), [{"a": 1}]),
            r"asset 'sales/orders; drop': table name 'sales__orders; drop' is not a safe SQL "
            r"identifier .*; pass table='...' to its SqlTableIOManager",
        ),
        (
            lambda m: m.load_input(input_of(["p"], key=("x" * 70,))),
            r"table name 'x{70}' is not a safe SQL identifier",
        ),
        (lambda m: SqlTableIOManager(m.url, table='t"; --'), r"table 't\"; --' is not a safe"),
        (lambda m: SqlTableIOManager(m.url, schema="a.b"), r"schema 'a.b' is not a safe"),
        (lambda m: SqlTableIOManager(m.url, partition_column="1st"), r"partition_column '1st'"),
        (lambda m: SqlTableIOManager(m.url, load_as="excel"), r"load_as 'excel' is not one of"),
        (lambda m: SqlTableIOManager("not a url"), r"'not a url' is not a database URL"),
    ],
)
def test_unsafe_names_are_refused(
    database: Database, make: Callable[[SqlTableIOManager], Any], message: str
) -> None:
    with pytest.raises(DefinitionError, match=message):
        make(database.manager())


def test_reserved_words_and_odd_column_names_are_quoted(database: Database) -> None:
    manager = database.manager()
    odd = [{"select": 1, 'a "quoted" name': "x", "Mixed Case": 2.5}]

    manager.handle_output(output("p", key=("order",)), odd)

    assert manager.load_input(input_of(["p"], list, key=("order",))) == [
        {"partition_key": "p", **odd[0]}
    ]


# round trips


def rich_rows(database: Database) -> list[dict[str, Any]]:
    """Rows of every column type; SQLite keeps neither decimals nor time zones."""
    rows: list[dict[str, Any]] = [
        {"id": 1, "amount": 1.5, "name": "a", "paid": True, "day": dt.date(2026, 1, 1)},
        {"id": 2, "amount": None, "name": None, "paid": False, "day": dt.date(2026, 1, 2)},
    ]
    if database.backend != "sqlite":
        for number, row in enumerate(rows):
            row["at"] = dt.datetime(2026, 1, 1, 12, number, tzinfo=dt.UTC)
            row["price"] = decimal.Decimal(f"{number}.25")
    return rows


def records_of(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, pd.DataFrame):
        return list(pa.Table.from_pandas(value, preserve_index=False).to_pylist())
    if isinstance(value, pl.DataFrame):
        return value.to_dicts()
    if isinstance(value, pa.Table):
        return list(value.to_pylist())
    assert isinstance(value, list)
    return value


WRITERS: dict[str, Callable[[list[dict[str, Any]]], Any]] = {
    "pandas": pd.DataFrame,
    "polars": pl.DataFrame,
    "arrow": pa.Table.from_pylist,
    "records": list,
}
LOADED_TYPES = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "arrow": pa.Table, "records": list}


@pytest.mark.parametrize("written_as", sorted(WRITERS))
def test_values_round_trip_through_every_type(database: Database, written_as: str) -> None:
    rows = rich_rows(database)
    database.manager().handle_output(output("p"), WRITERS[written_as](rows))
    expected = [{"partition_key": "p", **row} for row in rows]

    for load_as, loaded_type in LOADED_TYPES.items():
        loaded = database.manager(load_as=load_as).load_input(input_of(["p"]))
        assert isinstance(loaded, loaded_type), load_as
        assert records_of(loaded) == expected, load_as


def test_loads_follow_the_type_the_downstream_parameter_expects(database: Database) -> None:
    manager = database.manager(load_as="records")
    manager.handle_output(output("p"), orders(1.0))

    assert isinstance(manager.load_input(input_of(["p"])), list)
    assert isinstance(manager.load_input(input_of(["p"], pl.DataFrame)), pl.DataFrame)
    assert isinstance(manager.load_input(input_of(["p"], pa.Table)), pa.Table)
    assert isinstance(database.manager().load_input(input_of(["p"])), pd.DataFrame)  # auto


def test_several_partitions_load_together_in_the_order_of_the_keys(database: Database) -> None:
    manager = database.manager()
    for day, amount in (("2026-01-01", 1.0), ("2026-01-02", 2.0), ("2026-01-03", 3.0)):
        manager.handle_output(output(day), orders(amount))

    loaded = manager.load_input(input_of(["2026-01-03", "2026-01-01", "2026-01-09"]))

    assert loaded["partition_key"].tolist() == ["2026-01-03", "2026-01-01"]
    assert loaded["amount"].tolist() == [3.0, 1.0]


def test_an_unwritten_partition_loads_empty_with_the_table_columns(database: Database) -> None:
    manager = database.manager()
    manager.handle_output(output("p"), orders(1.0))

    loaded = manager.load_input(input_of(["never"], pa.Table))

    assert loaded.num_rows == 0
    assert loaded.schema.names == ["partition_key", "order_id", "amount"]
    assert str(loaded.schema.field("amount").type) == "double"


def test_loading_partitions_of_an_unpartitioned_table_is_refused(database: Database) -> None:
    manager = database.manager()
    manager.handle_output(output(None), orders(1.0))

    with pytest.raises(IOManagerError, match=r"has no column 'partition_key' to tell partitions"):
        manager.load_input(input_of(["p"]))


def test_loading_an_asset_never_written_is_not_found(database: Database) -> None:
    with pytest.raises(
        FileNotFoundError, match=r"asset 'sales/orders': table .*sales__orders does not exist"
    ):
        database.manager().load_input(input_of(["p"]))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            {"a": 1},
            r"stores pandas or polars DataFrames, pyarrow Tables and lists of dicts, not dict",
        ),
        ([{"a": object()}], r"column 'a' holds object values"),
        (pa.table({"a": [[1, 2]]}), r"column 'a' has type list<item: int64>"),
    ],
)
def test_values_a_table_cannot_hold_are_refused(
    database: Database, value: Any, message: str
) -> None:
    with pytest.raises(IOManagerError, match=message):
        database.manager().handle_output(output("p"), value)


# fingerprints, relocation, pickling


def test_a_fingerprint_ignores_row_order_and_changes_with_the_rows(database: Database) -> None:
    manager = database.manager()
    assert manager.fingerprint(KEY, "p", "x") is None  # no table
    manager.handle_output(output("p"), orders(1.0, 2.0, 3.0))
    first = manager.fingerprint(KEY, "p", "x")

    manager.handle_output(output("p"), orders(1.0, 2.0, 3.0).iloc[::-1])
    reordered = manager.fingerprint(KEY, "p", "x")
    manager.handle_output(output("p"), orders(1.0, 2.0, 3.5))
    changed = manager.fingerprint(KEY, "p", "x")

    assert first is not None
    assert reordered == first
    assert changed != first
    assert manager.fingerprint(KEY, "other", "x") is None


def test_a_relocated_file_database_is_a_copy_written_under_the_base(
    file_database: Database, tmp_path: Path
) -> None:
    database = file_database
    manager = database.manager()
    manager.handle_output(output("p"), orders(1.0))
    manager.handle_output(output("q"), orders(2.0))
    before = manager.fingerprint(KEY, "p", "x")

    relocated = manager.relocated(str(tmp_path / "idempotency" / "assets"))
    relocated.handle_output(output("p"), orders(9.0))

    assert relocated.url.endswith(f"{tmp_path}/idempotency/assets/{Path(database.url).name}")
    assert manager.fingerprint(KEY, "p", "x") == before
    assert relocated.fingerprint(KEY, "p", "x") != before
    assert relocated.load_input(input_of(["q"], list))[0]["amount"] == 2.0  # copied
    relocated.discard()


def test_a_relocated_postgres_manager_writes_to_its_own_schema(postgres: Database) -> None:
    manager = postgres.manager()
    manager.handle_output(output("p"), orders(1.0))
    manager.handle_output(output("q"), orders(2.0))
    before = manager.fingerprint(KEY, "p", "x")

    relocated = manager.relocated(f"/tmp/idempotency-{secrets.token_hex(3)}/assets")
    try:
        relocated.handle_output(output("p"), orders(9.0))

        assert relocated.schema is not None
        assert relocated.schema.startswith("hw_tmp_idempotency_")
        assert manager.fingerprint(KEY, "p", "x") == before
        assert relocated.fingerprint(KEY, "q", "x") is None  # not written there
        loaded = relocated.load_input(input_of(["p", "q"], list))
        assert [row["amount"] for row in loaded] == [9.0, 2.0]  # q read through
    finally:
        relocated.discard()
    schemas = postgres.query("SELECT schema_name FROM information_schema.schemata")
    assert (relocated.schema,) not in schemas
    with pytest.raises(IOManagerError, match="this one is not relocated"):
        manager.discard()


def test_relocated_schema_names_are_readable_safe_and_distinct() -> None:
    name = relocated_schema("analytics", "/tmp/headwater-idem-1/assets")

    assert name.startswith("hw_tmp_headwater_idem_1_assets_")
    assert len(relocated_schema(None, "/x" * 100)) <= 63
    assert relocated_schema(None, "/a") != relocated_schema("s", "/a")


def test_an_in_memory_database_cannot_be_relocated() -> None:
    with pytest.raises(IOManagerError, match=r"only a database file can be copied"):
        SqlTableIOManager("duckdb:///:memory:").relocated("/tmp/anywhere")


def test_an_in_memory_duckdb_keeps_its_tables_in_the_process() -> None:
    manager = SqlTableIOManager("duckdb:///:memory:", load_as="records")
    key = (f"memory_{secrets.token_hex(4)}",)
    manager.handle_output(output("p", key=key), [{"amount": 1.0}])

    manager.handle_output(output("p", key=key), pd.DataFrame({"amount": [2.0, 3.0]}))

    assert manager.load_input(input_of(["p"], key=key)) == [
        {"partition_key": "p", "amount": 2.0},
        {"partition_key": "p", "amount": 3.0},
    ]


def test_a_database_file_is_never_relocated_onto_itself(duckdb: Database) -> None:
    manager = duckdb.manager()
    manager.handle_output(output("p"), orders(1.0))
    folder = str(Path(str(sa.make_url(duckdb.url).database)).parent)

    with pytest.raises(IOManagerError, match="the copy would replace the database itself"):
        manager.relocated(folder)

    assert duckdb.partition_rows("p") == [(1, 1.0)]


def test_a_manager_is_a_picklable_value_even_after_use(database: Database) -> None:
    manager = database.manager(load_as="records")
    manager.handle_output(output("p"), orders(1.0))

    copy = pickle.loads(pickle.dumps(manager))

    assert copy == manager
    assert hash(copy) == hash(manager)
    assert copy.load_input(input_of(["p"]))[0]["amount"] == 1.0


def test_a_description_names_the_place_without_the_password() -> None:
    manager = SqlTableIOManager("postgresql+psycopg://user:secret@db/warehouse", schema="sales")

    assert (
        manager.describe() == "tables in schema sales of postgresql+psycopg://user:***@db/warehouse"
    )


# concurrency


def test_postgres_writers_of_one_partition_take_turns_and_keep_one_copy(postgres: Database) -> None:
    # Given a partition being written, stopped just before its insert
    manager = postgres.manager()
    manager.handle_output(output("p"), orders(1.0))
    inserting, release = threading.Event(), threading.Event()

    def hold_first_insert(_c: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if threading.current_thread().name == "first" and statement.startswith("INSERT"):
            inserting.set()
            release.wait(30)

    errors: list[BaseException] = []

    def write(amounts: tuple[float, ...]) -> None:
        try:
            manager.handle_output(output("p"), orders(*amounts))
        except BaseException as exc:
            errors.append(exc)

    sa.event.listen(sa.Engine, "before_cursor_execute", hold_first_insert)
    try:
        first = threading.Thread(target=write, args=((2.0, 2.0),), name="first")
        first.start()
        assert inserting.wait(30)
        # When a second writer of the same partition starts meanwhile
        second = threading.Thread(target=write, args=((3.0, 3.0, 3.0),), name="second")
        second.start()
        wait_until(lambda: postgres.query(WAITING_ON_ADVISORY_LOCK) != [(0,)])
        release.set()
        first.join(30)
        second.join(30)
    finally:
        release.set()
        sa.event.remove(sa.Engine, "before_cursor_execute", hold_first_insert)
    # Then it waited for the first, and only its rows remain
    assert errors == []
    assert postgres.partition_rows("p") == [(1, 3.0), (2, 3.0), (3, 3.0)]


WAITING_ON_ADVISORY_LOCK = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
    " AND datname = current_database()"
)


def test_duckdb_writers_in_one_process_take_turns(duckdb: Database) -> None:
    manager = duckdb.manager()
    manager.handle_output(output("p"), orders(1.0))
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def write(amount: float) -> None:
        start.wait(10)
        try:
            for _ in range(2):
                manager.handle_output(output("p"), orders(amount, amount))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(float(n),)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    assert len(duckdb.partition_rows("p")) == 2


HOLD_DUCKDB_FILE = (
    "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('open', flush=True); "
    "sys.stdin.read()"
)


def test_a_duckdb_file_open_in_another_process_is_waited_for(
    duckdb: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Given another process holding the DuckDB file open
    path = sa.make_url(duckdb.url).database
    assert path is not None
    with subprocess.Popen(
        [sys.executable, "-c", HOLD_DUCKDB_FILE, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        assert holder.stdout is not None
        assert holder.stdin is not None
        try:
            assert holder.stdout.readline().strip() == "open"
            manager = duckdb.manager()
            # When the wait is too short, the write fails with a clear message
            monkeypatch.setattr(sql_engines, "DUCKDB_LOCK_WAIT", 0.05)
            with pytest.raises(IOManagerError, match=r"still open in another process after 0 s"):
                manager.handle_output(output("p"), orders(1.0))
            # When it is long enough, the write waits for the other process to close it
            monkeypatch.setattr(sql_engines, "DUCKDB_LOCK_WAIT", 60)
            caplog.set_level("INFO", logger=sql_engines.__name__)
            results: list[dict[str, Any]] = []
            writer = threading.Thread(
                target=lambda: results.append(manager.handle_output(output("p"), orders(1.0)))
            )
            writer.start()
            wait_until(lambda: "open in another process; waiting" in caplog.text)
            holder.stdin.close()
            holder.wait(30)
            writer.join(30)
        finally:
            holder.kill()
    # Then it is written once the file is free
    assert results == [{"table": TABLE, "rows_written": 1, "rows_deleted": 0}]
