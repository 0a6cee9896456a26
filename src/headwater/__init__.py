"""headwater: a light, fast and safe orchestrator for data pipelines.

Importing this package does no I/O; the engine and the store load when a run starts.
"""

import logging

from headwater.assets.automation import cron
from headwater.assets.checks import (
    CheckResult,
    fresh_column,
    no_nulls,
    not_empty,
    row_count_between,
    row_count_change,
    schema_unchanged,
    unique,
)
from headwater.assets.definition import Asset, AssetCheck, asset, asset_check
from headwater.assets.io.base import IOManager
from headwater.assets.io.files import FileIOManager
from headwater.assets.jobs import asset_pipeline
from headwater.assets.mappings import all_partitions, identity, last
from headwater.assets.partitions import (
    DailyPartitions,
    DynamicPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    MultiPartitions,
    StaticPartitions,
    TimePartitions,
    WeeklyPartitions,
)
from headwater.authoring.context import Context, RunContext
from headwater.authoring.definition import TaskGroup, TaskHandle, task_group
from headwater.authoring.pipeline import Pipeline, pipeline
from headwater.authoring.sensors import file_sensor, pipeline_sensor, sensor
from headwater.authoring.shell import shell_task
from headwater.authoring.task import Task, task
from headwater.errors import (
    BranchError,
    ConfigError,
    DefinitionError,
    ExecutorError,
    HeadwaterError,
    NotFoundError,
    PipelineLoadError,
    SensorTimeoutError,
    StoreError,
    TaskTimeoutError,
    TransitionRejected,
)
from headwater.graph.options import TriggerRule
from headwater.schedules.events import after, on_asset, on_file

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # SqlTableIOManager brings SQLAlchemy: imported when first asked for, so that
    # ``import headwater`` (and ``headwater validate``) stays light
    if name == "SqlTableIOManager":
        from headwater.assets.io.sql import SqlTableIOManager

        return SqlTableIOManager
    if name == "dbt_assets":
        from headwater.assets.dbt.assets import dbt_assets

        return dbt_assets
    raise AttributeError(f"module 'headwater' has no attribute {name!r}")


# A library's loggers get no handler of their own: the application (or the headwater
# command) decides where they go; this one keeps Python from printing them as it likes.
logging.getLogger("headwater").addHandler(logging.NullHandler())

__all__ = [
    # authoring
    "Context",
    "Pipeline",
    "RunContext",
    "Task",
    "TaskGroup",
    "TaskHandle",
    "TriggerRule",
    "pipeline",
    "shell_task",
    "task",
    "task_group",
    # sensors
    "file_sensor",
    "pipeline_sensor",
    "sensor",
    # event schedules
    "after",
    "on_asset",
    "on_file",
    # assets
    "Asset",
    "AssetCheck",
    "asset",
    "asset_check",
    "asset_pipeline",
    "cron",
    "dbt_assets",
    # partitions and their mappings
    "DailyPartitions",
    "DynamicPartitions",
    "HourlyPartitions",
    "MonthlyPartitions",
    "MultiPartitions",
    "StaticPartitions",
    "TimePartitions",
    "WeeklyPartitions",
    "all_partitions",
    "identity",
    "last",
    # quality checks
    "CheckResult",
    "fresh_column",
    "no_nulls",
    "not_empty",
    "row_count_between",
    "row_count_change",
    "schema_unchanged",
    "unique",
    # IO managers
    "FileIOManager",
    "IOManager",
    "SqlTableIOManager",
    # errors
    "BranchError",
    "ConfigError",
    "DefinitionError",
    "ExecutorError",
    "HeadwaterError",
    "NotFoundError",
    "PipelineLoadError",
    "SensorTimeoutError",
    "StoreError",
    "TaskTimeoutError",
    "TransitionRejected",
]
