"""What the widget tests share: the session's secret, hostile text, a storage stand-in,
the form's token (from a reader's own page, or fetched as the script does), counts set
behind the cache, a vote cast through the form, and a poll built in memory for the
modules' own tests."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import httpx

from service.polls.model import Poll, Site
from service.voting.keys import counts_key
from tests.polls.sample import a_poll as base_poll

PollMaker = Callable[..., Awaitable[dict[str, Any]]]
# The session settings' SECRET_KEY (tests/conftest.py).
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
XSS = '<script>alert("q")</script><img src=x onerror=alert(1)>'


class Exploding:
    """Stands in for a storage client: any use fails the request (and the test)."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"storage touched: {name}")


def token_of(html: str) -> str:
    """The token a reader's own page (an outcome, a signed voter id) carries in its form."""
    match = re.search(r'name="token" value="([^"]+)"', html)
    assert match, "the form carries no token"
    return match.group(1)


async def fresh_token(client: httpx.AsyncClient, poll_id: str) -> str:
    """A form token as the page's script fetches it when the reader starts to vote."""
    r = await client.get(f"/v1/polls/{poll_id}/token")
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store", r.text
    token: str = r.json()["token"]
    return token


async def set_counts(state: Any, poll: dict[str, Any], votes: list[int]) -> None:
    await state.redis.hset(
        counts_key(poll["id"]),
        mapping={o["id"]: v for o, v in zip(poll["options"], votes, strict=True)},
    )
    state.counts._entries.clear()


async def form_vote(
    client: httpx.AsyncClient, poll_id: str, choices: list[str], query: str = "", **extra: str
) -> httpx.Response:
    page = await client.get(f"/embed/{poll_id}?{query}")
    assert page.status_code == 200 and 'name="token"' not in page.text  # the shared page
    data = [("choice", c) for c in choices] + [("token", await fresh_token(client, poll_id))]
    data += list(extra.items())
    return await client.post(
        f"/v1/polls/{poll_id}/votes?{query}",
        content="&".join(f"{k}={v}" for k, v in data),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


_SITE = Site(
    id=1,
    slug="hoan-kiem",
    name="Hoàn Kiếm",
    allowed_origins=("https://portal.example.vn",),
    default_locale="vi",
    voter_secret=b"",
    rate_per_ip_per_minute=1000,
    burst_per_ip=1000,
    rate_per_network_per_minute=10000,
    burst_per_network=10000,
    allowlisted_networks=(),
    require_widget_token=True,
    theme={},
)


def a_poll(**changes: Any) -> Poll:
    """An open single-choice poll of three options, in memory; `changes` replace fields
    (`site_changes` those of its site)."""
    site = replace(_SITE, **changes.pop("site_changes", {}))
    return base_poll(site, **{"question": "Có nên xây dựng thành phố thông minh?", **changes})
