"""The exception hierarchy: one root, a family per layer."""

from __future__ import annotations


class HeadwaterError(Exception):
    """Root of every error headwater raises on purpose."""


class DefinitionError(HeadwaterError, ValueError):
    """A pipeline or task is defined wrongly (cycle, duplicate id, bad option)."""


class ConfigError(HeadwaterError, ValueError):
    """A setting, an environment variable or a command-line value is invalid."""


class NotFoundError(HeadwaterError, LookupError):
    """A pipeline, run, task or try that was asked for does not exist."""


class PipelineLoadError(HeadwaterError):
    """A pipeline file could not be imported.

    Attributes:
        path: the file that failed.
        line: the line in that file where the failure happened, when known.
    """

    def __init__(self, message: str, *, path: str, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class TransitionRejected(HeadwaterError):
    """A state change was refused because the stored state was not the expected one."""


class LeaseLost(TransitionRejected):
    """A driver's write was refused: another claim of the run made its lease stale.

    Attributes:
        run_ids: the runs whose lease was lost.
    """

    def __init__(self, message: str, *, run_ids: frozenset[str]) -> None:
        super().__init__(message)
        self.run_ids = run_ids


class StoreError(HeadwaterError):
    """The metadata store could not be reached or is in an unexpected shape."""


class ExecutorError(HeadwaterError):
    """An executor could not start or lost its workers."""


class TaskTimeoutError(HeadwaterError, TimeoutError):
    """A try ran longer than its task's ``timeout``."""


class SensorTimeoutError(HeadwaterError, TimeoutError):
    """A sensor's condition did not hold before its ``timeout``, counted from its first poke."""


class WorkerCrashedError(ExecutorError):
    """The process running a try died before reporting a result."""


class TryLogError(ExecutorError, OSError):
    """A try's log file cannot be created or written; the try fails with this error."""


class RunExistsError(HeadwaterError):
    """A pipeline already has a run for that logical date (runs are unique per date).

    Attributes:
        run_id: the existing run.
    """

    def __init__(self, message: str, *, run_id: str) -> None:
        super().__init__(message)
        self.run_id = run_id


class EventSeenError(HeadwaterError):
    """A pipeline already reacted to this event (a file, an upstream run)."""


class BranchError(HeadwaterError, ValueError):
    """A ``@task.branch`` returned something other than its direct downstream tasks."""


class AlreadyExistsError(HeadwaterError):
    """Something of that name exists already (a user, a pool)."""


class AuthError(HeadwaterError):
    """Credentials are missing, wrong, expired or revoked (never says which secret)."""
