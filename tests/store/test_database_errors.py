"""Database failures leave the store as StoreError, naming the database and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.store.test_sql_store import make_run

from headwater.config import Settings
from headwater.errors import RunExistsError, StoreError
from headwater.store.sql.store import SqlStore


@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_a_task_id_longer_than_its_column_is_a_store_error(store: SqlStore) -> None:
    # Given a task id longer than task_instances.task_id (250), which PostgreSQL enforces
    too_long = "t" * 251
    with pytest.raises(StoreError) as caught:
        store.create_run(make_run(), [(too_long, -1, 1, 0)])
    message = str(caught.value)
    shown = sa.make_url(store.engine.url).render_as_string(hide_password=True)
    assert message.startswith(f"the metadata database {shown} failed: value too long")
    assert "ids are at most 200 characters" in message
    assert "\n" not in message
    # and nothing of the run was kept
    assert store.list_runs() == []


def test_integrity_errors_the_store_expects_keep_their_meaning(store: SqlStore) -> None:
    store.create_run(make_run("r1"), [("a", -1, 1, 0)])
    with pytest.raises(RunExistsError):
        store.create_run(make_run("r2"), [("a", -1, 1, 0)])


def test_a_bad_url_given_to_settings_is_a_store_error(tmp_path: Path) -> None:
    settings = Settings.for_home(tmp_path, database_url="postgresql://me:pw@host:port/x")
    with pytest.raises(StoreError, match=r"'postgresql://me:\*\*\*@host:port/x' is not a"):
        SqlStore.from_settings(settings)
