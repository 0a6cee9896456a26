"""A real server for the web UI tests and benchmark: uvicorn on a free port, in a thread,
over a store, with users signed in by session cookies."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn

from headwater.accounts import Role, create_user
from headwater.config import Settings
from headwater.scheduling.registry import PipelineRegistry
from headwater.server.app import create_app
from headwater.server.auth import SESSION_COOKIE, encode_session, new_session, session_stamp
from headwater.server.context import ServerContext
from headwater.store.sql.store import SqlStore
from tests.waiting import wait_until

USERS = {"vera": Role.VIEWER, "otto": Role.OPERATOR, "ada": Role.ADMIN}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """The server's URL, store and context, and a session per user (cookie, CSRF token)."""

    url: str
    settings: Settings
    store: SqlStore
    context: ServerContext
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: dict[str, str] = field(default_factory=dict)

    def client(self, user: str | None = None) -> httpx.Client:
        cookies = {SESSION_COOKIE: self.cookies[user]} if user else {}
        return httpx.Client(base_url=self.url, cookies=cookies, follow_redirects=False)

    def cookie(self, user: str) -> dict[str, str]:
        """The session cookie of ``user``, as Playwright's ``add_cookies`` takes it."""
        return {"name": SESSION_COOKIE, "value": self.cookies[user], "url": self.url}


@contextmanager
def serve(settings: Settings, pipelines_dir: Path | None) -> Iterator[LiveServer]:
    """Serve ``settings``'s store until the block ends; users vera (viewer), otto
    (operator) and ada (admin) exist and are signed in."""
    store = SqlStore.from_settings(settings)
    registry = None
    if pipelines_dir is not None:
        registry = PipelineRegistry(pipelines_dir)
        registry.refresh()
    context = ServerContext(settings=settings, store=store, registry=registry)
    app = create_app(context)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    live = LiveServer(
        url=f"http://127.0.0.1:{port}", settings=settings, store=store, context=context
    )
    try:
        wait_until(lambda: server.started, timeout=20)
        now = context.clock.now()
        for name, role in USERS.items():
            user = create_user(store, name, role, password=None, now=now)
            stamp = session_stamp(app.state.session_key, user, None)
            session = new_session(name, now, stamp=stamp)
            live.cookies[name] = encode_session(session, app.state.session_key)
            live.csrf[name] = session.csrf
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        store.close()
