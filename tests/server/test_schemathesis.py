"""Generated requests against the OpenAPI of a real server: never a 500, and only the
statuses each operation documents."""

from __future__ import annotations

from tests.server.conftest import Server
from tests.server.generated import check_generated_requests, operations_of

EXAMPLES = 8  # per operation: the whole run stays within seconds


def test_no_server_error_and_only_documented_statuses(server: Server) -> None:
    headers = {"Authorization": f"Bearer {server.tokens['admin']}"}
    operations = operations_of(server.url, headers)
    assert len(operations) >= 16
    # the event stream never ends by design (tested in test_api)
    streaming = [o for o in operations if o.path == "/api/v1/events"]  # type: ignore[attr-defined]
    check_generated_requests(
        [o for o in operations if o not in streaming], headers, examples=EXAMPLES, timeout=10
    )
