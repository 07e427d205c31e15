"""Who the client is: X-Forwarded-For trusted only behind our proxies, addresses normalised,
and the networks rate limits and allowlists work on."""

from __future__ import annotations

import ipaddress

import pytest

from service.voting.identity import client_ip, in_networks, network_of, parse_address

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
    assert client_ip(peer, forwarded, PROXIES) == expected


def test_nothing_is_trusted_by_default() -> None:
    assert client_ip("127.0.0.1", "203.0.113.9", ()) == "127.0.0.1"


def test_networks_and_allowlists() -> None:
    assert network_of("203.0.113.9") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2:3:4:5:6") == "2001:db8:1:2::/64"
    assert in_networks("10.200.1.1", PROXIES)
    assert in_networks("fd12::1", PROXIES)
    assert not in_networks("11.0.0.1", PROXIES)
    assert not in_networks("203.0.113.9", ())
    assert parse_address("1.2.3") is None
    assert parse_address("01.2.3.4") is None
