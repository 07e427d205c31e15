"""The held votes page over service.admin.held: groups by network, reason and minute,
release and discard of a selection or all behind a confirmation (audited with the
person's id), the CSRF check, who may act, another site's poll 404, and escaping."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import PollMaker
from tests.console.conftest import BrowserMaker, csrf_of
from tests.console.test_roles import XSS
from tests.voting.test_fair_limits import limit_site, results, states
from tests.widget.embedding import fresh_token

_GROUP = re.compile(r'name="group" value="([^"]+)"')
_VOTE = re.compile(r'name="vote" value="([^"]+)"')


async def hold(
    client: httpx.AsyncClient, poll: dict[str, Any], ip: str, n: int, browser: str = "Firefox"
) -> None:
    """From one address over the limit (one a minute): one vote counted, then n held
    (the no-script form over the limit is held, not challenged)."""
    for i in range(n + 1):
        form = f"choice={poll['options'][0]['id']}&token={await fresh_token(client, poll['id'])}"
        r = await client.post(
            f"/v1/polls/{poll['id']}/votes",
            content=form,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Forwarded-For": ip,
                "User-Agent": browser,
            },
        )
        assert r.status_code == 303, r.text
        assert ("state=held" in r.headers["location"]) == (i > 0), r.headers["location"]


async def held_poll(
    admin: httpx.AsyncClient, client: httpx.AsyncClient, make_poll: PollMaker, **fields: Any
) -> dict[str, Any]:
    """A poll with 2 votes held from 198.51.100.7 and 1 from 203.0.113.8 (another /24)."""
    await limit_site(admin)
    poll = await make_poll(dedupe_mode="none", **fields)
    await hold(client, poll, "198.51.100.7", 2)
    await hold(client, poll, "203.0.113.8", 1)
    return poll


async def held_by_network(admin: httpx.AsyncClient, poll: dict[str, Any]) -> dict[str, list[str]]:
    """The held votes' ids by network hash, as the admin API lists them."""
    listed = (await admin.get(f"/v1/admin/polls/{poll['id']}/held")).json()
    by_network: dict[str, list[str]] = {}
    for g in listed["groups"]:
        by_network.setdefault(g["network"], []).extend(v["id"] for v in g["votes"])
    return by_network


def confirmation(html: str) -> dict[str, str]:
    """The confirmation form's fields, as a browser would send them."""
    return dict(re.findall(r'name="(\w+)" value="([^"]*)"', html))


async def test_an_editor_releases_a_group_and_discards_a_vote(
    browser_as: BrowserMaker,
    make_poll: PollMaker,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
    state: Any,
) -> None:
    poll = await held_poll(admin, client, make_poll)
    assert (await results(client, poll))["held"] == 3
    editor = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    shown = await editor.get(f"/console/polls/{poll['id']}/results")
    assert shown.status_code == 200
    assert "Đang tạm giữ để xem xét: 3" in shown.text
    assert f'href="/console/polls/{poll["id"]}/held"' in shown.text

    page = await editor.get(f"/console/polls/{poll['id']}/held")
    assert page.status_code == 200
    assert "Biểu mẫu không JavaScript vượt giới hạn" in page.text  # the reason in words
    assert "(giờ Việt Nam)" in page.text and "Có" in page.text
    keys = _GROUP.findall(page.text)
    networks = await held_by_network(admin, poll)
    assert {k.partition("|")[0] for k in keys} == set(networks)
    network_of_two = next(h for h, ids in networks.items() if len(ids) == 2)
    (one_vote,) = (ids for ids in networks.values() if len(ids) == 1)
    chosen = [k for k in keys if k.startswith(network_of_two + "|")]
    # Shortened, the whole keyed hash in the title (never an address: the ledger has none).
    assert f'<code title="{network_of_two}">{network_of_two[:12]}</code>' in page.text
    assert "198.51.100" not in page.text

    token = csrf_of(page.text)
    asked = await editor.post(
        f"/console/polls/{poll['id']}/held",
        data={"csrf": token, "action": "release", "group": chosen},
    )
    assert asked.status_code == 200
    assert "Tính 2 lượt bình chọn này vào kết quả?" in asked.text
    assert (await results(client, poll))["held"] == 3  # nothing moved before confirming
    confirm = confirmation(asked.text)
    assert sorted(confirm["ids"].split()) == sorted(networks[network_of_two])
    done = await editor.post(f"/console/polls/{poll['id']}/held", data=confirm)
    assert done.status_code == 303
    assert done.headers["location"] == f"/console/polls/{poll['id']}/held?done=release&n=2"
    after = await editor.get(done.headers["location"])
    assert "Đã tính 2 lượt bình chọn vào kết quả." in after.text
    shown_results = await results(client, poll)
    assert (shown_results["held"], shown_results["total"]) == (1, 4)

    (last,) = _VOTE.findall(after.text)
    assert [last] == one_vote
    asked = await editor.post(
        f"/console/polls/{poll['id']}/held",
        data={"csrf": csrf_of(after.text), "action": "discard", "vote": last},
    )
    assert "Loại bỏ 1 lượt bình chọn này?" in asked.text
    confirm = confirmation(asked.text)
    done = await editor.post(f"/console/polls/{poll['id']}/held", data=confirm)
    assert done.headers["location"].endswith("?done=discard&n=1")
    assert (await results(client, poll))["held"] == 0
    assert sorted(await states(state, poll)) == sorted(
        [("counted", None)] * 2 + [("released", "no_script")] * 2 + [("discarded", "no_script")]
    )
    empty = await editor.get(f"/console/polls/{poll['id']}/held")
    assert "Không có lượt bình chọn nào đang tạm giữ." in empty.text

    user_id = await state.pool.fetchval("SELECT id FROM users WHERE email = 'bt@hoankiem.vn'")
    trail = await state.pool.fetch(
        "SELECT action, user_id, after FROM audit_log WHERE object_id = $1"
        " AND action LIKE '%_held' ORDER BY id",
        poll["id"],
    )
    assert [(r["action"], r["user_id"]) for r in trail] == [
        ("release_held", user_id),
        ("discard_held", user_id),
    ]


async def test_all_at_once_behind_a_confirmation(
    browser_as: BrowserMaker,
    make_poll: PollMaker,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    poll = await held_poll(admin, client, make_poll)
    boss = await browser_as("tk@hoankiem.vn", "admin")
    page = await boss.get(f"/console/polls/{poll['id']}/held?lang=en")
    assert "Held for review: 3" in page.text and "No-script form over the limit" in page.text
    asked = await boss.post(
        f"/console/polls/{poll['id']}/held",
        data={"csrf": csrf_of(page.text), "action": "discard_all"},
    )
    assert asked.status_code == 200 and "Discard these 3 votes?" in asked.text
    assert "every vote held when you confirm (now 3)" in asked.text
    assert (await results(client, poll))["held"] == 3
    done = await boss.post(f"/console/polls/{poll['id']}/held", data=confirmation(asked.text))
    assert done.headers["location"].endswith("?done=discard&n=3")
    shown = await results(client, poll)
    assert (shown["held"], shown["total"]) == (0, 2)


async def test_refused_without_the_csrf_token_or_from_another_origin(
    browser_as: BrowserMaker,
    make_poll: PollMaker,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    poll = await held_poll(admin, client, make_poll)
    editor = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    page = await editor.get(f"/console/polls/{poll['id']}/held")
    ids = " ".join(v for ids in (await held_by_network(admin, poll)).values() for v in ids)
    sent = {"action": "release", "confirmed": "1", "ids": ids}
    url = f"/console/polls/{poll['id']}/held"
    assert (await editor.post(url, data=sent)).status_code == 403
    assert (await editor.post(url, data={**sent, "csrf": "not-the-token"})).status_code == 403
    foreign = await editor.post(
        url,
        data={**sent, "csrf": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    assert (await results(client, poll))["held"] == 3


async def test_who_may_see_and_act(
    browser_as: BrowserMaker,
    make_poll: PollMaker,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    poll = await held_poll(admin, client, make_poll)
    r = await admin.post("/v1/admin/sites", json={"slug": "ba-dinh", "name": "Ba Đình"})
    assert r.status_code == 201
    url = f"/console/polls/{poll['id']}/held"
    # A moderator holds polls:read (the list), not polls:write (release and discard).
    mod = await browser_as("kd@hoankiem.vn", "moderator", ["hoan-kiem"])
    page = await mod.get(url)
    assert page.status_code == 200 and "Đang tạm giữ để xem xét: 3" in page.text
    assert 'name="action"' not in page.text and "Bạn chỉ có thể xem" in page.text
    token = csrf_of(page.text)  # the sign-out form's
    r = await mod.post(url, data={"csrf": token, "action": "release_all"})
    assert r.status_code == 403
    # Another site's editor and moderator find nothing.
    for who, role in (("e@badinh.vn", "editor"), ("m@badinh.vn", "moderator")):
        other = await browser_as(who, role, ["ba-dinh"])
        assert (await other.get(url)).status_code == 404
        assert (await other.get(f"/console/polls/{poll['id']}/results")).status_code == 404
        token = csrf_of((await other.get("/console/moderation")).text)
        r = await other.post(url, data={"csrf": token, "action": "release_all"})
        assert r.status_code == (404 if role == "editor" else 403)
        r = await other.post(url, data={"csrf": token, "action": "release_all", "confirmed": "1"})
        assert r.status_code == (404 if role == "editor" else 403)
    assert (await results(client, poll))["held"] == 3


async def test_bad_selections_are_told_and_user_text_is_escaped(
    browser_as: BrowserMaker,
    make_poll: PollMaker,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
) -> None:
    await limit_site(admin)
    poll = await make_poll(dedupe_mode="none", question=f"Hỏi {XSS}", options=[XSS, "B"])
    await hold(client, poll, "198.51.100.9", 1, browser=XSS)
    editor = await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    url = f"/console/polls/{poll['id']}/held"
    page = await editor.get(url)
    assert "<script>alert" not in page.text and "&lt;script&gt;" in page.text
    token = csrf_of(page.text)
    nothing = await editor.post(url, data={"csrf": token, "action": "release"})
    assert nothing.status_code == 400 and "Chưa chọn lượt bình chọn nào" in nothing.text
    bad = await editor.post(url, data={"csrf": token, "action": "approve", "vote": "x"})
    assert bad.status_code == 400
    bad = await editor.post(url, data={"csrf": token, "action": "release", "vote": "x"})
    assert bad.status_code == 400
    bad = await editor.post(
        url, data={"csrf": token, "action": "release", "confirmed": "1", "ids": "nope"}
    )
    assert bad.status_code == 400
    assert (await results(client, poll))["held"] == 1
