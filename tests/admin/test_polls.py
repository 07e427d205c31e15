"""Admin API for polls: create with options, list, read, update, transitions, delete, audit."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

PollMaker = Callable[..., Awaitable[dict[str, Any]]]

QUESTION = "Theo bạn Hà Nội có nên xây dựng thành phố thông minh hay không?"
MINIMAL = {"site": "hoan-kiem", "question": QUESTION, "options": ["Có", "Không", "Ý kiến khác"]}


async def _vote(state: dict[str, Any], poll: dict[str, Any]) -> None:
    """One row in the ledger: what a cast vote leaves behind."""
    await state.pool.execute(
        "INSERT INTO votes (id, poll_id, option_ids) VALUES ($1, $2, $3)",
        uuid.uuid4(),
        poll["id"],
        [int(poll["options"][0]["id"])],
    )


async def _audit(state: dict[str, Any], poll_id: str) -> list[Any]:
    return list(
        await state.pool.fetch(
            "SELECT * FROM audit_log WHERE object_type = 'poll' AND object_id = $1 ORDER BY id",
            poll_id,
        )
    )


# ---------------------------------------------------------------- create and read


async def test_minimal_body_creates_a_draft_with_defaults(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.post("/v1/admin/polls", json=MINIMAL)
    assert r.status_code == 201, r.text
    poll = r.json()
    assert r.headers["location"] == f"/v1/admin/polls/{poll['id']}"
    assert poll["site"] == "hoan-kiem"
    assert poll["question"] == QUESTION
    assert [o["label"] for o in poll["options"]] == MINIMAL["options"]
    assert len({o["id"] for o in poll["options"]}) == 3
    assert poll["status"] == "draft"
    assert poll["phase"] == "not_open"
    assert (poll["kind"], poll["min_choices"], poll["max_choices"]) == ("single", 1, 1)
    assert poll["locale"] == "vi"
    assert poll["description"] == ""
    assert poll["results_visibility"] == "always"
    assert (poll["dedupe_mode"], poll["dedupe_window_hours"]) == ("cookie", 24)
    assert poll["opens_at"] is None and poll["closes_at"] is None
    assert poll["embed"]["url"] == f"http://testserver/embed/{poll['id']}"
    assert f'data-civicpoll="{poll["id"]}"' in poll["embed"]["snippet"]

    read = await admin.get(f"/v1/admin/polls/{poll['id']}")
    assert read.status_code == 200
    assert read.json() == poll


async def test_create_with_every_field(admin: httpx.AsyncClient, site: dict[str, Any]) -> None:
    r = await admin.post(
        "/v1/admin/polls",
        json={
            **MINIMAL,
            "description": "Dòng một\nDòng hai",
            "kind": "multiple",
            "min_choices": 1,
            "max_choices": 2,
            "locale": "en",
            "results_visibility": "after_vote",
            "dedupe_mode": "cookie_ip",
            "dedupe_window_hours": 48,
            "opens_at": "2030-01-01T08:00:00+07:00",
            "closes_at": "2030-01-02T08:00:00+07:00",
        },
    )
    assert r.status_code == 201, r.text
    poll = r.json()
    assert (poll["kind"], poll["min_choices"], poll["max_choices"]) == ("multiple", 1, 2)
    assert poll["description"] == "Dòng một\nDòng hai"
    assert poll["locale"] == "en"
    assert poll["dedupe_mode"] == "cookie_ip"
    assert poll["opens_at"].startswith("2030-01-01T01:00:00")


async def test_embed_iframe_escapes_the_question(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    body = {**MINIMAL, "question": 'Có "nên" <b>xây</b> & không?'}
    poll = (await admin.post("/v1/admin/polls", json=body)).json()
    iframe = poll["embed"]["iframe"]
    assert "&quot;nên&quot; &lt;b&gt;xây&lt;/b&gt; &amp;" in iframe
    assert "<b>" not in iframe


async def test_unknown_site_and_unknown_poll_are_404(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.post("/v1/admin/polls", json={**MINIMAL, "site": "nowhere"})
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "site"
    assert (await admin.get("/v1/admin/polls/doesnotexist")).status_code == 404


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"kind": "single", "max_choices": 2}, "max_choices"),
        ({"kind": "multiple", "min_choices": 0}, "min_choices"),
        ({"kind": "multiple", "min_choices": 2, "max_choices": 1}, "max_choices"),
        ({"kind": "multiple", "max_choices": 4}, "max_choices"),
        ({"dedupe_window_hours": 0}, "dedupe_window_hours"),
        ({"opens_at": "2030-01-01T08:00:00"}, "opens_at"),
        (
            {"opens_at": "2030-01-02T08:00:00+07:00", "closes_at": "2030-01-01T08:00:00+07:00"},
            "closes_at",
        ),
        ({"options": ["Có", "Có"]}, "options"),
        ({"dedupe_mode": "captcha"}, "dedupe_mode"),
        ({"status": "open"}, "status"),
    ],
)
async def test_create_refuses_inconsistent_rules(
    admin: httpx.AsyncClient, site: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    r = await admin.post("/v1/admin/polls", json={**MINIMAL, **changes})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


# ---------------------------------------------------------------- list


async def test_list_pages_through_every_poll_once(
    admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    made = [(await make_poll(open=False))["id"] for _ in range(5)]
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        r = await admin.get("/v1/admin/polls", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        assert len(page["items"]) <= 2
        seen += [p["id"] for p in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3
    # Newest first, each poll exactly once.
    assert seen == list(reversed(made))


async def test_list_default_limit_and_filters(
    admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    drafts = [(await make_poll(open=False))["id"] for _ in range(2)]
    opened = (await make_poll())["id"]
    await admin.post("/v1/admin/sites", json={"slug": "ba-dinh", "name": "Ba Đình"})
    other = (await admin.post("/v1/admin/polls", json={**MINIMAL, "site": "ba-dinh"})).json()

    everything = (await admin.get("/v1/admin/polls")).json()
    assert {p["id"] for p in everything["items"]} == {*drafts, opened, other["id"]}
    assert everything["next_cursor"] is None

    by_status = (await admin.get("/v1/admin/polls?status=open")).json()["items"]
    assert [p["id"] for p in by_status] == [opened]
    by_site = (await admin.get("/v1/admin/polls?site=ba-dinh")).json()["items"]
    assert [p["id"] for p in by_site] == [other["id"]]
    both = (await admin.get("/v1/admin/polls?site=hoan-kiem&status=draft")).json()["items"]
    assert {p["id"] for p in both} == set(drafts)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-1", "limit"),
        ("limit=abc", "limit"),
        ("limit=²", "limit"),
        ("limit=" + "9" * 5000, "limit"),
        ("status=deleted", "status"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm90LWEtY3Vyc29y", "cursor"),
        ("cursor=MjAyNi0wMS0wMVQwMDowMDowMHxhAGI=", "cursor"),
        ("cursor=MjAyNi0wMS0wMVQwMDowMDowMHxhYmM=", "cursor"),
        ("page=2", "page"),
    ],
)
async def test_list_refuses_bad_query(
    admin: httpx.AsyncClient, site: dict[str, Any], query: str, field: str
) -> None:
    r = await admin.get(f"/v1/admin/polls?{query}")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == field


# ---------------------------------------------------------------- update


async def test_update_before_votes_may_change_options(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    r = await admin.patch(
        f"/v1/admin/polls/{poll['id']}",
        json={"question": "Câu hỏi mới?", "options": ["A", "B"], "kind": "multiple"},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["question"] == "Câu hỏi mới?"
    assert [o["label"] for o in updated["options"]] == ["A", "B"]
    assert (updated["kind"], updated["min_choices"], updated["max_choices"]) == ("multiple", 1, 2)
    assert updated["updated_at"] > poll["updated_at"]
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}")).json() == updated

    row = (await _audit(state, poll["id"]))[-1]
    assert row["action"] == "update"
    assert row["before"]["question"] == poll["question"]
    assert row["after"]["question"] == "Câu hỏi mới?"
    assert [o["label"] for o in row["after"]["options"]] == ["A", "B"]


async def test_options_cannot_change_once_a_vote_exists(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    await _vote(state, poll)
    for body in ({"options": ["A", "B"]}, {"question": "Khác?"}, {"kind": "multiple"}):
        r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json=body)
        assert r.status_code == 409, r.text
        error = r.json()["error"]
        assert error["code"] == "has_votes"
        assert error["field"] == next(iter(body))
    current = (await admin.get(f"/v1/admin/polls/{poll['id']}")).json()
    assert current["options"] == poll["options"]
    assert current["question"] == poll["question"]
    # Safe fields stay editable.
    r = await admin.patch(
        f"/v1/admin/polls/{poll['id']}",
        json={"description": "Thêm mô tả", "results_visibility": "after_close"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "Thêm mô tả"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, None),
        ({"options": ["only one"]}, 400, "options"),
        ({"max_choices": 2}, 400, "max_choices"),
        (
            {"closes_at": "2000-01-01T00:00:00+00:00", "opens_at": "2001-01-01T00:00:00+00:00"},
            400,
            "closes_at",
        ),
        ({"site": "ba-dinh"}, 400, "site"),
        ({"question": ""}, 400, "question"),
    ],
)
async def test_update_refuses_bad_bodies(
    admin: httpx.AsyncClient,
    make_poll: PollMaker,
    body: dict[str, Any],
    status: int,
    field: str | None,
) -> None:
    poll = await make_poll()
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["field"] == field
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}")).json() == poll


async def test_switching_to_multiple_choice_allows_every_option(
    admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json={"kind": "multiple"})
    assert r.status_code == 200, r.text
    assert (r.json()["min_choices"], r.json()["max_choices"]) == (1, 3)
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json={"options": ["A", "B"]})
    assert (r.json()["min_choices"], r.json()["max_choices"]) == (1, 2)
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json={"kind": "single"})
    assert (r.json()["min_choices"], r.json()["max_choices"]) == (1, 1)


async def test_update_can_clear_the_schedule(
    admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(closes_at="2031-01-01T00:00:00+00:00")
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json={"closes_at": None})
    assert r.status_code == 200
    assert r.json()["closes_at"] is None


async def test_update_unknown_poll_is_404(admin: httpx.AsyncClient, site: dict[str, Any]) -> None:
    r = await admin.patch("/v1/admin/polls/nosuchpoll", json={"question": "x"})
    assert r.status_code == 404


# ---------------------------------------------------------------- transitions


async def test_open_close_archive(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll(open=False)
    path = f"/v1/admin/polls/{poll['id']}"
    steps = [("open", "open"), ("close", "closed"), ("open", "open"), ("close", "closed")]
    for action, status in steps:
        r = await admin.post(f"{path}/{action}")
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
    r = await admin.post(f"{path}/archive")
    assert r.json()["status"] == "archived"
    for action in ("open", "close", "archive"):
        r = await admin.post(f"{path}/{action}")
        assert r.status_code == 409
        assert r.json()["error"]["code"] == "invalid_transition"
    r = await admin.patch(path, json={"description": "x"})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "archived"

    rows = await _audit(state, poll["id"])
    assert [r["action"] for r in rows] == ["create", "open", "close", "open", "close", "archive"]
    assert rows[1]["before"] == {"status": "draft"}
    assert rows[1]["after"] == {"status": "open"}


@pytest.mark.parametrize(("start_open", "action"), [(False, "close"), (True, "open")])
async def test_transition_from_the_wrong_state_is_409(
    admin: httpx.AsyncClient, make_poll: PollMaker, start_open: bool, action: str
) -> None:
    poll = await make_poll(open=start_open)
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/{action}")
    assert r.status_code == 409
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}")).json()["status"] == poll["status"]


async def test_unknown_action_is_404(admin: httpx.AsyncClient, make_poll: PollMaker) -> None:
    poll = await make_poll(open=False)
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/publish")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    assert (await admin.post("/v1/admin/polls/nosuchpoll/open")).status_code == 404


# ---------------------------------------------------------------- delete


async def test_delete_a_draft(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll(open=False)
    r = await admin.delete(f"/v1/admin/polls/{poll['id']}")
    assert r.status_code == 204
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}")).status_code == 404
    assert await state.pool.fetchval("SELECT count(*) FROM poll_options") == 0
    last = (await _audit(state, poll["id"]))[-1]
    assert last["action"] == "delete"
    assert last["before"]["question"] == poll["question"]
    assert last["before"]["votes"] == 0
    assert last["after"] is None
    assert (await admin.delete(f"/v1/admin/polls/{poll['id']}")).status_code == 404


async def test_delete_an_open_poll_needs_force(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    await _vote(state, poll)
    r = await admin.delete(f"/v1/admin/polls/{poll['id']}")
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "not_draft"
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}")).status_code == 200

    r = await admin.delete(f"/v1/admin/polls/{poll['id']}?force=true")
    assert r.status_code == 204
    assert (await admin.get(f"/v1/admin/polls/{poll['id']}")).status_code == 404
    assert await state.pool.fetchval("SELECT count(*) FROM votes") == 0
    assert (await _audit(state, poll["id"]))[-1]["before"]["votes"] == 1


async def test_every_change_is_audited_with_who_and_when(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    await admin.patch(f"/v1/admin/polls/{poll['id']}", json={"description": "d"})
    await admin.post(f"/v1/admin/polls/{poll['id']}/close")
    rows = await _audit(state, poll["id"])
    assert [r["action"] for r in rows] == ["create", "open", "update", "close"]
    token_id = await state.pool.fetchval("SELECT id FROM api_tokens")
    for row in rows:
        assert row["token_id"] == token_id
        assert row["actor"] == f"token:{token_id}"
        assert row["at"] is not None
    assert rows[0]["before"] is None
    assert rows[0]["after"]["question"] == poll["question"]
    assert "embed" not in rows[0]["after"]
    # The audit trail is readable over the API too.
    trail = (await admin.get(f"/v1/admin/polls/{poll['id']}/audit")).json()["items"]
    assert [t["action"] for t in trail] == ["create", "open", "update", "close"]


async def test_sending_current_values_back_after_votes_changes_nothing(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll()
    await _vote(state, poll)
    audit_rows = len(await _audit(state, poll["id"]))
    labels = [o["label"] for o in poll["options"]]
    same = {"kind": poll["kind"], "question": poll["question"], "options": labels}
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json=same)
    assert r.status_code == 200, r.text
    # The options kept their ids (their counts are keyed by them) and nothing was audited.
    assert r.json()["options"] == poll["options"]
    assert len(await _audit(state, poll["id"])) == audit_rows
    r = await admin.patch(
        f"/v1/admin/polls/{poll['id']}", json={**same, "description": "Mô tả mới"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["description"] == "Mô tả mới"
    assert r.json()["options"] == poll["options"]


@pytest.mark.parametrize(
    ("labels", "word"),
    [
        (["Có", "C\u200bó"], "differ"),  # a zero-width space
        (["Có", "có"], "differ"),
        (["\u0421ó", "Không"], "scripts"),  # a Cyrillic С before a Latin ó
    ],
)
async def test_options_that_look_alike_are_refused(
    admin: httpx.AsyncClient, site: dict[str, Any], labels: list[str], word: str
) -> None:
    r = await admin.post(
        "/v1/admin/polls", json={"site": site["slug"], "question": "Q?", "options": labels}
    )
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "options" and word in r.json()["error"]["message"]


async def test_vietnamese_options_are_not_taken_for_look_alikes(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    labels = ["Có", "Không", "Ý kiến khác", "Đà Nẵng", "iPhone 15 — 2026"]
    r = await admin.post(
        "/v1/admin/polls", json={"site": site["slug"], "question": "Q?", "options": labels}
    )
    assert r.status_code == 201, r.text
