"""/docs in Chromium: Swagger UI renders the OpenAPI document under our CSP, offline."""

from __future__ import annotations

import pytest

from tests.browser.conftest import ContextMaker, LiveServer

pytestmark = pytest.mark.browser


def test_api_reference_renders_every_operation_from_our_origin(
    live_server: LiveServer, new_context: ContextMaker
) -> None:
    page = new_context().new_page()
    problems: list[str] = []
    outside: list[str] = []
    failed: list[str] = []
    # Failed loads are listed by URL below (the favicon is the console's business).
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda r: (
            failed.append(r.url) if r.status >= 400 and not r.url.endswith("/favicon.ico") else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url),
    )
    page.goto(live_server.url + "/docs")
    page.wait_for_selector(".opblock-summary-path")
    shown = set(
        page.locator(".opblock-summary-path").evaluate_all(
            "els => els.map(e => e.getAttribute('data-path'))"
        )
    )
    document = live_server.admin.get("/openapi.json").json()
    assert shown == set(document["paths"]), set(document["paths"]) ^ shown
    assert outside == []
    assert problems == []
    assert failed == []
