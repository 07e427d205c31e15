"""No crafted request makes the service answer 5xx: the crafted inputs once reported, then
a sweep of hostile values through every query parameter and header the service reads, on
every route that reads them. Requests go to the ASGI app raw (bytes as sent, streams
disconnected once they start), so nothing in a client library tidies the input first."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest

from service.identity.tokens import sign_voter

WAIT = 10.0  # a bound for one in-process request, never a pause

# Query values as they appear in a URL (already percent-encoded where they need it).
HOSTILE_QUERY = (
    "%C2%B2",  # "²": str.isdigit() says yes, int() says no
    "9" * 5000,  # int() refuses digit strings over 4300 long
    "9999999999.%C3%A9",  # a view key with a non-ASCII signature
    "%C2%B2.x",
    "%00",
    "http://[x",
    "http%3A%2F%2F%5Bx",
    "%C3%28",  # bad UTF-8
    "%FF%FE",
    "x" * 20000,
    "-1",
    "",
)
# Header values as raw bytes: what a client may put on the wire.
HOSTILE_HEADER = (
    "²".encode(),
    b"9" * 5000,
    b"9999999999.\xc3\xa9",
    b"http://[x",
    b"203.0.113.9\x00",
    b"\xff\xfe\xc3(",
    b"x" * 20000,
    b"1.a.\xc3\xa9",
    b"Bearer \xc3\xa9",
    b"pv=\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    b"",
)


def _altcha(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


_SOLUTION = {
    "algorithm": "SHA-256",
    "challenge": "ab" * 32,
    "number": 7,
    "salt": "c0ffee?expires=9999999999&poll=x&",
    "signature": "cd" * 32,
}
HOSTILE_ALTCHA = (
    *(_altcha({**_SOLUTION, "salt": bad}) for bad in ([], 5, {}, None, "", "x" * 1400)),
    *(_altcha(bad) for bad in (5, None, True, [], "x", {}, [_SOLUTION])),
    *(_altcha({k: v for k, v in _SOLUTION.items() if k != name}) for name in _SOLUTION),
    *(
        _altcha({**_SOLUTION, name: bad})
        for name in _SOLUTION
        for bad in ([], {}, None, 5, "1", 1.5, -1, 10**40, "é" * 300)
    ),
    _altcha({**_SOLUTION, "algorithm": "MD5"}),
    base64.b64encode(b"\xff\xfe{").decode(),  # not UTF-8
    base64.b64encode(b"[" * 500 + b"]" * 500).decode(),  # nested deeply
    "not base64 at all",
    "x" * 100_000,
    "",
)
HEADERS_READ = (
    b"authorization",
    b"cookie",
    b"if-none-match",
    b"last-event-id",
    b"x-forwarded-for",
    b"origin",
    b"referer",
    b"sec-fetch-site",
    b"sec-fetch-dest",
    b"idempotency-key",
    b"user-agent",
    b"content-type",
)


async def call(
    app: Any,
    method: str,
    target: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
    body: bytes = b"",
) -> int:
    """The status the app answers `method target` with; a stream is left once it starts."""
    raw_path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8", "surrogateescape"),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    started = asyncio.Event()
    leave = asyncio.Event()
    status = 0
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": body, "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
            started.set()

    task = asyncio.create_task(app(scope, receive, send))
    waiter = asyncio.create_task(started.wait())
    await asyncio.wait({task, waiter}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    leave.set()
    try:
        await asyncio.wait_for(task, WAIT)
    except Exception:  # an error escaping the app is a 500 to the client
        return 500
    assert status, f"{method} {target}: no answer"
    return status


@pytest.fixture
async def world(app_state, make_poll, make_token, admin) -> dict[str, Any]:
    """An open poll, a verified one, the site's slug and an admin token header."""
    poll = await make_poll(comments="postmoderated", dedupe_mode="none")
    verified = await make_poll(dedupe_mode="verified")
    return {
        "app": app_state[0],
        "poll": poll,
        "verified": verified,
        "site": "hoan-kiem",
        "auth": (b"authorization", f"Bearer {await make_token()}".encode()),
    }


def _vote(choice: str, **fields: str) -> bytes:
    return json.dumps({"choices": [choice], **fields}).encode()


JSON = (b"content-type", b"application/json")


REFUSED, SERVED = "4xx", "2xx"  # what a crafted request must get: refused, or served as if absent


async def test_the_reported_crafted_requests_are_answered_without_5xx(
    world: dict[str, Any],
) -> None:
    app, pid, site, auth = world["app"], world["poll"]["id"], world["site"], world["auth"]
    choice = world["poll"]["options"][0]["id"]
    vid = world["verified"]["id"]
    vchoice = world["verified"]["options"][0]["id"]
    votes, verified_votes = f"/v1/polls/{pid}/votes", f"/v1/polls/{vid}/votes"
    cases: list[tuple[str, str, list[tuple[bytes, bytes]], bytes, str]] = []
    for key in ("9999999999.%C3%A9", "%C2%B2.x"):
        for path in (
            f"/dashboard/{pid}",  # the locked page, 403
            f"/dashboard/{pid}/data",
            f"/v1/polls/{pid}/results",
            f"/v1/polls/{pid}/results/stream",
            f"/dashboard/site/{site}/stream",
        ):
            cases.append(("GET", f"{path}?key={key}", [], b"", REFUSED))
        # The site's page shows what the public may see when a link is bad.
        cases.append(("GET", f"/dashboard/site/{site}?key={key}", [], b"", SERVED))
    cases += [
        ("POST", votes, [JSON], _vote(choice, token="1.a.é"), REFUSED),
        ("POST", votes, [JSON], _vote(choice, token="².a.b"), REFUSED),
        ("POST", verified_votes, [JSON], _vote(vchoice, voter="a.9999999999.é"), REFUSED),
        ("POST", verified_votes, [JSON], _vote(vchoice, voter="a.².ab"), REFUSED),
        ("POST", verified_votes, [JSON], _vote(vchoice, voter="é.9999999999.ab"), REFUSED),
        # An article address that is not one is not kept; the vote still counts.
        ("POST", votes, [JSON], _vote(choice, page="http://[x"), SERVED),
        ("POST", votes, [JSON, (b"referer", b"http://[x")], _vote(choice), SERVED),
        # A bad optional view value is ignored, like any other bad one.
        ("GET", f"/embed/{pid}?page=http://[x", [], b"", SERVED),
        ("GET", f"/embed/{pid}?radius=" + "9" * 5000, [], b"", SERVED),
        (
            "GET",
            f"/oembed?url=http://testserver/embed/{pid}&maxwidth=" + "9" * 5000,
            [],
            b"",
            SERVED,
        ),
        ("GET", f"/oembed?url=http://testserver/embed/{pid}&maxheight=%C2%B2", [], b"", SERVED),
        ("GET", f"/dashboard/{pid}/data?hours=%C2%B2", [], b"", REFUSED),
        ("GET", f"/dashboard/{pid}/data?hours=" + "9" * 5000, [], b"", REFUSED),
        ("POST", f"/v1/admin/polls/{pid}/dashboard-link?hours=%C2%B2", [auth], b"", REFUSED),
        ("POST", f"/v1/admin/polls/{pid}/dashboard-link?hours=" + "9" * 5000, [auth], b"", REFUSED),
        ("POST", f"/v1/admin/sites/{site}/dashboard-link?hours=%C2%B2", [auth], b"", REFUSED),
        ("GET", "/dashboard/site/%00", [], b"", REFUSED),
        ("GET", "/dashboard/site/%00/stream", [], b"", REFUSED),
        ("POST", "/v1/admin/sites/%00/dashboard-link", [auth], b"", REFUSED),
        (
            "PATCH",
            f"/v1/admin/sites/{site}",
            [auth, JSON],
            json.dumps({"theme": {"radius": "9" * 5000}}).encode(),
            REFUSED,
        ),
    ]
    wrong = []
    for method, target, headers, body, expected in cases:
        status = await call(app, method, target, headers, body)
        if f"{status // 100}xx" != expected:
            wrong.append((method, target[:100], body[:80], status, "expected", expected))
    assert not wrong, "\n".join(map(str, wrong))


async def test_a_sweep_of_hostile_values_never_gets_a_5xx(world: dict[str, Any]) -> None:
    app, pid, site, auth = world["app"], world["poll"]["id"], world["site"], world["auth"]
    choice = world["poll"]["options"][0]["id"]
    vid = world["verified"]["id"]
    signed = sign_voter(b"x", "reader", 9999999999)
    # Each route, with the query keys it reads (what a grep of query_params finds).
    routes: list[tuple[str, str, tuple[str, ...], list[tuple[bytes, bytes]], bytes]] = [
        (
            "GET",
            f"/embed/{pid}",
            (
                "locale",
                "theme",
                "accent",
                "radius",
                "font",
                "wid",
                "origin",
                "page",
                "view",
                "state",
                "voter",
            ),
            [],
            b"",
        ),
        ("GET", "/embed/nope", ("locale",), [], b""),
        ("GET", f"/v1/polls/{pid}", ("key",), [], b""),
        ("GET", f"/v1/polls/{pid}/results", ("key",), [], b""),
        ("GET", f"/v1/polls/{pid}/results.svg", ("key", "locale"), [], b""),
        ("GET", f"/v1/polls/{pid}/results/stream", ("key",), [], b""),
        ("GET", "/oembed", ("url", "format", "maxwidth", "maxheight"), [], b""),
        ("GET", "/widget.js", (), [], b""),
        ("GET", "/static/embed.css", ("v",), [], b""),
        ("GET", f"/dashboard/{pid}", ("key", "lang"), [], b""),
        ("GET", f"/dashboard/{pid}/data", ("key", "hours"), [], b""),
        ("GET", f"/dashboard/site/{site}", ("key", "lang"), [], b""),
        ("GET", f"/dashboard/site/{site}/stream", ("key",), [], b""),
        ("GET", "/dashboard/static/dashboard.js", ("v",), [], b""),
        (
            "POST",
            f"/v1/polls/{pid}/votes",
            ("locale", "page", "wid", "radius"),
            [JSON],
            _vote(choice),
        ),
        (
            "POST",
            f"/v1/polls/{pid}/votes",
            ("origin",),
            [(b"content-type", b"application/x-www-form-urlencoded")],
            f"choice={choice}".encode(),
        ),
        ("POST", f"/v1/polls/{vid}/votes", (), [JSON], _vote(choice, voter=signed)),
        ("POST", f"/v1/admin/polls/{pid}/dashboard-link", ("hours",), [auth], b""),
        ("POST", f"/v1/admin/sites/{site}/dashboard-link", ("hours",), [auth], b""),
        ("GET", "/v1/admin/polls", ("site", "status", "limit", "cursor"), [auth], b""),
        ("GET", f"/v1/admin/polls/{pid}/export", ("format",), [auth], b""),
        ("GET", f"/v1/polls/{pid}/comments", ("cursor", "limit"), [], b""),
        ("POST", f"/v1/polls/{pid}/comments", ("locale", "page"), [JSON], b'{"body": "Hay"}'),
        (
            "POST",
            f"/v1/polls/{pid}/comments",
            ("wid",),
            [(b"content-type", b"application/x-www-form-urlencoded")],
            b"body=%C3%28&name=%00",
        ),
        (
            "POST",
            f"/v1/polls/{pid}/comments/00000000-0000-0000-0000-000000000000/reports",
            (),
            [JSON],
            b'{"reason": "spam"}',
        ),
        (
            "GET",
            f"/v1/admin/polls/{pid}/comments",
            ("state", "reason", "cursor", "limit"),
            [auth],
            b"",
        ),
        ("GET", f"/v1/admin/sites/{site}/comments", ("state", "cursor"), [auth], b""),
        ("GET", f"/v1/admin/polls/{pid}/export", ("what",), [auth], b""),
        (
            "POST",
            "/v1/admin/comments/moderate",
            (),
            [auth, JSON],
            rb'{"ids": ["x\u0000"], "action": "approve"}',
        ),
        ("POST", "/v1/admin/comments/%C3%28/approve", (), [auth], b""),
        ("GET", "/healthz", (), [], b""),
        ("GET", "/readyz", (), [], b""),
        ("GET", "/metrics", (), [], b""),
    ]
    bad: list[tuple[str, str, str, int]] = []
    sent = 0
    for method, path, keys, headers, body in routes:
        for key in keys:
            for value in HOSTILE_QUERY:
                target = f"{path}?{key}={value}"
                status = await call(app, method, target, headers, body)
                sent += 1
                # oEmbed's own rule: a format the provider does not offer is 501.
                if status >= 500 and (path, key, status) != ("/oembed", "format", 501):
                    bad.append((method, target[:100], "", status))
        for name in HEADERS_READ:
            if name == b"content-type" and method == "GET":
                continue
            for raw in HOSTILE_HEADER:
                kept = [h for h in headers if h[0] != name]
                status = await call(app, method, path, [*kept, (name, raw)], body)
                sent += 1
                if status >= 500:
                    bad.append((method, path, f"{name.decode()}: {raw[:40]!r}", status))
        # The same header twice (proxies append X-Forwarded-For lines).
        status = await call(
            app, method, path, [*headers, (b"x-forwarded-for", b"1.2.3.4")] * 2, body
        )
        if status >= 500:
            bad.append((method, path, "x-forwarded-for twice", status))
    # A framed embed page reads the Referer only beside Sec-Fetch-Dest: iframe.
    for raw in HOSTILE_HEADER:
        framed = [(b"sec-fetch-dest", b"iframe"), (b"referer", raw), (b"host", raw)]
        status = await call(app, "GET", f"/embed/{pid}", framed)
        sent += 1
        if status >= 500:
            bad.append(("GET", f"/embed/{pid}", f"framed, referer {raw[:40]!r}", status))
    # Path segments too: a poll id or site slug is as much the client's text as a query.
    for value in ("%00", "%C2%B2", "%C3%28", "x" * 2000, "http:%2F%2F[x"):
        for method, path in (
            ("GET", f"/embed/{value}"),
            ("GET", f"/v1/polls/{value}/results"),
            ("GET", f"/v1/polls/{value}/results/stream"),
            ("GET", f"/dashboard/{value}"),
            ("GET", f"/dashboard/{value}/data"),
            ("GET", f"/dashboard/site/{value}"),
            ("GET", f"/dashboard/site/{value}/stream"),
            ("POST", f"/v1/polls/{value}/votes"),
            ("POST", f"/v1/admin/polls/{value}/dashboard-link"),
            ("POST", f"/v1/admin/sites/{value}/dashboard-link"),
            ("GET", f"/v1/admin/sites/{value}"),
            ("GET", f"/v1/admin/polls/{value}"),
        ):
            status = await call(app, method, path, [auth, JSON], _vote(choice))
            sent += 1
            if status >= 500:
                bad.append((method, path[:100], "", status))
    # ALTCHA payloads of every wrong shape (the altcha library once raised on them).
    for payload in HOSTILE_ALTCHA:
        status = await call(
            app, "POST", f"/v1/polls/{pid}/votes", [JSON], _vote(choice, altcha=payload)
        )
        sent += 1
        if status >= 500:
            bad.append(("POST", f"/v1/polls/{pid}/votes", f"altcha {payload[:40]!r}", status))
    assert sent > 1000
    assert not bad, "\n".join(map(str, bad))
