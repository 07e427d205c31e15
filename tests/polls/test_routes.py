"""Public read: a poll as a voter sees it, with no secrets and no drafts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

PollMaker = Callable[..., Awaitable[dict[str, Any]]]

PUBLIC_KEYS = {
    "comments",
    "max_comments_per_voter",
    "id",
    "site",
    "question",
    "description",
    "kind",
    "min_choices",
    "max_choices",
    "locale",
    "status",
    "opens_at",
    "closes_at",
    "results_visibility",
    "options",
}


async def test_open_poll_as_a_voter_sees_it(
    client: httpx.AsyncClient, make_poll: PollMaker, site: dict[str, Any]
) -> None:
    poll = await make_poll(description="Mô tả")
    client.headers.pop("Authorization", None)
    r = await client.get(f"/v1/polls/{poll['id']}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == PUBLIC_KEYS
    assert body["id"] == poll["id"]
    assert body["question"] == poll["question"]
    assert body["description"] == "Mô tả"
    assert body["status"] == "open"
    assert body["options"] == poll["options"]
    assert r.headers["cache-control"].startswith("public")
    # No secrets and no de-duplication internals.
    assert site["voter_secret"] not in r.text
    for secret in ("voter_secret", "dedupe", "embed", "allowed_origins", "token"):
        assert secret not in r.text


async def test_drafts_and_unknown_polls_are_404_alike(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    draft = await make_poll(open=False)
    a = await client.get(f"/v1/polls/{draft['id']}")
    b = await client.get("/v1/polls/nosuchpoll")
    c = await client.get("/v1/polls/" + "%00")
    assert a.status_code == b.status_code == c.status_code == 404
    assert a.json() == b.json()
    assert draft["question"] not in a.text


@pytest.mark.parametrize(("action", "phase"), [("close", "closed"), ("archive", "closed")])
async def test_closed_and_archived_polls_stay_readable(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    make_poll: PollMaker,
    action: str,
    phase: str,
) -> None:
    poll = await make_poll()
    assert (await admin.post(f"/v1/admin/polls/{poll['id']}/{action}")).status_code == 200
    r = await client.get(f"/v1/polls/{poll['id']}")
    assert r.status_code == 200
    assert r.json()["status"] == phase


async def test_scheduled_poll_reports_its_phase(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    future = await make_poll(opens_at="2999-01-01T00:00:00+00:00")
    past = await make_poll(closes_at="2000-01-01T00:00:00+00:00")
    assert (await client.get(f"/v1/polls/{future['id']}")).json()["status"] == "not_open"
    assert (await client.get(f"/v1/polls/{past['id']}")).json()["status"] == "closed"


async def test_admin_changes_show_at_once(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    first = await client.get(f"/v1/polls/{poll['id']}")
    assert first.json()["question"] == poll["question"]
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json={"question": "Đã sửa?"})
    assert r.status_code == 200
    assert (await client.get(f"/v1/polls/{poll['id']}")).json()["question"] == "Đã sửa?"
    await admin.delete(f"/v1/admin/polls/{poll['id']}?force=true")
    assert (await client.get(f"/v1/polls/{poll['id']}")).status_code == 404


async def test_a_cached_404_clears_when_the_draft_opens(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    # The poll cache has seen the draft; opening it must not wait for the cache to expire.
    draft = await make_poll(open=False)
    assert (await client.get(f"/v1/polls/{draft['id']}")).status_code == 404
    assert (await admin.post(f"/v1/admin/polls/{draft['id']}/open")).status_code == 200
    assert (await client.get(f"/v1/polls/{draft['id']}")).status_code == 200


async def test_results_hidden_until_close_for_the_public(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(results_visibility="after_close")
    admin_header = admin.headers["Authorization"]
    client.headers.pop("Authorization", None)
    r = await client.get(f"/v1/polls/{poll['id']}/results")
    assert r.status_code == 403
    assert r.json()["error"]["code"] == "results_hidden"
    # A token with polls:read sees them; a bad token is refused outright.
    r = await client.get(f"/v1/polls/{poll['id']}/results", headers={"Authorization": admin_header})
    assert r.status_code == 200
    r = await client.get(
        f"/v1/polls/{poll['id']}/results", headers={"Authorization": "Bearer cp_nope"}
    )
    assert r.status_code == 401
