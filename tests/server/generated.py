"""Generated requests (schemathesis) against operations of a real server's OpenAPI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance


def operations_of(url: str, headers: Mapping[str, str], prefix: str = "/api/v1/") -> list[object]:
    """The operations of the server's OpenAPI whose path starts with ``prefix``."""
    schema = schemathesis.openapi.from_url(f"{url}/api/v1/openapi.json", headers=dict(headers))
    found = [result.ok() for result in schema.get_all_operations()]
    return [operation for operation in found if operation.path.startswith(prefix)]


def check_generated_requests(
    operations: Iterable[object], headers: Mapping[str, str], *, examples: int, timeout: float
) -> None:
    """Per operation, ``examples`` generated requests (the same each run): never a 500,
    and only the statuses the operation documents."""
    for operation in operations:

        @hypothesis.given(case=operation.as_strategy())  # type: ignore[attr-defined]
        @hypothesis.settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=dict(headers),
                checks=[not_a_server_error, status_code_conformance],
                timeout=timeout,
            )

        check()
