"""Jinja2 templating of shell commands and other strings: ``{{ ds }}``, ``{{ params.x }}``."""

from __future__ import annotations

from typing import Any

from headwater.authoring.context import Context


def template_variables(ctx: Context) -> dict[str, Any]:
    """The variables a template sees, named as in Airflow."""
    return {
        "ds": ctx.ds,
        "ds_nodash": ctx.ds_nodash,
        "logical_date": ctx.logical_date.isoformat(),
        "data_interval_start": ctx.data_interval_start.isoformat(),
        "data_interval_end": ctx.data_interval_end.isoformat(),
        "params": dict(ctx.params),
        "run_id": ctx.run_id,
        "pipeline_id": ctx.pipeline_id,
        "task_id": ctx.task_id,
        "try_number": ctx.try_number,
    }


def render(template: str, ctx: Context) -> str:
    """Render ``template`` with the run's variables; an unknown variable is an error."""
    if "{{" not in template and "{%" not in template:
        return template
    import jinja2  # imported on first use: most runs render nothing

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return environment.from_string(template).render(template_variables(ctx))
