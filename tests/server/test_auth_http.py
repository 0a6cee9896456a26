"""Tokens, roles, sessions and CSRF against a real server process (uvicorn on a thread).

The routes below stand for the real ones of each role; the auth matrix over every real
endpoint lives with the API's tests.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import httpx
import pytest
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse

from headwater import accounts
from headwater.accounts import Principal, Role
from headwater.clock import FakeClock
from headwater.config import Settings
from headwater.server.app import create_app
from headwater.server.auth import (
    CSRF_FIELD,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_LIFETIME,
    request_session,
    require,
)
from headwater.server.context import ServerContext
from headwater.server.ui_auth import RedactTokens
from headwater.store.sql.store import SqlStore
from tests.waiting import wait_until

PASSWORD = "correct horse"
Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]


def add_test_routes(app: FastAPI) -> None:
    @app.get("/api/v1/whoami")
    def whoami(principal: Viewer) -> dict[str, str]:
        return {"name": principal.name, "role": principal.role.value, "via": principal.via}

    @app.post("/api/v1/testing/trigger")
    def trigger(principal: Operator) -> dict[str, str]:
        return {"done": "trigger"}

    @app.put("/api/v1/testing/pools/db")
    def set_pool(principal: Admin) -> dict[str, str]:
        return {"done": "pool"}

    @app.get("/pipelines")
    def page(request: Request, principal: Viewer) -> HTMLResponse:
        session = request_session(request)
        csrf = "" if session is None else session.csrf
        return HTMLResponse(f'<form><input name="{CSRF_FIELD}" value="{csrf}"></form>')

    @app.post("/pipelines/daily/pause")
    def pause(principal: Operator) -> dict[str, str]:
        return {"done": "pause"}


@dataclass
class Server:
    url: str
    store: SqlStore
    clock: FakeClock

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, follow_redirects=False, timeout=10, **kwargs)  # type: ignore[arg-type]

    def token(self, user: str, expires_in: timedelta | None = None) -> str:
        return accounts.create_token(self.store, user, self.clock.now(), expires_in=expires_in)[0]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    home: Path = tmp_path_factory.mktemp("home")
    settings = Settings.for_home(home, secret_key="k" * 40)
    store = SqlStore.from_settings(settings)
    clock = FakeClock("2026-03-01T12:00:00+00:00")
    for name, role in (("vera", Role.VIEWER), ("otto", Role.OPERATOR), ("ada", Role.ADMIN)):
        accounts.create_user(store, name, role, PASSWORD, clock.now())
    app = create_app(ServerContext(settings=settings, store=store, clock=clock))
    add_test_routes(app)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        http="h11",
        ws="none",
        lifespan="on",
        timeout_graceful_shutdown=1,
    )
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    wait_until(lambda: uv.started, timeout=20)
    yield Server(f"http://127.0.0.1:{port}", store, clock)
    uv.should_exit = True
    thread.join(10)
    sock.close()
    store.close()


def sign_in(server: Server, name: str, password: str = PASSWORD, **headers: str) -> httpx.Client:
    client = server.client()
    form = client.get("/login?next=/pipelines")
    nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.text)
    assert nonce is not None, form.text
    response = client.post(
        "/login",
        data={"name": name, "password": password, "next": "/pipelines", CSRF_FIELD: nonce[1]},
        headers={"Origin": server.url, **headers},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/pipelines"
    return client


def csrf_of(client: httpx.Client) -> str:
    page = client.get("/pipelines")
    assert page.status_code == 200, page.text
    match = re.search(r'value="([^"]+)"', page.text)
    assert match is not None
    return match[1]


# tokens and roles


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        (None, (401, 401, 401)),
        ("vera", (200, 403, 403)),
        ("otto", (200, 200, 403)),
        ("ada", (200, 200, 200)),
    ],
)
def test_each_role_reaches_what_it_may(
    server: Server, user: str | None, expected: tuple[int, int, int]
) -> None:
    headers = {} if user is None else {"Authorization": f"Bearer {server.token(user)}"}
    with server.client(headers=headers) as client:
        got = (
            client.get("/api/v1/whoami").status_code,
            client.post("/api/v1/testing/trigger").status_code,  # no CSRF token: a token needs none
            client.put("/api/v1/testing/pools/db").status_code,
        )
    assert got == expected


def test_a_viewer_is_told_what_role_is_needed(server: Server) -> None:
    with server.client(headers={"Authorization": f"Bearer {server.token('vera')}"}) as client:
        refused = client.post("/api/v1/testing/trigger")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "vera is viewer; this needs operator or above"


def test_bad_tokens_get_401_without_saying_why(server: Server) -> None:
    accounts.create_user(server.store, "leaver", Role.ADMIN, None, server.clock.now())
    expiring = server.token("otto", expires_in=timedelta(minutes=5))
    revoked = server.token("otto")
    accounts.revoke_token(server.store, revoked, server.clock.now())
    disabled = server.token("leaver")
    accounts.set_disabled(server.store, "leaver", True)
    with server.client() as client:
        assert (
            client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {expiring}"}).json()[
                "name"
            ]
            == "otto"
        )
        server.clock.advance(timedelta(minutes=5))
        bodies = set()
        for token in (expiring, revoked, disabled, expiring[:-3] + "xyz", "hw_0_0"):
            response = client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            bodies.add(response.text)
        assert len(bodies) == 1
        assert json.loads(bodies.pop())["detail"] == "invalid, expired or revoked token"
        for header in ("Basic dXNlcjpwYXNz", "Bearer", "Token abc"):
            response = client.get("/api/v1/whoami", headers={"Authorization": header})
            assert response.status_code == 401
            detail = response.json()["detail"]
            assert detail == "the Authorization header must read: Bearer TOKEN"


def test_the_api_and_metrics_answer_401_and_pages_send_browsers_to_sign_in(
    server: Server,
) -> None:
    with server.client() as client:
        api = client.get("/api/v1/whoami")
        assert (api.status_code, api.json()["detail"]) == (
            401,
            "sign in, or send Authorization: Bearer TOKEN",
        )
        page = client.get("/pipelines?state=failed")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Fpipelines%3Fstate%3Dfailed"
        htmx = client.get("/pipelines", headers={"HX-Request": "true"})
        assert htmx.status_code == 401
        assert htmx.headers["hx-redirect"] == "/login?next=%2Fpipelines"
        posted = client.post("/pipelines/daily/pause")
        assert (posted.status_code, posted.headers["location"]) == (303, "/login?next=%2F")


# sessions


def test_signing_in_sets_a_safe_cookie_and_the_role_is_read_on_each_request(
    server: Server,
) -> None:
    accounts.create_user(server.store, "mo", Role.OPERATOR, PASSWORD, server.clock.now())
    client = sign_in(server, "mo")
    cookie = next(
        value
        for name, value in client.cookies.jar._cookies["127.0.0.1"]["/"].items()  # type: ignore[attr-defined]
        if name == SESSION_COOKIE
    )
    assert cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "lax"
    assert not cookie.secure
    assert client.get("/api/v1/whoami").json() == {
        "name": "mo",
        "role": "operator",
        "via": "session",
    }
    csrf = csrf_of(client)
    assert client.post("/pipelines/daily/pause", headers={CSRF_HEADER: csrf}).status_code == 200
    # Given the role lowered, the next request is refused
    accounts.set_role(server.store, "mo", Role.VIEWER)
    assert client.post("/pipelines/daily/pause", headers={CSRF_HEADER: csrf}).status_code == 403
    # and a disabled user is signed out
    accounts.set_disabled(server.store, "mo", True)
    assert client.get("/pipelines").status_code == 303
    assert client.get("/api/v1/whoami").status_code == 401
    client.close()


def test_state_changes_with_a_session_need_the_csrf_token_and_the_same_origin(
    server: Server,
) -> None:
    client = sign_in(server, "otto")
    csrf = csrf_of(client)
    pause = "/pipelines/daily/pause"
    missing = client.post(pause)
    assert (missing.status_code, missing.json()) == (
        403,
        {"detail": "missing or wrong CSRF token; reload the page and try again"},
    )
    assert client.post(pause, headers={CSRF_HEADER: csrf + "x"}).status_code == 403
    assert client.post(pause, headers={CSRF_HEADER: csrf}).status_code == 200
    assert client.post(pause, data={CSRF_FIELD: csrf}).status_code == 200
    assert client.post(pause, data={CSRF_FIELD: "wrong"}).status_code == 403
    cross_site = client.post(pause, headers={CSRF_HEADER: csrf, "Origin": "https://evil.example"})
    assert (cross_site.status_code, cross_site.json()) == (
        403,
        {"detail": "cross-site request from 'https://evil.example' refused"},
    )
    fetched = client.post(pause, headers={CSRF_HEADER: csrf, "Sec-Fetch-Site": "cross-site"})
    assert fetched.status_code == 403
    assert client.post(pause, headers={CSRF_HEADER: csrf, "Origin": server.url}).status_code == 200
    # reading needs no CSRF token
    assert client.get("/api/v1/whoami").status_code == 200
    client.close()


def test_a_wrong_password_and_an_unknown_user_read_the_same(server: Server) -> None:
    with server.client() as client:
        form = client.get("/login")
        nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.text)
        assert nonce is not None
        answers = []
        for name in ("otto", "nobody"):
            response = client.post(
                "/login",
                data={"name": name, "password": "Hunter2-wrong", CSRF_FIELD: nonce[1]},
            )
            assert response.status_code == 401
            assert "unknown user or wrong password" in response.text
            assert "Hunter2-wrong" not in response.text
            assert SESSION_COOKIE not in response.cookies
            answers.append(response.text.replace(f'value="{name}"', 'value="NAME"'))
        assert answers[0] == answers[1]


def test_the_login_form_refuses_login_csrf(server: Server) -> None:
    data = {"name": "otto", "password": PASSWORD, CSRF_FIELD: "forged"}
    with server.client() as client:  # no nonce cookie: a form posted from another site
        refused = client.post("/login", data=data)
        assert refused.status_code == 403
        assert "this sign-in form has expired" in refused.text
        form = client.get("/login")
        nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.text)
        assert nonce is not None
        data[CSRF_FIELD] = nonce[1]
        cross = client.post("/login", data=data, headers={"Origin": "https://evil.example"})
        assert cross.status_code == 403
        assert SESSION_COOKIE not in client.cookies


def test_login_goes_only_to_local_pages(server: Server) -> None:
    with server.client() as client:
        for target, expected in (("//evil.example", "/"), ("/runs/r1", "/runs/r1")):
            form = client.get("/login", params={"next": target})
            assert f'name="next" value="{expected}"' in form.text
            nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.text)
            assert nonce is not None
            done = client.post(
                "/login",
                data={"name": "vera", "password": PASSWORD, "next": target, CSRF_FIELD: nonce[1]},
            )
            assert (done.status_code, done.headers["location"]) == (303, expected)


def test_sessions_expire_and_end_with_a_new_password(server: Server) -> None:
    accounts.create_user(server.store, "sam", Role.VIEWER, PASSWORD, server.clock.now())
    first = sign_in(server, "sam")
    second = sign_in(server, "sam")
    server.clock.advance(SESSION_LIFETIME - timedelta(seconds=1))
    assert first.get("/pipelines").status_code == 200
    accounts.set_password(server.store, "sam", "another password")
    assert first.get("/pipelines").status_code == 303
    server.clock.advance(timedelta(seconds=1))
    assert second.get("/pipelines").status_code == 303
    third = sign_in(server, "sam", "another password")
    server.clock.advance(SESSION_LIFETIME)
    assert third.get("/api/v1/whoami").status_code == 401
    for client in (first, second, third):
        client.close()


def test_logout_needs_the_csrf_token_and_ends_the_session(server: Server) -> None:
    client = sign_in(server, "vera")
    csrf = csrf_of(client)
    assert client.post("/logout").status_code == 403
    assert client.get("/pipelines").status_code == 200
    out = client.post("/logout", data={CSRF_FIELD: csrf})
    assert (out.status_code, out.headers["location"]) == (303, "/login")
    assert SESSION_COOKIE not in client.cookies
    assert client.get("/pipelines").status_code == 303
    client.close()


def test_cookies_are_secure_when_the_request_came_over_https(server: Server) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1: a TLS proxy in front of the server
    https = {"X-Forwarded-Proto": "https"}
    client = server.client(headers=https)
    form = client.get("/login")
    assert "secure" in form.headers["set-cookie"].lower()
    nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.text)
    assert nonce is not None
    origin = server.url.replace("http:", "https:")
    client.cookies.set("headwater_login", nonce[1])  # httpx keeps Secure cookies off http
    done = client.post(
        "/login",
        data={"name": "vera", "password": PASSWORD, CSRF_FIELD: nonce[1]},
        headers={"Origin": origin},
    )
    assert done.status_code == 303, done.text
    assert "secure" in done.headers["set-cookie"].lower()
    client.close()


def test_too_many_failed_sign_ins_get_429(server: Server) -> None:
    accounts.create_user(server.store, "pat", Role.VIEWER, PASSWORD, server.clock.now())
    with server.client() as client:
        form = client.get("/login")
        nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', form.text)
        assert nonce is not None
        statuses = []
        for password in ["wrong password"] * accounts.MAX_FAILURES_PER_USER_AND_CLIENT + [PASSWORD]:
            response = client.post(
                "/login", data={"name": "pat", "password": password, CSRF_FIELD: nonce[1]}
            )
            statuses.append(response.status_code)
            nonce = re.search(rf'name="{CSRF_FIELD}" value="([^"]+)"', response.text)
            assert nonce is not None
        assert statuses == [401] * accounts.MAX_FAILURES_PER_USER_AND_CLIENT + [429]
        assert response.headers["retry-after"] == "900"
        assert "too many failed sign-ins; try again in 15 minute(s)" in response.text
    server.clock.advance(accounts.LOGIN_WINDOW)
    sign_in(server, "pat").close()


# the login URL of `headwater dev`


def test_a_login_url_trades_its_token_for_a_session_that_ends_with_the_token(
    server: Server,
) -> None:
    token = accounts.create_dev_token(
        server.store, server.clock.now(), expires_in=timedelta(days=1)
    )
    with server.client() as client:
        bad = client.get("/login", params={"token": token[:-2] + "xx"})
        assert bad.status_code == 401
        assert "this login link is invalid or has expired" in bad.text
        assert token[:-2] not in bad.text
        entered = client.get("/login", params={"token": token})
        assert (entered.status_code, entered.headers["location"]) == (303, "/")
        assert entered.headers["referrer-policy"] == "no-referrer"
        assert client.get("/api/v1/whoami").json() == {
            "name": accounts.DEV_USER,
            "role": "admin",
            "via": "session",
        }
        accounts.revoke_token(server.store, token, server.clock.now())
        assert client.get("/api/v1/whoami").status_code == 401
    access_log = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, RedactTokens) for f in access_log.filters)


def test_the_login_page_is_a_standalone_form_that_cannot_be_framed(server: Server) -> None:
    with server.client() as client:
        page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert 'type="password"' in page.text
    assert "<script" not in page.text


def test_a_huge_or_unsized_login_form_is_not_read(server: Server) -> None:
    with server.client() as client:
        huge = client.post("/login", data={"name": "x" * 20_000, "password": "p"})
        assert huge.status_code == 413
        assert "the form is too large" in huge.text
        unsized = client.post(
            "/login",
            content=iter([b"name=otto&password=x"]),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert unsized.status_code == 411
