"""Bad input: strict bodies, text rules, size limit, and no input that produces a 500."""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from service.core.errors import BadRequest
from service.core.validation import MAX_BODY, clean_text

PollMaker = Callable[..., Awaitable[dict[str, Any]]]

MINIMAL = {"site": "hoan-kiem", "question": "Câu hỏi?", "options": ["Có", "Không"]}


def _error(r: httpx.Response) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "field"}
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


# ---------------------------------------------------------------- Unicode


async def test_decomposed_vietnamese_reads_back_composed(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    nfd = unicodedata.normalize("NFD", "Hà Nội có nên xây dựng thành phố thông minh?")
    assert nfd != unicodedata.normalize("NFC", nfd)
    option = unicodedata.normalize("NFD", "Ý kiến khác")
    raw = json.dumps(
        {"site": "hoan-kiem", "question": nfd, "options": ["Có", option]}, ensure_ascii=False
    ).encode()
    r = await admin.post(
        "/v1/admin/polls", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 201, r.text
    poll = r.json()
    assert poll["question"] == "Hà Nội có nên xây dựng thành phố thông minh?"
    assert unicodedata.is_normalized("NFC", poll["question"])
    assert poll["options"][1]["label"] == "Ý kiến khác"
    again = (await admin.get(f"/v1/admin/polls/{poll['id']}")).json()
    assert again["question"].encode() == "Hà Nội có nên xây dựng thành phố thông minh?".encode()


async def test_escaped_unicode_is_normalised_too(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    nfd = unicodedata.normalize("NFD", "Hà Nội")
    raw = json.dumps({**MINIMAL, "question": nfd}, ensure_ascii=True).encode()
    assert b"\\u0300" in raw
    r = await admin.post("/v1/admin/polls", content=raw)
    assert r.status_code == 201, r.text
    assert r.json()["question"] == "Hà Nội"


async def test_text_is_trimmed(admin: httpx.AsyncClient, site: dict[str, Any]) -> None:
    r = await admin.post("/v1/admin/polls", json={**MINIMAL, "question": "  Có không?\n "})
    assert r.json()["question"] == "Có không?"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("question", "Có\x00không"),
        ("question", "Có\x1bkhông"),
        ("question", "Có\nkhông"),
        ("question", "Có\u0085không"),
        ("question", "abc\u202etxt.exe"),
        ("question", "\ue000 riêng"),
        ("options", ["Có", "Kh\x07ông"]),
        ("description", "mô\x0btả"),
    ],
)
async def test_control_characters_are_refused(
    admin: httpx.AsyncClient, site: dict[str, Any], field: str, value: Any
) -> None:
    r = await admin.post("/v1/admin/polls", json={**MINIMAL, field: value})
    assert r.status_code == 400, r.text
    error = _error(r)
    assert error["field"] == field
    assert "control character" in error["message"]


async def test_description_may_hold_newlines_and_tabs(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.post("/v1/admin/polls", json={**MINIMAL, "description": "một\n\thai"})
    assert r.status_code == 201
    assert r.json()["description"] == "một\n\thai"


# ---------------------------------------------------------------- lengths and shapes


@pytest.mark.parametrize(
    ("changes", "field", "ok"),
    [
        ({"question": "ệ" * 500}, "question", True),
        ({"question": "ệ" * 501}, "question", False),
        # 500 characters once composed, 1000 code points as sent.
        ({"question": unicodedata.normalize("NFD", "ệ") * 500}, "question", True),
        ({"question": ""}, "question", False),
        ({"question": "   "}, "question", False),
        ({"question": "\u200b\ufeff"}, "question", False),
        ({"options": ["a" * 200, "b"]}, "options", True),
        ({"options": ["a" * 201, "b"]}, "options", False),
        ({"options": ["a", ""]}, "options", False),
        ({"options": ["a"]}, "options", False),
        ({"options": []}, "options", False),
        ({"options": [str(i) for i in range(20)]}, "options", True),
        ({"options": [str(i) for i in range(21)]}, "options", False),
        ({"description": "d" * 2000}, "description", True),
        ({"description": "d" * 2001}, "description", False),
    ],
)
async def test_lengths(
    admin: httpx.AsyncClient, site: dict[str, Any], changes: dict[str, Any], field: str, ok: bool
) -> None:
    r = await admin.post("/v1/admin/polls", json={**MINIMAL, **changes})
    if ok:
        assert r.status_code == 201, r.text
    else:
        assert r.status_code == 400, r.text
        assert _error(r)["field"] == field


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**MINIMAL, "question": 5}, "question"),
        ({**MINIMAL, "options": "Có, Không"}, "options"),
        ({**MINIMAL, "options": ["Có", 2]}, "options"),
        ({**MINIMAL, "kind": "ranked"}, "kind"),
        ({**MINIMAL, "dedupe_window_hours": "24"}, "dedupe_window_hours"),
        ({**MINIMAL, "dedupe_window_hours": 1.5}, "dedupe_window_hours"),
        ({**MINIMAL, "min_choices": True}, "min_choices"),
        ({**MINIMAL, "opens_at": "tomorrow"}, "opens_at"),
        ({**MINIMAL, "colour": "red"}, "colour"),
        ({"question": "Q", "options": ["a", "b"]}, "site"),
        ({"site": "hoan-kiem", "options": ["a", "b"]}, "question"),
    ],
)
async def test_types_required_and_unknown_fields_name_the_field(
    admin: httpx.AsyncClient, site: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    r = await admin.post("/v1/admin/polls", json=body)
    assert r.status_code == 400, r.text
    error = _error(r)
    assert error["code"] == "invalid"
    assert error["field"] == field


@pytest.mark.parametrize(
    "raw", [b"", b"{", b"[]", b"null", b'"x"', b"{'site': 1}", b"\xff\xfe", b"{}{}"]
)
async def test_malformed_json_is_400(
    admin: httpx.AsyncClient, site: dict[str, Any], raw: bytes
) -> None:
    r = await admin.post(
        "/v1/admin/polls", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400, r.text
    _error(r)


async def test_other_media_types_are_415(admin: httpx.AsyncClient, site: dict[str, Any]) -> None:
    r = await admin.post(
        "/v1/admin/polls",
        content=json.dumps(MINIMAL),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert _error(r)["field"] == "Content-Type"


async def test_bodies_over_64_kib_are_413(
    admin: httpx.AsyncClient, site: dict[str, Any], state: dict[str, Any]
) -> None:
    big = {**MINIMAL, "description": "x" * MAX_BODY}
    r = await admin.post("/v1/admin/polls", json=big)
    assert r.status_code == 413
    assert _error(r)["code"] == "too_large"

    # Without a Content-Length (chunked), the limit holds while reading.
    async def chunks() -> Any:
        for _ in range(MAX_BODY // 1024 + 2):
            yield b" " * 1024

    r = await admin.post(
        "/v1/admin/polls", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert await state.pool.fetchval("SELECT count(*) FROM polls") == 0


async def test_a_body_of_exactly_64_kib_is_read(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    raw = json.dumps(MINIMAL).encode()
    raw = raw[:-1] + b" " * (MAX_BODY - len(raw)) + b"}"
    assert len(raw) == MAX_BODY
    r = await admin.post("/v1/admin/polls", content=raw)
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("value", [b"abc", b"-1", b"\xb2", b"1e3", b""])
async def test_bad_content_length_is_400(
    admin: httpx.AsyncClient, site: dict[str, Any], value: bytes
) -> None:
    r = await admin.post("/v1/admin/polls", content=b"{}", headers={"Content-Length": value})
    assert r.status_code == 400, r.text


async def test_an_absurd_content_length_is_413(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.post("/v1/admin/polls", content=b"{}", headers={"Content-Length": "9" * 5000})
    assert r.status_code == 413, r.text


def test_clean_text_rules() -> None:
    assert clean_text(" Ha\u0300 ", "f", max_len=5) == "Hà"
    with pytest.raises(BadRequest) as info:
        clean_text("x" * 6, "f", max_len=5)
    assert info.value.field == "f"
    assert clean_text("", "f", max_len=5, min_len=0) == ""
    assert clean_text("a\nb", "f", max_len=5, multiline=True) == "a\nb"
    with pytest.raises(BadRequest):
        clean_text("a\nb", "f", max_len=5)
    # Emoji sequences with a zero-width joiner are ordinary text.
    assert clean_text("👍\u200d🏽", "f", max_len=5) == "👍\u200d🏽"


# ---------------------------------------------------------------- no 500s

_BAD_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    10**40,
    1.5,
    float("1e308"),
    "",
    " ",
    "\x00",
    "a\x00b",
    "\ud800",
    "\U0010ffff",
    "x" * 5000,
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2026-02-30T00:00:00Z",
    [],
    [None],
    ["\x00", "\x00"],
    ["a"] * 100,
    {},
    {"a": "b"},
    {"accent": "\x00"},
    [[["deep"]]],
]

_FIELDS = [
    "site",
    "slug",
    "name",
    "question",
    "options",
    "description",
    "kind",
    "min_choices",
    "max_choices",
    "locale",
    "results_visibility",
    "dedupe_mode",
    "dedupe_window_hours",
    "opens_at",
    "closes_at",
    "allowed_origins",
    "default_locale",
    "rate_per_ip_per_minute",
    "burst_per_ip",
    "allowlisted_networks",
    "require_widget_token",
    "theme",
    "rotate_voter_secret",
    "option",
    "option_ids",
    "voter",
]

_RAW_BODIES: list[bytes] = [
    b"",
    b"{",
    b"]",
    b"null",
    b"1e999",
    b'"\\ud800"',
    b"\xc3\x28",
    b"\x00",
    b"[" * 5000 + b"]" * 5000,
    b'{"a":' * 2000 + b"1" + b"}" * 2000,
    b'{"site": "hoan-kiem", "site": "x"}',
]

_PATH_IDS = ["%00", "a%00b", "%2e%2e", "%F0%9F%91%8D", "x" * 300, "%ZZ", "'", "%E0%A4"]

_QUERIES = [
    "limit=%00",
    "limit=",
    "cursor=",
    "cursor=%00",
    "cursor=" + "A" * 4000,
    "status=%00",
    "site=%00",
    "site=" + "s" * 2000,
    "force=%00",
    "format=%00",
    "limit=1&limit=2",
    "%00=1",
]


def _bodies(rng: random.Random, base: dict[str, Any]) -> list[bytes]:
    out = list(_RAW_BODIES)
    for field in _FIELDS:
        for value in _BAD_VALUES:
            out.append(json.dumps({**base, field: value}).encode())
    for _ in range(60):
        body = dict(base)
        for field in rng.sample(_FIELDS, 3):
            body[field] = rng.choice(_BAD_VALUES)
        out.append(json.dumps(body).encode())
    return out


async def test_no_input_produces_a_500(
    admin: httpx.AsyncClient, make_poll: PollMaker, state: dict[str, Any]
) -> None:
    rng = random.Random(2024)
    poll = await make_poll()
    draft = await make_poll(open=False)
    failures: list[str] = []

    async def send(method: str, url: str, content: bytes | None = None, **kw: Any) -> None:
        headers = kw.pop("headers", {})
        if content is not None:
            headers.setdefault("Content-Type", "application/json")
        r = await admin.request(method, url, content=content, headers=headers, **kw)
        if r.status_code >= 500:
            failures.append(f"{method} {url} {content[:100] if content else ''!r} -> {r.text[:60]}")
        elif r.status_code >= 400 and r.headers.get("content-type") == "application/json":
            _error(r)

    poll_base = {"site": "hoan-kiem", "question": "Q?", "options": ["a", "b"]}
    site_base = {"slug": "fuzz", "name": "Fuzz"}
    bodies = {
        ("POST", "/v1/admin/polls"): _bodies(rng, poll_base),
        ("PATCH", f"/v1/admin/polls/{draft['id']}"): _bodies(rng, {}),
        ("POST", "/v1/admin/sites"): _bodies(rng, site_base),
        ("PATCH", "/v1/admin/sites/hoan-kiem"): _bodies(rng, {}),
        ("POST", f"/v1/polls/{poll['id']}/votes"): _bodies(rng, {}),
    }
    for (method, url), contents in bodies.items():
        for content in contents:
            await send(method, url, content)
        for ctype in ("text/plain", "application/json; charset=latin-1", "multipart/form-data"):
            await send(method, url, b"{}", headers={"Content-Type": ctype})

    templates = [
        ("GET", "/v1/admin/polls/{id}"),
        ("PATCH", "/v1/admin/polls/{id}"),
        ("DELETE", "/v1/admin/polls/{id}"),
        ("POST", "/v1/admin/polls/{id}/open"),
        ("POST", "/v1/admin/polls/{id}/%00"),
        ("GET", "/v1/admin/polls/{id}/results"),
        ("GET", "/v1/admin/polls/{id}/integrity"),
        ("GET", "/v1/admin/polls/{id}/audit"),
        ("GET", "/v1/admin/polls/{id}/export"),
        ("GET", "/v1/admin/sites/{id}"),
        ("PATCH", "/v1/admin/sites/{id}"),
        ("GET", "/v1/polls/{id}"),
        ("GET", "/v1/polls/{id}/results"),
        ("POST", "/v1/polls/{id}/votes"),
    ]
    for method, template in templates:
        for path_id in _PATH_IDS:
            body = b'{"name": "x"}' if method in ("PATCH", "POST") else None
            await send(method, template.format(id=path_id), body)
    for query in _QUERIES:
        await send("GET", f"/v1/admin/polls?{query}")
        await send("GET", f"/v1/admin/polls/{poll['id']}/export?{query}")
        await send("DELETE", f"/v1/admin/polls/{draft['id']}x?{query}")
    for header in ("Bearer \x7f", "Bearer cp_\x00", "Bearer cp_é"):
        await send("GET", "/v1/admin/sites", headers={"Authorization": header.encode("latin-1")})

    assert failures == [], "\n".join(failures)
    # The loop hit the validation, not only the authentication.
    assert await state.pool.fetchval("SELECT count(*) FROM polls") >= 2


async def test_unknown_routes_and_methods_answer_json(admin: httpx.AsyncClient) -> None:
    r = await admin.get("/v1/nothing-here")
    assert r.status_code == 404
    assert _error(r)["code"] == "not_found"
    r = await admin.put("/v1/admin/polls", json={})
    assert r.status_code == 405
    assert _error(r)["code"] == "method_not_allowed"
    assert "POST" in r.headers["allow"]


async def test_json_with_a_charset_is_accepted(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.post(
        "/v1/admin/polls",
        content=json.dumps(MINIMAL),
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("raw", [b'{"choices": [1', b'{"site": 5, "question": "x"', b'{"site": '])
async def test_a_body_cut_short_is_called_malformed(
    admin: httpx.AsyncClient, site: dict[str, Any], raw: bytes
) -> None:
    """Not "Expected `str`, got `int`": msgspec meets the wrong type before the cut."""
    r = await admin.post(
        "/v1/admin/polls", content=raw, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 400
    assert _error(r)["message"].startswith("malformed JSON")


@pytest.mark.parametrize("mark", ["\u200e", "\u200f", "\u061c"])
def test_bidi_marks_are_refused(mark: str) -> None:
    with pytest.raises(BadRequest, match="control character"):
        clean_text(f"Có{mark}", "options", max_len=200)
