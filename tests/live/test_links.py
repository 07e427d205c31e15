"""Signed view keys (service/identity/links.py): they open their subject until they expire,
and only while the token that minted them is unrevoked."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.identity.links import key_token, view_key
from service.identity.principal import create_token
from service.live.hub import LiveHub

from .sse import PollMaker, open_stream

SECRET = b"s" * 40


def test_a_key_opens_its_subject_until_it_expires() -> None:
    key = view_key(SECRET, "poll:abc", 2_000, 7)
    assert key_token(SECRET, key, "poll:abc", now=1_999) == 7
    assert key_token(SECRET, key, "site:news", "poll:abc", now=1_999) == 7
    assert key_token(SECRET, key, "poll:abc", now=2_001) is None
    assert key_token(SECRET, key, "poll:other", now=1_999) is None
    assert key_token(b"t" * 40, key, "poll:abc", now=1_999) is None


def test_the_token_id_is_signed() -> None:
    expires, token, mac = view_key(SECRET, "poll:abc", 2_000, 7).split(".")
    assert token == "7"
    assert key_token(SECRET, f"{expires}.8.{mac}", "poll:abc", now=0) is None


def test_a_key_of_the_first_format_opens_nothing() -> None:
    # `<expiry>.<mac>` as minted before links named their token: it cannot be revoked.
    mac = hmac.new(SECRET, b"view.poll:abc.2000", hashlib.sha256).hexdigest()[:32]
    assert key_token(SECRET, f"2000.{mac}", "poll:abc", now=0) is None


def test_a_malformed_key_opens_nothing() -> None:
    longest = view_key(SECRET, "poll:abc", 9_999_999_999, 2**63 - 1)
    assert key_token(SECRET, longest, "poll:abc", now=0) == 2**63 - 1
    for key in ("", "soon.abc", "2000", "2000." + "0" * 70, "2000.x.abc", "²000.1.abc"):
        assert key_token(SECRET, key, "poll:abc", now=0) is None


Opener = tuple[httpx.AsyncClient, Any, LiveHub]


async def _app(settings: Settings, recheck: float) -> AsyncIterator[Opener]:
    app_settings = settings.with_changes(link_token_recheck_seconds=recheck)
    async with LifespanManager(create_app(app_settings)) as manager:
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50002))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c, manager.app, manager._state["services"].live


@pytest.fixture
async def fresh(settings: Settings, state: Any) -> AsyncIterator[Opener]:
    """An app that looks at the minting token on every opening (recheck 0)."""
    async for opener in _app(settings, 0.0):
        yield opener


@pytest.fixture
async def cached(settings: Settings, state: Any) -> AsyncIterator[Opener]:
    """An app that trusts its last look at a token for an hour."""
    async for opener in _app(settings, 3600.0):
        yield opener


async def _minter(state: Any, settings: Settings) -> tuple[int, str]:
    async with state.pool.acquire() as con:
        return await create_token(con, settings.secret_key, ["polls:read"], None)


async def _revoke(state: Any, token_id: int) -> None:
    await state.pool.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = $1", token_id)


async def test_revoking_the_minting_token_shuts_its_links(
    fresh: Opener, state: Any, settings: Settings, make_poll: PollMaker
) -> None:
    client, app, _ = fresh
    poll = await make_poll(results_visibility="never")
    token_id, token = await _minter(state, settings)
    auth = {"Authorization": f"Bearer {token}"}
    poll_link = await client.post(f"/v1/admin/polls/{poll['id']}/dashboard-link", headers=auth)
    site_link = await client.post(f"/v1/admin/sites/{poll['site']}/dashboard-link", headers=auth)
    assert poll_link.status_code == site_link.status_code == 201
    poll_key = poll_link.json()["url"].split("key=")[1]
    site_key = site_link.json()["url"].split("key=")[1]
    assert poll_key.split(".")[1] == str(token_id)

    data = f"/dashboard/{poll['id']}/data?key={poll_key}"
    results = f"/v1/polls/{poll['id']}/results?key={site_key}"
    site_stream = f"/dashboard/site/{poll['site']}/stream?key={site_key}"
    assert (await client.get(data)).status_code == 200
    assert (await client.get(results)).status_code == 200
    stream = await open_stream(app, site_stream)
    assert stream.status == 200
    await stream.close()

    await _revoke(state, token_id)
    for path in (data, results):
        r = await client.get(path)
        assert r.status_code == 403, path
        assert r.json()["error"]["code"] == "bad_key"
    refused = await open_stream(app, site_stream)
    assert refused.status == 403
    # Another token's links are untouched.
    _, other = await _minter(state, settings)
    r = await client.post(
        f"/v1/admin/polls/{poll['id']}/dashboard-link",
        headers={"Authorization": f"Bearer {other}"},
    )
    other_key = r.json()["url"].split("key=")[1]
    assert (await client.get(f"/dashboard/{poll['id']}/data?key={other_key}")).status_code == 200


async def test_a_deleted_token_shuts_its_links(
    fresh: Opener, state: Any, settings: Settings, make_poll: PollMaker
) -> None:
    client, _, _ = fresh
    poll = await make_poll(results_visibility="never")
    token_id, token = await _minter(state, settings)
    r = await client.post(
        f"/v1/admin/polls/{poll['id']}/dashboard-link",
        headers={"Authorization": f"Bearer {token}"},
    )
    key = r.json()["url"].split("key=")[1]
    await state.pool.execute("DELETE FROM api_tokens WHERE id = $1", token_id)
    r = await client.get(f"/dashboard/{poll['id']}/data?key={key}")
    assert r.status_code == 403 and r.json()["error"]["code"] == "bad_key"


async def test_the_token_is_looked_at_once_per_recheck_interval(
    cached: Opener, state: Any, settings: Settings, make_poll: PollMaker
) -> None:
    client, _, hub = cached
    poll = await make_poll(results_visibility="never")
    token_id, token = await _minter(state, settings)
    r = await client.post(
        f"/v1/admin/polls/{poll['id']}/dashboard-link",
        headers={"Authorization": f"Bearer {token}"},
    )
    data = f"/dashboard/{poll['id']}/data?key={r.json()['url'].split('key=')[1]}"
    answers = await asyncio.gather(*(client.get(data) for _ in range(20)))
    assert {a.status_code for a in answers} == {200}
    await _revoke(state, token_id)
    # Within the recheck interval this process still trusts what it saw...
    assert (await client.get(data)).status_code == 200
    # ...and once it looks again, the link is shut.
    hub.link_tokens.forget()
    r = await client.get(data)
    assert r.status_code == 403 and r.json()["error"]["code"] == "bad_key"
