"""Dashboards (service/live/dashboard.py): access and unlocking, signed links, the site
dashboard and its one stream, the static assets, the page's language."""

from __future__ import annotations

import json
from typing import Any

import httpx

from .sse import PollMaker, open_stream, stream_path, vote


async def test_dashboard_access(
    anon: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    public = await make_poll()
    page = await anon.get(f"/dashboard/{public['id']}")
    assert page.status_code == 200
    assert public["question"] in page.text and "data-integrity" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    hidden = await make_poll(results_visibility="never")
    locked = await anon.get(f"/dashboard/{hidden['id']}")
    assert locked.status_code == 403 and "data-unlock" in locked.text
    assert "data-option" not in locked.text

    r = await admin.post(f"/v1/admin/polls/{hidden['id']}/dashboard-link?hours=2")
    assert r.status_code == 201
    link = r.json()
    assert link["url"].startswith(f"http://testserver/dashboard/{hidden['id']}?key=")
    opened = await anon.get(link["url"])
    assert opened.status_code == 200 and "data-integrity" in opened.text
    # The language link keeps the key.
    assert "key=" in opened.text.split('class="dash-lang" href="')[1].split('"')[0]
    other = await make_poll(open=True)
    wrong = await anon.get(f"/dashboard/{other['id']}?key={link['url'].split('key=')[1]}")
    assert wrong.status_code == 403


async def test_site_dashboard_streams_every_open_poll(
    app: Any,
    anon: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    site: dict[str, Any],
    make_poll: PollMaker,
) -> None:
    first = await make_poll()
    second = await make_poll(question="Bạn có ủng hộ phố đi bộ?")
    hidden = await make_poll(question="Hidden question", results_visibility="never")
    await make_poll(open=False, question="Draft question")
    page = await anon.get(f"/dashboard/site/{site['slug']}?lang=en")
    assert page.status_code == 200 and 'lang="en"' in page.text
    assert first["question"] in page.text and second["question"] in page.text
    assert "Hidden question" not in page.text and "Draft question" not in page.text

    stream = await open_stream(app, f"/dashboard/site/{site['slug']}/stream")
    snaps = {(await stream.event()).json["poll_id"] for _ in range(2)}
    assert snaps == {first["id"], second["id"]}
    await vote(admin, second)
    update = await stream.event()
    assert update.name == "results" and update.json["poll_id"] == second["id"]
    await stream.close()

    r = await admin.post(f"/v1/admin/sites/{site['slug']}/dashboard-link")
    key = r.json()["url"].split("key=")[1]
    page = await anon.get(f"/dashboard/site/{site['slug']}?key={key}")
    assert "Hidden question" in page.text and "data-integrity" in page.text
    assert hidden["id"] in page.text


async def test_dashboard_assets(anon: httpx.AsyncClient) -> None:
    js = await anon.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in js.text
    assert (await anon.get("/dashboard/static/app.py")).status_code == 404


async def test_the_page_speaks_the_chosen_language_with_plurals(
    anon: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    await vote(admin, poll, option=0)
    en = await anon.get(f"/dashboard/{poll['id']}?lang=en")
    assert "<span data-votes>1 vote</span>" in en.text
    assert "<span data-votes>0 votes</span>" in en.text
    assert ">Last hour</option>" in en.text and ">Last 6 hours</option>" in en.text
    config = json.loads(en.text.split('id="dash-config" type="application/json">')[1].split("<")[0])
    assert config["lang"] == "en"
    assert config["t"]["votes_one"] == "{n} vote" and config["t"]["votes_other"] == "{n} votes"
    vi = await anon.get(f"/dashboard/{poll['id']}?lang=vi")
    assert 'lang="vi"' in vi.text and "<span data-votes>1 lượt</span>" in vi.text
    assert ">1 giờ qua</option>" in vi.text and "Tổng số lượt bình chọn" in vi.text
    # An unknown language falls back to Vietnamese.
    assert 'lang="vi"' in (await anon.get(f"/dashboard/{poll['id']}?lang=fr")).text


async def test_a_scale_shows_its_figures_and_admins_the_moderation_count(
    app: Any, anon: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(kind="nps", options=None, comments="premoderated", locale="en")
    stream = await open_stream(app, stream_path(poll))
    assert (await stream.event()).json["nps"]["score"] is None  # the snapshot: no answers
    r = await admin.post(f"/v1/polls/{poll['id']}/votes", json={"rating": 3})
    assert r.status_code == 201, r.text
    # The live stream carries the results shape: the dashboard's script reads NPS from it.
    update = (await stream.event()).json
    assert update["nps"] == {"score": -100, "promoters": 0, "passives": 0, "detractors": 1}
    assert update["average"] == 3.0 and update["distribution"][3]["votes"] == 1
    await stream.close()
    page = (await anon.get(f"/dashboard/{poll['id']}")).text
    assert '<dd data-stat="average">3</dd>' in page and '<dd data-stat="nps">-100</dd>' in page
    assert '<span class="dash-label">3</span>' in page
    assert "data-moderation" not in page  # only for admins
    r = await anon.post(f"/v1/polls/{poll['id']}/comments", json={"body": "Cần cải thiện"})
    assert r.status_code == 202, r.text
    link = (await admin.post(f"/v1/admin/polls/{poll['id']}/dashboard-link")).json()["url"]
    opened = (await anon.get(link)).text
    assert "Comments awaiting moderation: <strong data-moderation>1</strong>" in opened
    key = link.split("key=")[1]
    data = (await anon.get(f"/dashboard/{poll['id']}/data?key={key}")).json()
    assert data["moderation"] == 1
    assert (await anon.get(f"/dashboard/{poll['id']}/data")).json()["moderation"] is None
