"""Pipelines for the process-executor tests: workers are spawned and import them."""
