"""Requests for a host other than PUBLIC_URL's are told: logged once per host (a bounded
number of hosts), shown to admins on every console page; the machine's loopback names on
PUBLIC_URL's port are the same service and are not."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.console import users
from service.core.settings import Settings
from service.ops.hosts import MAX_HOSTS, HostWatch
from tests.console.conftest import PASSWORD, sign_in


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "civicpoll.hosts"]


def test_other_ports_and_names_are_told_once_loopback_aliases_are_not(
    caplog: pytest.LogCaptureFixture,
) -> None:
    watch = HostWatch("http://localhost:8000")
    for host in (b"localhost:8000", b"127.0.0.1:8000", b"[::1]:8000", b"LOCALHOST:8000"):
        watch.see(host)
    assert watch.elsewhere == [] and _warnings(caplog) == []
    for _ in range(3):
        watch.see(b"localhost:8001")
    watch.see(b"news.example.vn")
    assert watch.elsewhere == ["localhost:8001", "news.example.vn"]
    logged = _warnings(caplog)
    assert len(logged) == 2
    assert "'localhost:8001'" in logged[0] and "PUBLIC_URL is http://localhost:8000" in logged[0]


def test_default_ports_match_and_the_list_is_bounded(caplog: pytest.LogCaptureFixture) -> None:
    watch = HostWatch("https://binhchon.example.vn")
    watch.see(b"binhchon.example.vn:443")
    watch.see(b"binhchon.example.vn")
    assert watch.elsewhere == []
    for i in range(MAX_HOSTS * 4):
        watch.see(f"h{i}.example".encode())
    watch.see(b"bad host \xff:1:2")
    assert len(watch.elsewhere) == MAX_HOSTS == len(_warnings(caplog))


async def test_the_console_shows_admins_the_other_host(
    settings: Settings, state: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The service reached at localhost:8001 while PUBLIC_URL says testserver (a fresh app:
    the session's app must not carry this warning into other tests)."""
    async with state.pool.acquire() as con:
        await con.execute("TRUNCATE users, console_sessions, login_failures CASCADE")
        await users.create_user(
            con, users.OPERATOR, email="admin@toasoan.vn", role="admin", password=PASSWORD, sites=[]
        )
    app = create_app(settings)
    logging.getLogger().addHandler(caplog.handler)  # create_app set the root's handlers
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50300))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            assert (await sign_in(c, "admin@toasoan.vn")).status_code == 303
            page = await c.get("/console/people")
            assert "data-public-url" not in page.text
            r = await c.get("/healthz", headers={"Host": "localhost:8001"})
            assert r.status_code == 200
            page = await c.get("/console/people")
            assert "data-public-url" in page.text
            assert (
                "Dịch vụ này đã được truy cập tại localhost:8001, nhưng PUBLIC_URL của nó là"
                " http://testserver" in page.text
            )
        assert len(_warnings(caplog)) == 1
