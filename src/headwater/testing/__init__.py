"""Helpers for users' tests of their pipelines: a fake clock and in-process runs."""

from headwater.clock import FakeClock
from headwater.testing.runs import TaskResult, TestRun, run_pipeline_test

__all__ = ["FakeClock", "TaskResult", "TestRun", "run_pipeline_test"]
