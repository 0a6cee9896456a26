"""headwater: a light, fast and safe orchestrator for data pipelines.

Importing this package does no I/O; the engine and the store load when a run starts.
"""

from headwater.authoring.context import Context, RunContext
from headwater.authoring.definition import TaskGroup, TaskHandle, task_group
from headwater.authoring.pipeline import Pipeline, pipeline
from headwater.authoring.shell import shell_task
from headwater.authoring.task import Task, task
from headwater.authoring.trigger_rules import TriggerRule
from headwater.errors import (
    BranchError,
    ConfigError,
    DefinitionError,
    ExecutorError,
    HeadwaterError,
    NotFoundError,
    PipelineLoadError,
    StoreError,
    TaskTimeoutError,
    TransitionRejected,
)

__version__ = "0.1.0"

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
    # errors
    "BranchError",
    "ConfigError",
    "DefinitionError",
    "ExecutorError",
    "HeadwaterError",
    "NotFoundError",
    "PipelineLoadError",
    "StoreError",
    "TaskTimeoutError",
    "TransitionRejected",
]
