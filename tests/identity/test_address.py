"""Who the client is: X-Forwarded-For trusted only behind our proxies, addresses normalised,
and the networks rate limits and allowlists work on."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

import pytest

from service.identity.address import client_ip, in_networks, network_of, parse_address

PROXIES = (
    ipaddress.ip_network("127.0.0.1/32"),
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("fd00::/8"),
)


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        # No proxies trusted for this peer: the header is ignored, whatever it says.
        ("198.51.100.4", "203.0.113.9", "198.51.100.4"),
        # Behind our proxy: the right-most hop it saw.
        ("127.0.0.1", "203.0.113.9", "203.0.113.9"),
        # Left of that hop is client-written and ignored.
        ("127.0.0.1", "1.1.1.1, 203.0.113.9", "203.0.113.9"),
        # A chain of trusted proxies is walked through.
        ("127.0.0.1", "203.0.113.9, 10.2.3.4", "203.0.113.9"),
        ("127.0.0.1", "203.0.113.9, fd00::5", "203.0.113.9"),
        # A garbled hop ends what can be trusted: the last proxy is the client.
        ("127.0.0.1", "203.0.113.9, not-an-ip", "127.0.0.1"),
        ("127.0.0.1", "203.0.113.009", "127.0.0.1"),
        # Addresses come out in one canonical form, whatever way they came in.
        ("127.0.0.1", " 2001:DB8:0:0::7 ", "2001:db8::7"),
        ("::ffff:127.0.0.1", "::ffff:203.0.113.9", "203.0.113.9"),
        ("127.0.0.1", None, "127.0.0.1"),
        (None, "203.0.113.9", "unknown"),
    ],
)
def test_client_ip(peer: str | None, forwarded: str | None, expected: str) -> None:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    assert client_ip([(b"host", b"x"), *headers], peer, PROXIES) == expected


def test_nothing_is_trusted_by_default() -> None:
    assert client_ip([(b"x-forwarded-for", b"203.0.113.9")], "127.0.0.1", ()) == "127.0.0.1"


def test_every_forwarded_for_line_counts_in_order() -> None:
    """A proxy may append its own line: the lines read as one list, as RFC 9110 says."""
    lines = [(b"x-forwarded-for", b"1.1.1.1, 203.0.113.9"), (b"x-forwarded-for", b"10.2.3.4")]
    assert client_ip(lines, "127.0.0.1", PROXIES) == "203.0.113.9"
    lines = [(b"x-forwarded-for", b"1.1.1.1"), (b"x-forwarded-for", b"203.0.113.9")]
    assert client_ip(lines, "127.0.0.1", PROXIES) == "203.0.113.9"
    # A NUL is a garbled hop, not an error.
    assert client_ip([(b"x-forwarded-for", b"203.0.113.9\x00")], "127.0.0.1", PROXIES) == (
        "127.0.0.1"
    )


async def test_votes_and_live_streams_count_the_same_client(app_state, client, make_poll):
    """Two X-Forwarded-For lines, the last written by our own proxy: the vote path and the
    live stream limiter agree on who the client is (once they read different lines)."""
    poll = await make_poll(dedupe_mode="ip")
    votes = f"/v1/polls/{poll['id']}/votes"
    body = {"choices": [poll["options"][0]["id"]]}
    lines = [("X-Forwarded-For", "1.1.1.1, 203.0.113.9"), ("X-Forwarded-For", "127.0.0.1")]
    assert (await client.post(votes, json=body, headers=lines)).status_code == 201
    other = [("X-Forwarded-For", "203.0.113.10"), ("X-Forwarded-For", "127.0.0.1")]
    assert (await client.post(votes, json=body, headers=other)).status_code == 201
    again = [("X-Forwarded-For", "9.9.9.9, 203.0.113.9")]
    assert (await client.post(votes, json=body, headers=again)).status_code == 409

    app, hub = app_state[0], app_state[1].live
    opened = asyncio.Event()
    leave = asyncio.Event()

    asked: list[bool] = []

    async def receive() -> dict[str, Any]:
        if not asked:
            asked.append(True)
            return {"type": "http.request", "body": b"", "more_body": False}
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            assert message["status"] == 200
            opened.set()

    path = f"/v1/polls/{poll['id']}/results/stream"
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"x-forwarded-for", b"1.1.1.1, 203.0.113.9"),
            (b"x-forwarded-for", b"127.0.0.1"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    task = asyncio.create_task(app(scope, receive, send))
    try:
        await asyncio.wait_for(opened.wait(), 10)
        assert hub.per_ip == {"203.0.113.9": 1}
    finally:
        leave.set()
        await asyncio.wait_for(task, 10)


def test_networks_and_allowlists() -> None:
    assert network_of("203.0.113.9") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert in_networks("10.200.1.1", PROXIES)
    assert in_networks("fd12::1", PROXIES)
    assert not in_networks("11.0.0.1", PROXIES)
    assert not in_networks("203.0.113.9", ())
    assert parse_address("1.2.3") is None
    assert parse_address("01.2.3.4") is None
