"""Authoring: @task, @pipeline, task groups and shell tasks. Pure definitions, no I/O."""
