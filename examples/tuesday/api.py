"""A stand-in for the events API of the Tuesday story: a day of events per request.

``python api.py --port 8765 --fail 2026-11-24`` answers 503 for that day, as the real
API did on the Tuesday of the incident. ``POST /fail?day=D`` and ``POST /recover?day=D``
change that while it runs.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

EVENTS_PER_DAY = 5


def events_of(day: str) -> list[dict[str, Any]]:
    """The events of ``day``: the same ones every time it is asked for."""
    return [
        {"event_id": f"{day}-{n}", "event_date": day, "user_id": n % 3, "kind": "view"}
        for n in range(EVENTS_PER_DAY)
    ]


class EventsApi:
    """The API in a thread of this process (the example's tests use it this way)."""

    def __init__(self, port: int = 0, failing: set[str] | None = None) -> None:
        self.failing = set(failing or ())
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                day = parse_qs(url.query).get("day", [""])[0]
                if url.path != "/events" or not day:
                    self._answer(404, {"error": "GET /events?day=YYYY-MM-DD"})
                elif day in api.failing:
                    self._answer(503, {"error": "service unavailable"})
                else:
                    self._answer(200, events_of(day))

            def do_POST(self) -> None:
                url = urlparse(self.path)
                day = parse_qs(url.query).get("day", [""])[0]
                if url.path == "/fail":
                    api.failing.add(day)
                elif url.path == "/recover":
                    api.failing.discard(day)
                self._answer(200, {"failing": sorted(api.failing)})

            def _answer(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> EventsApi:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--fail", action="append", default=[], metavar="DAY")
    args = parser.parse_args()
    api = EventsApi(args.port, set(args.fail))
    print(f"events API on {api.url}, failing on {sorted(api.failing) or 'no day'}")
    api.server.serve_forever()


if __name__ == "__main__":
    main()
