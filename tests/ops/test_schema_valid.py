"""The document and the checks agree on the requests schemathesis found refused although
the document called them valid: each is now either accepted, or stated as invalid by the
document (validated here with jsonschema-rs against /openapi.json itself)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Any

import httpx
import jsonschema_rs
import pytest

from tests.conftest import PollMaker


@pytest.fixture
async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    return dict((await client.get("/openapi.json")).json())


def _valid_body(document: dict[str, Any], name: str, body: object) -> bool:
    schema = {"$ref": f"#/components/schemas/{name}", "components": document["components"]}
    return bool(jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(body))


def _valid_param(document: dict[str, Any], method: str, path: str, name: str, value: str) -> bool:
    params = document["paths"][path][method]["parameters"]
    schema = next(p["schema"] for p in params if p["name"] == name)
    return bool(jsonschema_rs.validator_for(schema).is_valid(value))


async def test_a_whole_number_written_with_a_fraction_is_an_integer(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    # JSON Schema's integer is a number without a fractional part: 4.0 is one.
    r = await admin.patch(f"/v1/admin/sites/{site['slug']}", json={"burst_per_ip": 4.0})
    assert (r.status_code, r.json()["burst_per_ip"]) == (200, 4), r.text
    body = {"site": site["slug"], "question": "Mấy sao?", "kind": "rating", "range": 4.0}
    r = await admin.post("/v1/admin/polls", json=body)
    assert (r.status_code, r.json()["range"]) == (201, 4), r.text
    r = await admin.patch(f"/v1/admin/sites/{site['slug']}", json={"burst_per_ip": 4.5})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "burst_per_ip")


async def test_cursors_have_a_stated_shape_that_always_decodes(
    admin: httpx.AsyncClient, make_poll: PollMaker, document: dict[str, Any]
) -> None:
    for _ in range(3):
        await make_poll()
    first = (await admin.get("/v1/admin/polls", params={"limit": 2})).json()
    cursor = first["next_cursor"]
    assert _valid_param(document, "get", "/v1/admin/polls", "cursor", cursor)
    rest = (await admin.get("/v1/admin/polls", params={"limit": 2, "cursor": cursor})).json()
    assert len(first["items"]) + len(rest["items"]) == 3
    # Any text of the stated shape is a cursor (an empty page, not a 400) ...
    assert _valid_param(document, "get", "/v1/admin/polls", "cursor", "0~abc")
    r = await admin.get("/v1/admin/polls", params={"cursor": "0~abc"})
    assert (r.status_code, r.json()["items"]) == (200, [])
    # ... and an empty one is outside it, refused by both.
    for path in ("/v1/admin/polls", "/v1/admin/sites/{slug}/comments"):
        assert not _valid_param(document, "get", path, "cursor", "")
    r = await admin.get("/v1/admin/polls", params={"cursor": ""})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "cursor")


async def test_an_empty_reason_or_a_blank_id_is_invalid_by_the_document_too(
    admin: httpx.AsyncClient, make_poll: PollMaker, document: dict[str, Any]
) -> None:
    poll = await make_poll(comments="premoderated")
    path = "/v1/admin/polls/{poll_id}/comments"
    assert not _valid_param(document, "get", path, "reason", "")
    assert _valid_param(document, "get", path, "reason", "link")
    r = await admin.get(f"/v1/admin/polls/{poll['id']}/comments", params={"reason": ""})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "reason")
    for ids in ([""], [" "], ["not-a-uuid"]):
        body = {"ids": ids, "action": "approve"}
        assert not _valid_body(document, "BulkBody", body)
        r = await admin.post("/v1/admin/comments/moderate", json=body)
        assert (r.status_code, r.json()["error"]["field"]) == (400, "ids")
    assert _valid_body(document, "BulkBody", {"ids": [str(uuid.uuid4())], "action": "approve"})


async def test_a_held_selection_is_ids_or_all_and_fits_the_body_limit(
    admin: httpx.AsyncClient, make_poll: PollMaker, document: dict[str, Any]
) -> None:
    poll = await make_poll()
    url = f"/v1/admin/polls/{poll['id']}/held/release"
    for body in ({}, {"all": False}, {"ids": [], "all": False}, {"ids": [], "all": True}):
        assert not _valid_body(document, "HeldSelection", body), body
        r = await admin.post(url, json=body)
        assert (r.status_code, r.json()["error"]["field"]) == (400, "ids"), body
    # As many ids as the document allows fit in a body (no 413); one more is a 400.
    most = [str(uuid.uuid4()) for _ in range(1000)]
    assert _valid_body(document, "HeldSelection", {"ids": most})
    r = await admin.post(url, json={"ids": most})
    assert (r.status_code, r.json()["released"]) == (200, 0), r.text
    too_many = [*most, str(uuid.uuid4())]
    assert not _valid_body(document, "HeldSelection", {"ids": too_many})
    r = await admin.post(url, json={"ids": too_many})
    assert (r.status_code, r.json()["error"]["field"]) == (400, "ids")
    r = await admin.post(url, json={"all": True})
    assert r.status_code == 200, r.text


def test_the_documents_text_patterns_leave_out_every_control_and_format_character() -> None:
    # admin/schemas._BAD: text made only of these is refused or empty for clean_text.
    from service.admin.schemas import _BAD

    bad = re.compile(f"[{_BAD}]")
    missed = [
        f"U+{c:04X}"
        for c in range(0x110000)
        if unicodedata.category(chr(c)) in ("Cc", "Cf", "Co") and not bad.match(chr(c))
    ]
    assert missed == []
