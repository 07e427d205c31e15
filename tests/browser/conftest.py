"""Browser fixtures: a real uvicorn on the test database and Redis, a host page server on
another origin (127.0.0.2), and Debian's headless Chromium driven by Playwright."""

from __future__ import annotations

import http.server
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Playwright, sync_playwright

from tests.serving import admin_token as make_admin_token
from tests.serving import uvicorn_process

SECRET = "browser-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
CHROMIUM = "/usr/bin/chromium"


@dataclass
class LiveServer:
    url: str  # http://localhost:PORT, also its PUBLIC_URL
    admin: httpx.Client  # carries an all-scopes admin token

    def make_site(self, slug: str, origins: list[str], **fields: Any) -> dict[str, Any]:
        body = {
            "slug": slug,
            "name": slug,
            "allowed_origins": origins,
            "rate_per_ip_per_minute": 1000,
            "burst_per_ip": 1000,
            "rate_per_network_per_minute": 10000,
            "burst_per_network": 10000,
            **fields,
        }
        r = self.admin.post("/v1/admin/sites", json=body)
        assert r.status_code == 201, r.text
        return dict(r.json())

    def make_poll(self, site: str, **fields: Any) -> dict[str, Any]:
        body = {"site": site, "question": "Có nên xây dựng thành phố thông minh?"}
        body["options"] = ["Có", "Không", "Ý kiến khác"]
        r = self.admin.post("/v1/admin/polls", json={**body, **fields})
        assert r.status_code == 201, r.text
        r = self.admin.post(f"/v1/admin/polls/{r.json()['id']}/open")
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture(scope="session")
async def admin_token(database_url: str) -> str:
    """An all-scopes admin token in the session's database (schema applied first)."""
    return await make_admin_token(database_url, SECRET)


@pytest.fixture(scope="session")
def live_server(database_url: str, redis_url: str, admin_token: str) -> Iterator[LiveServer]:
    """`uvicorn service.app:app` on a free port, serving until the session ends."""
    with uvicorn_process(
        database_url, redis_url, SECRET, admin_token, host="localhost", log_name="uvicorn.log"
    ) as (url, client):
        yield LiveServer(url, client)


@dataclass
class HostPages:
    """Pages of a news portal on another origin, registered by path."""

    origin: str
    pages: dict[str, str] = field(default_factory=dict)

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html
        return self.origin + path


@pytest.fixture(scope="session")
def host() -> Iterator[HostPages]:
    """An http.server on 127.0.0.2: a different origin (and site) from the poll service."""
    pages = HostPages("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = pages.pages.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write((body or "not found").encode())

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.2", 0), Handler)
    pages.origin = f"http://127.0.0.2:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield pages
    server.shutdown()
    server.server_close()


# Per module, not per session: while Playwright's sync API is active the thread counts as
# running an event loop, and pytest-asyncio could not run the async tests that follow.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright never downloads a browser here."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip("no Chromium at /usr/bin/chromium (run scripts/browser-deps.sh)")
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    )
    yield browser
    browser.close()


ContextMaker = Callable[..., BrowserContext]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[ContextMaker]:
    """new_context(**options) -> a fresh browser context (own cookies), closed after."""
    made: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("viewport", {"width": 900, "height": 1400})
        context = browser.new_context(**options)
        context.set_default_timeout(10_000)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
