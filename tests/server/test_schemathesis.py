"""Generated requests against the OpenAPI of a real server: never a 500, and only the
statuses each operation documents."""

from __future__ import annotations

import hypothesis
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import status_code_conformance

from tests.server.conftest import Server

EXAMPLES = 8  # per operation: the whole run stays within seconds


def test_no_server_error_and_only_documented_statuses(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.tokens['admin']}"}
    schema = schemathesis.openapi.from_url(f"{server.url}/api/v1/openapi.json", headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:
        if operation.path == "/api/v1/events":
            continue  # the event stream never ends by design (tested in test_api)

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                headers=headers,
                checks=[not_a_server_error, status_code_conformance],
                timeout=10,
            )

        check()
