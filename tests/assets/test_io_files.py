"""FileIOManager: each partition as one file on local disk and in memory://, every format,
atomic replacement, hostile keys, read-through relocation."""

from __future__ import annotations

import ast
import datetime as dt
import pickle
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from headwater.assets.io import (
    FileIOManager,
    InputContext,
    IOManagerError,
    NothingStoredError,
    OutputContext,
)
from headwater.assets.io.files import safe_name
from headwater.errors import DefinitionError, NotFoundError

KEY = ("sales", "orders")


@dataclass
class Place:
    """A base URL and the file system and root folder behind it."""

    url: str
    fs: Any
    root: str

    def files(self) -> list[str]:
        """Every file under the root, relative to it."""
        return sorted(path[len(self.root) + 1 :] for path in self.fs.find(self.root))


@pytest.fixture(params=["local", "memory"])
def place(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Place]:
    if request.param == "local":
        root = tmp_path / "assets"
        yield Place(str(root), fsspec.filesystem("file"), str(root))
        return
    name = f"/headwater-test-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    yield Place(f"memory://{name}", fs, name)
    if fs.exists(name):
        fs.rm(name, recursive=True)


def output(partition: str | None = None, key: tuple[str, ...] = KEY) -> OutputContext:
    return OutputContext(
        asset_key=key, partition_key=partition, run_id="run-1", default_base_url="memory://unused"
    )


def input_of(
    partitions: list[str] | None = None, expects: Any = None, key: tuple[str, ...] = KEY
) -> InputContext:
    return InputContext(
        asset_key=key,
        partition_keys=partitions,
        default_base_url="memory://unused",
        expects=expects,
    )


def orders(*amounts: float) -> pd.DataFrame:
    return pd.DataFrame({"order_id": list(range(len(amounts))), "amount": list(amounts)})


# formats


def test_a_pandas_frame_is_stored_as_parquet_and_loads_as_pandas(place: Place) -> None:
    manager = FileIOManager(place.url)
    frame = orders(1.5, 2.5).assign(day=pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True))

    metadata = manager.handle_output(output("2026-01-01"), frame)

    assert metadata["format"] == "parquet"
    assert metadata["path"].endswith("sales/orders/2026-01-01.parquet")
    assert metadata["bytes"] == place.fs.size(f"{place.root}/sales/orders/2026-01-01.parquet")
    pd.testing.assert_frame_equal(manager.load_input(input_of(["2026-01-01"])), frame)


def test_a_polars_frame_and_an_arrow_table_load_back_as_they_were(place: Place) -> None:
    manager = FileIOManager(place.url)
    polars_frame = pl.DataFrame({"a": [1, 2], "b": ["x", None]})
    arrow_table = pa.table({"a": [1.5, None], "b": [dt.date(2026, 1, 1), dt.date(2026, 1, 2)]})
    manager.handle_output(output("p"), polars_frame)
    manager.handle_output(output("a"), arrow_table)

    loaded_polars = manager.load_input(input_of(["p"]))
    loaded_arrow = manager.load_input(input_of(["a"]))

    assert isinstance(loaded_polars, pl.DataFrame)
    assert loaded_polars.equals(polars_frame)
    assert isinstance(loaded_arrow, pa.Table)
    assert loaded_arrow.equals(arrow_table)


@pytest.mark.parametrize(
    "value",
    [{"a": 1, "b": [1.5, None, True, "x"]}, [1, 2, 3], "text", 42, 2.5, True, None, []],
)
def test_json_values_are_stored_as_json(place: Place, value: Any) -> None:
    manager = FileIOManager(place.url)

    metadata = manager.handle_output(output(), value)

    assert metadata["format"] == "json"
    assert place.files() == ["sales/orders.json"]
    assert manager.load_input(input_of()) == value


@pytest.mark.parametrize(
    "value",
    [(1, 2), {1: "int key"}, {"a", "b"}, dt.date(2026, 1, 1), float("nan"), {"x": (1,)}],
    ids=["tuple", "int-keys", "set", "date", "nan", "nested-tuple"],
)
def test_values_json_would_change_are_pickled(place: Place, value: Any) -> None:
    manager = FileIOManager(place.url)

    metadata = manager.handle_output(output(), value)

    assert metadata["format"] == "pickle"
    loaded = manager.load_input(input_of())
    assert type(loaded) is type(value)
    # a set's order is not kept (nor compared); NaN is compared by its repr
    assert loaded == value if isinstance(value, set) else repr(loaded) == repr(value)


def test_a_value_of_another_type_replaces_the_previous_file(place: Place) -> None:
    manager = FileIOManager(place.url)
    manager.handle_output(output("2026-01-01"), orders(1.0))

    manager.handle_output(output("2026-01-01"), {"now": "a dict"})

    assert place.files() == ["sales/orders/2026-01-01.json"]
    assert manager.load_input(input_of(["2026-01-01"])) == {"now": "a dict"}


@pytest.mark.parametrize(
    ("expects", "loaded_type"),
    [(pl.DataFrame, pl.DataFrame), (pa.Table, pa.Table), (pd.DataFrame, pd.DataFrame)],
)
def test_parquet_loads_as_the_type_the_downstream_parameter_expects(
    place: Place, expects: type, loaded_type: Any
) -> None:
    manager = FileIOManager(place.url)
    manager.handle_output(output("p"), orders(1.0, 2.0))

    loaded = manager.load_input(input_of(["p"], expects=expects))

    assert isinstance(loaded, loaded_type)
    assert loaded.shape[0] == 2


def test_parquet_loads_as_records_for_a_list_parameter(place: Place) -> None:
    manager = FileIOManager(place.url)
    manager.handle_output(output("p"), pl.DataFrame({"a": [1, 2]}))

    assert manager.load_input(input_of(["p"], expects=list[dict[str, int]])) == [
        {"a": 1},
        {"a": 2},
    ]


def test_a_forced_format_is_used_or_refused_with_a_clear_message(place: Place) -> None:
    FileIOManager(place.url, format="pickle").handle_output(output("a"), orders(1.0))
    assert place.files() == ["sales/orders/a.pickle"]

    with pytest.raises(IOManagerError, match=r"asset 'sales/orders': format 'json' needs"):
        FileIOManager(place.url, format="json").handle_output(output("b"), (1, 2))
    with pytest.raises(IOManagerError, match=r"format 'parquet' needs a pandas or polars"):
        FileIOManager(place.url, format="parquet").handle_output(output("c"), {"a": 1})
    with pytest.raises(DefinitionError, match=r"format 'csv' is not one of 'auto', 'parquet'"):
        FileIOManager(place.url, format="csv")


def test_a_frame_arrow_cannot_convert_is_refused_with_a_hint(place: Place) -> None:
    mixed = pd.DataFrame({"a": [1, "two"]})

    with pytest.raises(IOManagerError, match=r"cannot write its value .* pass format='pickle'"):
        FileIOManager(place.url).handle_output(output("p"), mixed)
    assert place.files() == []


def test_without_pyarrow_polars_writes_parquet_itself(
    place: Place, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given an environment where pyarrow cannot be imported
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    manager = FileIOManager(place.url)

    metadata = manager.handle_output(output("p"), pl.DataFrame({"a": [1, 2]}))

    assert metadata["format"] == "parquet"
    assert manager.load_input(input_of(["p"])).equals(pl.DataFrame({"a": [1, 2]}))
    assert manager.load_input(input_of(["p"], expects=list)) == [{"a": 1}, {"a": 2}]


# paths and keys


def test_files_are_laid_out_by_key_parts_and_partition(place: Place) -> None:
    manager = FileIOManager(place.url)

    manager.handle_output(output(), [1])
    manager.handle_output(output("2026-01-01|eu"), [2])
    manager.handle_output(output(None, key=("top",)), [3])

    assert place.files() == ["sales/orders.json", "sales/orders/2026-01-01,eu.json", "top.json"]


def test_without_a_base_url_files_go_under_the_default_base(place: Place) -> None:
    context = OutputContext(
        asset_key=KEY, partition_key=None, run_id="run-1", default_base_url=place.url
    )
    FileIOManager().handle_output(context, [1])

    assert place.files() == ["sales/orders.json"]


HOSTILE_KEYS = [
    "../../etc",
    "..",
    ".",
    "/absolute",
    "a/b",
    "a\\b",
    "x\x00y",
    ".hidden",
    "%2E",
    "é|ü",
]


def test_hostile_partition_keys_never_leave_the_base_and_load_back(
    place: Place, tmp_path: Path
) -> None:
    manager = FileIOManager(place.url)

    for number, key in enumerate(HOSTILE_KEYS):
        manager.handle_output(output(key), [number])

    files = place.files()
    assert len(files) == len(HOSTILE_KEYS)
    assert all(path.startswith("sales/orders/") and path.count("/") == 2 for path in files)
    assert not any(name.split("/")[-1].startswith(".") for name in files)
    assert manager.load_input(input_of(HOSTILE_KEYS)) == list(range(len(HOSTILE_KEYS)))
    if place.url.startswith("/"):  # nothing was written beside the base folder
        assert sorted(p.name for p in tmp_path.iterdir()) == ["assets"]


def test_hostile_asset_key_parts_stay_under_the_base(place: Place) -> None:
    FileIOManager(place.url).handle_output(output("p", key=("..", "..", "etc")), [1])

    assert place.files() == ["%2E./%2E./etc/p.json"]


def test_an_empty_partition_key_is_refused(place: Place) -> None:
    with pytest.raises(IOManagerError, match="must not be empty"):
        FileIOManager(place.url).handle_output(output(""), [1])


@given(st.text(), st.text())
def test_safe_names_are_plain_file_names_and_distinct_for_distinct_keys(a: str, b: str) -> None:
    for name in (safe_name(a), safe_name(b)):
        assert "/" not in name
        assert "\\" not in name
        assert "\x00" not in name
        assert not name.startswith(".")
        assert len(name) <= 200
    assert (safe_name(a) == safe_name(b)) == (a == b)


def test_a_very_long_key_gets_a_short_distinct_name() -> None:
    long_a, long_b = "a" * 300, "a" * 299 + "b"

    assert len(safe_name(long_a)) == 200
    assert safe_name(long_a) != safe_name(long_b)


# atomic replacement


class WatchesTheFolder:
    """Pickled in the middle of a write: records what a reader would see at that moment."""

    seen: list[Any] = []  # noqa: RUF012 (a record of the test, on purpose shared)

    def __init__(self, manager: FileIOManager, place: Place) -> None:
        self.manager = manager
        self.place = place

    def __reduce__(self) -> tuple[Any, ...]:
        WatchesTheFolder.seen = [self.manager.load_input(input_of(["p"])), self.place.files()]
        return (str, ("written",))


def test_a_reader_sees_the_old_value_until_the_new_file_is_complete(place: Place) -> None:
    manager = FileIOManager(place.url)
    manager.handle_output(output("p"), ["old"])

    manager.handle_output(output("p"), (WatchesTheFolder(manager, place),))

    old_value, files_meanwhile = WatchesTheFolder.seen
    assert old_value == ["old"]
    temporary, old_file = files_meanwhile
    assert old_file == "sales/orders/p.json"
    assert temporary.startswith("sales/orders/.p.pickle.")  # beside it, hidden
    assert manager.load_input(input_of(["p"])) == ("written",)
    assert place.files() == ["sales/orders/p.pickle"]


class FailsToPickle:
    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("this value cannot be pickled")


def test_a_write_that_fails_halfway_keeps_the_previous_value_and_no_partial_file(
    place: Place,
) -> None:
    manager = FileIOManager(place.url)
    manager.handle_output(output("p"), ["old"])

    # a large first item is flushed to the file before the second one fails
    with pytest.raises(IOManagerError, match=r"cannot write its value \(list\) as pickle"):
        manager.handle_output(output("p"), [b"x" * 300_000, FailsToPickle()])

    assert manager.load_input(input_of(["p"])) == ["old"]
    assert place.files() == ["sales/orders/p.json"]


def test_writing_a_partition_again_replaces_it(place: Place) -> None:
    manager = FileIOManager(place.url)
    manager.handle_output(output("p"), orders(1.0))

    manager.handle_output(output("p"), orders(2.0, 3.0))

    assert place.files() == ["sales/orders/p.parquet"]
    assert manager.load_input(input_of(["p"]))["amount"].tolist() == [2.0, 3.0]


# several partitions, missing values


def test_several_partitions_load_as_one_value_in_the_order_of_the_keys(place: Place) -> None:
    manager = FileIOManager(place.url)
    for day, amount in (("2026-01-01", 1.0), ("2026-01-02", 2.0), ("2026-01-03", 3.0)):
        manager.handle_output(output(day), orders(amount))
        FileIOManager(f"{place.url}/lists").handle_output(output(day), [amount])
        FileIOManager(f"{place.url}/other").handle_output(output(day), {"amount": amount})
    days = ["2026-01-03", "2026-01-01"]

    frames = manager.load_input(input_of(days))
    lists = FileIOManager(f"{place.url}/lists").load_input(input_of(days))
    others = FileIOManager(f"{place.url}/other").load_input(input_of(days))

    assert frames["amount"].tolist() == [3.0, 1.0]
    assert frames.index.tolist() == [0, 1]
    assert lists == [3.0, 1.0]
    assert others == {"2026-01-03": {"amount": 3.0}, "2026-01-01": {"amount": 1.0}}


def test_a_missing_partition_is_not_found(place: Place) -> None:
    manager = FileIOManager(place.url)
    manager.handle_output(output("2026-01-01"), [1])

    with pytest.raises(
        NotFoundError,
        match=r"asset 'sales/orders': nothing is stored for partition '2026-01-02' under ",
    ) as raised:
        manager.load_input(input_of(["2026-01-01", "2026-01-02"]))
    assert isinstance(raised.value, NothingStoredError)
    assert isinstance(raised.value, FileNotFoundError)  # what callers catch for any manager
    with pytest.raises(
        FileNotFoundError,
        match=r"asset 'sales/orders': nothing is stored under .*; materialize it first",
    ):
        manager.load_input(input_of(None))


# fingerprints and relocation


def test_a_fingerprint_is_equal_after_an_identical_rewrite_and_differs_after_a_change(
    place: Place,
) -> None:
    manager = FileIOManager(place.url)
    assert manager.fingerprint(KEY, "p", "memory://unused") is None

    manager.handle_output(output("p"), orders(1.0, 2.0))
    first = manager.fingerprint(KEY, "p", "memory://unused")
    manager.handle_output(output("p"), orders(1.0, 2.0))
    same = manager.fingerprint(KEY, "p", "memory://unused")
    manager.handle_output(output("p"), orders(1.0, 2.5))
    changed = manager.fingerprint(KEY, "p", "memory://unused")

    assert first is not None
    assert first.startswith("sha256:")
    assert same == first
    assert changed != first


def test_a_relocated_manager_writes_elsewhere_and_reads_through_to_the_original(
    place: Place,
) -> None:
    original = FileIOManager(place.url)
    original.handle_output(output("p"), ["original p"])
    original.handle_output(output("q"), ["original q"])
    before = original.fingerprint(KEY, "p", "memory://unused")

    relocated = original.relocated(f"{place.url}/elsewhere")
    relocated.handle_output(output("p"), ["relocated p"])

    assert original.load_input(input_of(["p"])) == ["original p"]
    assert original.fingerprint(KEY, "p", "memory://unused") == before
    assert relocated.load_input(input_of(["p", "q"])) == ["relocated p", "original q"]
    assert relocated.fingerprint(KEY, "q", "memory://unused") is None  # not written there
    assert "elsewhere/sales/orders/p.json" in place.files()


def test_a_relocated_default_manager_reads_through_to_the_default_base(place: Place) -> None:
    context = OutputContext(
        asset_key=KEY, partition_key="p", run_id="r", default_base_url=place.url
    )
    FileIOManager().handle_output(context, [1])

    relocated = FileIOManager().relocated(f"{place.url}/elsewhere")

    loaded = relocated.load_input(
        InputContext(asset_key=KEY, partition_keys=["p"], default_base_url=place.url)
    )
    assert loaded == [1]


def test_a_manager_is_a_picklable_value() -> None:
    manager = FileIOManager("memory://somewhere", format="json")

    copy = pickle.loads(pickle.dumps(manager))

    assert copy == manager
    assert hash(copy) == hash(manager)
    assert copy != FileIOManager("memory://somewhere")
    assert copy.describe() == "files under memory://somewhere (format json)"


def test_the_io_package_imports_no_data_library_when_imported() -> None:
    # the optional libraries are imported inside the functions that use them
    package = Path(__file__).parents[2] / "src" / "headwater" / "assets" / "io"
    optional = {"pandas", "polars", "pyarrow", "duckdb", "duckdb_engine"}
    found = []
    for path in sorted(package.glob("*.py")):
        for node in ast.parse(path.read_text()).body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            found += [f"{path.name}: {n}" for n in names if n.split(".")[0] in optional]
    assert found == []
