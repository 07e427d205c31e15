"""POST /v1/polls/{id}/votes as a client sees it: poll phases, the voter cookie, the
widget form's redirect, the results a vote answers with, metrics and body limits."""

from __future__ import annotations

import secrets

import pytest

from tests.conftest import PollMaker
from tests.voting.voter import vote


async def test_closed_and_not_yet_open_polls_refuse(client, admin, make_poll: PollMaker):
    draft = await make_poll(open=False)
    assert (await vote(client, draft)).status_code == 404  # drafts do not exist publicly
    later = await make_poll(opens_at="2999-01-01T00:00:00+07:00")
    r = await vote(client, later)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "poll_not_open")
    poll = await make_poll()
    assert (await admin.post(f"/v1/admin/polls/{poll['id']}/close")).status_code == 200
    r = await vote(client, poll)
    assert (r.status_code, r.json()["error"]["code"]) == (409, "poll_closed")
    figures = (await admin.get(f"/v1/admin/polls/{poll['id']}/integrity")).json()
    assert figures["closed"] == 1


async def test_cookie_is_set_when_absent_and_identifies_the_voter(client, make_poll):
    poll = await make_poll()
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        json={"choices": [poll["options"][0]["id"]]},
        headers={"X-Forwarded-For": "203.0.113.1"},
    )
    assert r.status_code == 201
    cookie = r.headers["set-cookie"]
    for part in ("Secure", "HttpOnly", "SameSite=None", "Partitioned", "Max-Age="):
        assert part in cookie
    voter = r.cookies["pv"]
    again = await vote(client, poll, cookie=voter)
    assert again.status_code == 409


async def test_form_post_redirects_back_to_the_poll(client, make_poll, state):
    poll = await make_poll()
    option = poll["options"][1]["id"]
    form = {"choice": option, "page": "https://portal.example.vn/tin-tuc/bai-1?session=x"}
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes?locale=en&wid=2",
        data=form,
        headers={"X-Forwarded-For": "203.0.113.9", "Cookie": "pv=form-voter-1"},
    )
    assert r.status_code == 303
    assert r.headers["location"] == f"/embed/{poll['id']}?locale=en&wid=2&state=voted"
    again = await client.post(
        f"/v1/polls/{poll['id']}/votes", data=form, headers={"Cookie": "pv=form-voter-1"}
    )
    assert again.headers["location"].endswith("state=already_voted")
    page = await state.pool.fetchval("SELECT page_url FROM votes WHERE poll_id = $1", poll["id"])
    assert page == "https://portal.example.vn/tin-tuc/bai-1"


@pytest.mark.parametrize(
    ("visibility", "before", "after_vote"),
    [
        ("always", 200, 200),
        ("after_vote", 403, 200),
        ("after_close", 403, 403),
        ("never", 403, 403),
    ],
)
async def test_results_visibility(client, make_poll, visibility, before, after_vote):
    poll = await make_poll(results_visibility=visibility)
    url = f"/v1/polls/{poll['id']}/results"
    r = await client.get(url, headers={"Cookie": "pv=visibility-voter"})
    assert r.status_code == before
    voted = await vote(client, poll, cookie="visibility-voter")
    assert (voted.json()["results"] is not None) == (visibility in ("always", "after_vote"))
    r = await client.get(url, headers={"Cookie": "pv=visibility-voter"})
    assert r.status_code == after_vote


async def test_admins_always_see_results(client, make_poll, make_token):
    poll = await make_poll(results_visibility="never")
    await vote(client, poll)
    token = await make_token(["polls:read"])
    r = await client.get(
        f"/v1/polls/{poll['id']}/results", headers={"Authorization": f"Bearer {token}"}
    )
    assert (r.status_code, r.json()["total"]) == (200, 1)
    r = await client.get(
        f"/v1/admin/polls/{poll['id']}/results", headers={"Authorization": f"Bearer {token}"}
    )
    assert r.json()["ledger"]["total"] == 1


async def test_results_have_etag_and_short_public_cache(client, make_poll):
    poll = await make_poll()
    await vote(client, poll)
    r = await client.get(f"/v1/polls/{poll['id']}/results")
    assert r.headers["cache-control"] == "public, max-age=1"
    r2 = await client.get(
        f"/v1/polls/{poll['id']}/results", headers={"If-None-Match": r.headers["etag"]}
    )
    assert r2.status_code == 304


async def test_export_csv_and_json(admin, client, make_poll):
    poll = await make_poll()
    for _ in range(3):
        await vote(client, poll)
    csv_text = (await admin.get(f"/v1/admin/polls/{poll['id']}/export")).text
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("id,cast_at,option_ids") and len(lines) == 4
    jsonl = (await admin.get(f"/v1/admin/polls/{poll['id']}/export?format=json")).text
    assert len(jsonl.strip().splitlines()) == 3
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}/export?format=xml")).status_code == 400


async def test_metrics_carry_per_poll_figures_and_latency(client, admin, make_poll):
    poll = await make_poll()
    voter = secrets.token_urlsafe(12)
    assert (await vote(client, poll, cookie=voter)).status_code == 201
    assert (await vote(client, poll, cookie=voter)).status_code == 409
    text = (await admin.get("/metrics")).text  # per-poll series need a token
    assert f'civicpoll_poll_votes_total{{outcome="accepted",poll="{poll["id"]}"}} 1.0' in text
    assert f'civicpoll_poll_votes_total{{outcome="duplicate",poll="{poll["id"]}"}} 1.0' in text
    assert "civicpoll_vote_seconds_bucket" in text


async def test_a_chunked_body_is_cut_off_at_the_limit(client, make_poll):
    poll = await make_poll()

    async def chunks():
        for _ in range(100):  # 100 KiB without a Content-Length
            yield b" " * 1024

    r = await client.post(
        f"/v1/polls/{poll['id']}/votes",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "too_large"
