"""``headwater server``: the REST API and web UI over the metadata store, with uvicorn.

The server loads the pipelines folder in the background (to trigger runs and validate
params) and serves everything else from the store; it keeps no state that correctness
depends on, so several can run side by side, beside any number of schedulers.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import click
import uvicorn
from fastapi import FastAPI

from headwater.accounts import Role, count_users, create_token, create_user, list_users
from headwater.cli.options import pipelines_option
from headwater.cli.scheduler import host_option, port_option
from headwater.config import Settings
from headwater.errors import ConfigError
from headwater.private_files import make_private_dir
from headwater.runtime import Runtime
from headwater.scheduling.registry import PipelineRegistry
from headwater.scheduling.service import RegistryLoader, SchedulerService
from headwater.server.alerting import start_alerting
from headwater.server.app import create_app
from headwater.server.context import ServerContext
from headwater.store.sql.store import SqlStore

DEV_USER = "local-admin"
RELOAD_SECONDS = 2.0
DEV_TOKEN_LIFETIME = timedelta(days=30)

# started by `headwater dev` once the scheduler's runtime exists; returns its stop
Companion = Callable[[Runtime, PipelineRegistry, SchedulerService], Callable[[], None]]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_users(store: SqlStore, host: str) -> None:
    """A server reachable from other machines never starts without users."""
    if is_loopback(host) or count_users(store) > 0:
        return
    raise ConfigError(
        f"refusing to listen on {host} with no users: anyone who can reach it would find "
        "nobody can sign in. Create one first: headwater users create NAME --role admin, "
        "or listen on 127.0.0.1"
    )


def registry_job(registry: PipelineRegistry) -> Callable[[ServerContext], Callable[[], None]]:
    """A background job of the app: re-read the pipelines folder while serving, recording
    each pipeline in the store so that it is listed (and can be paused) before it runs."""

    def start(context: ServerContext) -> Callable[[], None]:
        loader = RegistryLoader(registry, RELOAD_SECONDS, context.store, context.clock)
        loader.start()
        return loader.stop

    return start


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything starts, so a taken port is one line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}: {exc.strerror}; check --host") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def uvicorn_server(app: FastAPI, *, quiet: bool = False) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        log_level="warning" if quiet else "info",
        timeout_graceful_shutdown=5,  # open event streams do not hold a stop up
        proxy_headers=False,
    )
    return uvicorn.Server(config)


def url_of(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@click.command("server")
@host_option
@port_option
@pipelines_option
def server_command(host: str, port: int, pipelines_dir: Path) -> int:
    """Serve the REST API and the web UI from the metadata store until stopped."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    make_private_dir(settings.home)
    store = SqlStore.from_settings(settings)
    try:
        check_users(store, host)
        sock = listen(host, port)
        url = url_of(host, sock)
        registry = PipelineRegistry(pipelines_dir)
        context = ServerContext(
            settings=settings,
            store=store,
            registry=registry,
            base_url=os.environ.get("HEADWATER_BASE_URL") or url,
        )
        # alerts are sent (and deadlines, freshness and schedulers watched) by the server
        # too, so that `scheduler_down` is heard when no scheduler runs
        app = create_app(context, background=(registry_job(registry), start_alerting))
        click.echo(f"headwater server: serving {pipelines_dir} on {url} (API: {url}/api/v1)")
        if count_users(store) == 0:
            click.echo(
                "headwater server: no users yet; create one with "
                "'headwater users create NAME --role admin', or use 'headwater dev'"
            )
        sys.stdout.flush()
        uvicorn_server(app).run(sockets=[sock])
    finally:
        store.close()
    return 0


# headwater dev: the scheduler (main thread) and the server (a thread of its own)


def local_login_url(store: SqlStore, url: str, now: datetime) -> str:
    """A login URL for the local admin user, made if needed, with a new token."""
    if DEV_USER not in {user.name for user in list_users(store)}:
        create_user(store, DEV_USER, Role.ADMIN, None, now)
    token, _ = create_token(
        store, DEV_USER, now, expires_in=DEV_TOKEN_LIFETIME, description="headwater dev"
    )
    return f"{url}/login?{urlencode({'token': token})}"


def dev_companion(host: str, port: int) -> Companion:
    """Start the server beside ``headwater dev``'s scheduler; returns its stop."""

    def start(
        runtime: Runtime, registry: PipelineRegistry, service: SchedulerService
    ) -> Callable[[], None]:
        store = runtime.store
        check_users(store, host)
        sock = listen(host, port)
        url = url_of(host, sock)
        context = ServerContext(
            settings=runtime.settings,
            store=store,
            registry=registry,
            base_url=os.environ.get("HEADWATER_BASE_URL") or url,
            clock=runtime.clock,
        )
        app = create_app(context)
        app.state.engine_metrics = service.metrics  # /metrics also shows the scheduler's
        server = uvicorn_server(app, quiet=True)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="headwater-server", daemon=True
        )
        thread.start()
        while not server.started and thread.is_alive():
            thread.join(0.05)
        if not server.started:
            raise ConfigError(f"the server could not start on {url}; see the log above")
        if is_loopback(host):
            login = local_login_url(store, url, runtime.clock.now())
            click.echo(f"headwater dev: open the UI at {login}")
        else:
            click.echo(f"headwater dev: open the UI at {url} and sign in")
        click.echo(f"headwater dev: the API is at {url}/api/v1 (docs: {url}/api/v1/docs)")
        sys.stdout.flush()

        def stop() -> None:
            server.should_exit = True
            thread.join(timeout=10)

        return stop

    return start
