"""The results as an SVG image (widget/svg.py)."""

from __future__ import annotations

from typing import Any

import httpx

from service.widget.svg import render_results

from .embedding import PollMaker, a_poll, set_counts


async def test_results_svg(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll(locale="en")
    await set_counts(state, poll, [3, 1, 0])
    r = await client.get(f"/v1/polls/{poll['id']}/results.svg")
    assert r.status_code == 200 and r.headers["content-type"] == "image/svg+xml"
    assert r.text.startswith("<svg") and "75%" in r.text and "Total: 4 votes" in r.text
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    again = await client.get(
        f"/v1/polls/{poll['id']}/results.svg", headers={"If-None-Match": r.headers["etag"]}
    )
    assert again.status_code == 304
    vi = await client.get(f"/v1/polls/{poll['id']}/results.svg?locale=vi")
    assert "Tổng cộng: 4 lượt bình chọn" in vi.text
    hidden = await make_poll(results_visibility="after_close")
    r = await client.get(f"/v1/polls/{hidden['id']}/results.svg")
    assert r.status_code == 403 and r.json()["error"]["code"] == "results_hidden"


def test_long_labels_are_cut_and_the_image_grows_by_row() -> None:
    poll = a_poll(options=a_poll().options[:2])
    results = {
        "total": 3,
        "options": [
            {"id": "o1", "label": "x" * 100, "votes": 2, "percent": 67},
            {"id": "o2", "label": "y" * 70, "votes": 1, "percent": 33},
        ],
    }
    body = render_results(poll, results, "en").decode()
    assert "x" * 69 + "…" in body and "x" * 70 not in body
    assert "y" * 70 in body
    assert 'height="196"' in body  # 64 + 2 rows of 46 + 40
    assert render_results(poll, results, "en").decode() == body


async def test_scale_results_svg_names_points_and_figures(
    client: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    poll = await make_poll(kind="nps", options=None, locale="en")
    await set_counts(state, poll, [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 2])
    body = (await client.get(f"/v1/polls/{poll['id']}/results.svg")).text
    assert body.count('rx="6" fill="#e6e8eb"') == 11  # one bar a point
    assert "NPS score: 25" in body and "Average: 6.8" in body and "Median: 8.5" in body
    assert "Promoters (9–10): 2 · Passives (7–8): 1 · Detractors (0–6): 1" in body
    stars = await make_poll(kind="rating", options=None)
    await set_counts(state, stars, [0, 0, 1, 1, 0])
    vi = (await client.get(f"/v1/polls/{stars['id']}/results.svg")).text
    assert ">3 sao</text>" in vi and "Trung bình: 3,5" in vi
