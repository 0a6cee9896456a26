"""The example dbt project, parsed once per test run (dbt takes seconds) and copied per test.

The parsed project is shared by the test workers of a run: the first copies the example,
and ``ensure_manifest`` parses it once even when workers ask at the same time (that is its
lock at work). Tests read it and never change it; a test that builds or edits the project
takes its own copy (``copy_parsed``), which keeps the parse: dbt's partial parsing goes on
from it. The profile is found in the project directory (``profiles_dir=None``), so that the
parse stays fresh in a copy.

Test modules import the ``dbt_shop`` fixture (``dbt_shop_fixture``) and the ``shop_project``
fixture (``shop_project_fixture``, its manifest read with the key prefix ``shop``) from here.
"""

from __future__ import annotations

import fcntl
import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from headwater.assets.dbt import DbtProject, ensure_manifest, read_manifest

EXAMPLE = Path(__file__).parents[2] / "examples" / "dbt_shop"


@dataclass(frozen=True)
class Shop:
    """A parsed copy of examples/dbt_shop; its DuckDB file is ``target/shop.duckdb``."""

    directory: Path
    manifest: Path


def uid(resource_type: str, name: str) -> str:
    """The unique id of a node of the example project."""
    return f"{resource_type}.dbt_shop.{name}"


# the example project's models, seeds and snapshot
RAW_ORDERS = uid("seed", "raw_orders")
RAW_CUSTOMERS = uid("seed", "raw_customers")
STG_ORDERS = uid("model", "stg_orders")
STG_CUSTOMERS = uid("model", "stg_customers")
CUSTOMER_ORDERS = uid("model", "customer_orders")
DAILY_REVENUE = uid("model", "daily_revenue")
SNAPSHOT = uid("snapshot", "customers_snapshot")


def copy_parsed(shop: Shop, destination: Path) -> Path:
    """A copy of the parsed project, its manifest still fresh there."""
    shutil.copytree(shop.directory, destination, ignore=shutil.ignore_patterns("*.lock"))
    return destination


@functools.cache
def parsed_example(run_dir: Path) -> Shop:
    """The example copied into ``run_dir`` (by the first worker to come) and parsed."""
    directory = run_dir / "dbt_shop"
    with open(run_dir / "dbt_shop.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not directory.exists():
            ignored = shutil.ignore_patterns("target", "logs", "dbt_packages")
            shutil.copytree(EXAMPLE, directory, ignore=ignored)
    return Shop(directory=directory, manifest=ensure_manifest(directory, None))


@pytest.fixture(scope="session", name="dbt_shop")
def dbt_shop_fixture(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    base = tmp_path_factory.getbasetemp()
    # a worker's base is inside the run's, which all the workers of the run share
    return parsed_example(base.parent if "PYTEST_XDIST_WORKER" in os.environ else base)


@pytest.fixture(name="shop_project")
def shop_project_fixture(dbt_shop: Shop) -> DbtProject:
    return read_manifest(dbt_shop.manifest, key_prefix=("shop",))
