"""Rating, NPS and Likert questions through the API: creating them, voting with
{"rating": n}, and the results a scale gets (count, average, median, distribution, NPS)."""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from tests.conftest import PollMaker


async def rate(client: httpx.AsyncClient, poll: dict[str, Any], **body: Any) -> httpx.Response:
    headers = {
        "X-Forwarded-For": f"198.51.100.{secrets.randbelow(250)}",
        "Cookie": f"pv={secrets.token_urlsafe(12)}",
    }
    return await client.post(f"/v1/polls/{poll['id']}/votes", json=body, headers=headers)


async def test_star_rating_counts_and_summarises(client, make_poll: PollMaker):
    poll = await make_poll(
        kind="rating",
        options=None,
        low_label="Rất tệ",
        high_label="Rất tốt",
        question="Bạn hài lòng thế nào với bộ phận một cửa mới?",
    )
    assert [o["value"] for o in poll["options"]] == [1, 2, 3, 4, 5]
    assert (poll["scale"], poll["range"], poll["low_label"]) == ("stars", 5, "Rất tệ")
    for rating in (5, 4, 4, 1):
        r = await rate(client, poll, rating=rating)
        assert r.status_code == 201, r.text
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert (results["count"], results["average"], results["median"]) == (4, 3.5, 4.0)
    dist = {d["value"]: (d["votes"], d["percent"]) for d in results["distribution"]}
    assert dist == {1: (1, 25), 2: (0, 0), 3: (0, 0), 4: (2, 50), 5: (1, 25)}
    assert "nps" not in results


async def test_nps_results_carry_the_score(client, make_poll: PollMaker):
    poll = await make_poll(kind="nps", options=None)
    assert [o["value"] for o in poll["options"]] == list(range(11))
    empty = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert empty["nps"] == {"score": None, "promoters": 0, "passives": 0, "detractors": 0}
    for rating in (10, 9, 8, 0):
        assert (await rate(client, poll, rating=rating)).status_code == 201
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert results["nps"] == {"score": 25, "promoters": 2, "passives": 1, "detractors": 1}


async def test_likert_labels_come_from_the_catalog(client, make_poll: PollMaker):
    poll = await make_poll(
        kind="likert",
        options=None,
        range=7,
        question="Phường nên cấm ô tô trên phố Hàng Bồ vào cuối tuần",
    )
    labels = [o["label"] for o in poll["options"]]
    assert labels[0] == "Hoàn toàn không đồng ý" and labels[-1] == "Hoàn toàn đồng ý"
    assert len(labels) == 7
    assert (await rate(client, poll, rating=6)).status_code == 201
    results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert results["distribution"][5] == {
        "value": 6,
        "label": "Đồng ý",
        "votes": 1,
        "percent": 100,
    }


async def test_rating_answers_are_checked(client, make_poll: PollMaker):
    poll = await make_poll(kind="rating", options=None, range=3)
    for body, field in (
        ({"rating": 4}, "rating"),
        ({"rating": 0}, "rating"),
        ({}, "rating"),
        ({"rating": 1, "choices": [poll["options"][0]["id"]]}, "choices"),
        ({"choices": ["999999"]}, "choices"),
        ({"rating": 2, "other_text": "thêm"}, "other_text"),
    ):
        r = await rate(client, poll, **body)
        assert r.status_code == 400, (body, r.text)
        assert r.json()["error"]["field"] == field
    by_id = await rate(client, poll, choices=[poll["options"][2]["id"]])  # a point by its id
    assert by_id.status_code == 201, by_id.text
    assert (await client.get(f"/v1/polls/{poll['id']}/results")).json()["average"] == 3.0
    choice = await make_poll()
    r = await rate(client, choice, rating=3)
    assert (r.status_code, r.json()["error"]["field"]) == (400, "rating")


async def test_rating_dedupes_like_a_vote(client, make_poll: PollMaker):
    poll = await make_poll(kind="nps", options=None)
    headers = {"Cookie": "pv=one-reader", "X-Forwarded-For": "198.51.100.7"}
    url = f"/v1/polls/{poll['id']}/votes"
    assert (await client.post(url, json={"rating": 9}, headers=headers)).status_code == 201
    again = await client.post(url, json={"rating": 3}, headers=headers)
    assert (again.status_code, again.json()["error"]["code"]) == (409, "already_voted")


async def test_rating_form_post_counts(client, make_poll: PollMaker):
    poll = await make_poll(kind="rating", options=None)
    r = await client.post(
        f"/v1/polls/{poll['id']}/votes", data={"rating": "4"}, headers={"Cookie": "pv=form-r"}
    )
    assert r.status_code == 303 and r.headers["location"].endswith("state=voted")
    bad = await client.post(
        f"/v1/polls/{poll['id']}/votes", data={"rating": "²"}, headers={"Cookie": "pv=form-s"}
    )
    assert bad.headers["location"].endswith("state=invalid")


async def test_scale_creation_is_checked(admin, site):
    base = {"site": site["slug"], "question": "Đánh giá"}
    for body, field in (
        ({"kind": "rating", "range": 11}, "range"),
        ({"kind": "rating", "range": 2}, "range"),
        ({"kind": "likert", "range": 6}, "range"),
        ({"kind": "nps", "range": 5}, "range"),
        ({"kind": "rating", "options": ["a", "b"]}, "options"),
        ({"kind": "single", "range": 5, "options": ["a", "b"]}, "range"),
        ({"kind": "single"}, "options"),
        ({"kind": "rating", "scale": "hearts"}, "scale"),
        ({"kind": "rating", "low_label": "x" * 61}, "low_label"),
    ):
        r = await admin.post("/v1/admin/polls", json={**base, **body})
        assert r.status_code in (400, 422), (body, r.text)
        assert r.json()["error"]["field"] == field, (body, r.text)


async def test_scale_locked_once_answered_but_labels_are_not(client, admin, make_poll):
    poll = await make_poll(kind="rating", options=None)
    assert (await rate(client, poll, rating=3)).status_code == 201
    url = f"/v1/admin/polls/{poll['id']}"
    r = await admin.patch(url, json={"range": 7})
    assert (r.status_code, r.json()["error"]["field"]) == (409, "range")
    r = await admin.patch(url, json={"high_label": "Tuyệt vời", "scale": "number"})
    assert r.status_code == 200, r.text
    assert (r.json()["high_label"], r.json()["scale"]) == ("Tuyệt vời", "number")


async def test_kind_change_before_votes_rebuilds_the_options(admin, make_poll):
    poll = await make_poll(open=False)
    url = f"/v1/admin/polls/{poll['id']}"
    r = await admin.patch(url, json={"kind": "likert"})
    assert r.status_code == 200, r.text
    assert [o["value"] for o in r.json()["options"]] == [1, 2, 3, 4, 5]
    back = await admin.patch(url, json={"kind": "single"})
    assert (back.status_code, back.json()["error"]["field"]) == (400, "options")
    r = await admin.patch(url, json={"kind": "single", "options": ["Có", "Không"]})
    assert r.status_code == 200 and "range" not in r.json()
