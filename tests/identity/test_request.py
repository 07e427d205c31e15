"""The one request-identity value: built once per request, and the same hashes whichever
surface asks (a vote's ballot and a comment's author agree on reader, address, network)."""

from __future__ import annotations

import ipaddress

from service.identity.keys import Hasher
from service.identity.request import identify
from service.voting.ballot import build_ballot, parse_vote_body
from tests.voting.test_ballot import sample_poll

PROXIES = (ipaddress.ip_network("127.0.0.1/32"),)


def test_an_ipv6_client_is_its_64_for_every_budget(settings) -> None:
    headers = {b"x-forwarded-for": b"2001:db8:1:2:3:4:5:6", b"cookie": b"pv=reader-cookie-1"}
    who = identify(headers, list(headers.items()), "127.0.0.1", "https", PROXIES)
    assert (who.address, who.network) == ("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64")
    assert who.budget_address == "2001:db8:1:2::/64" and who.reader == "reader-cookie-1"
    v4 = identify({}, [], "203.0.113.9", "http", PROXIES)
    assert (v4.address, v4.network, v4.budget_address, v4.reader) == (
        "203.0.113.9",
        "203.0.113.0/24",
        "203.0.113.9",
        None,
    )


def test_votes_and_comments_hash_one_client_alike(settings) -> None:
    """The drift this package ends: comments hashed the full IPv6 address, votes the /64."""
    poll = sample_poll()
    hasher = Hasher(settings.secret_key)
    headers = {b"x-forwarded-for": b"2001:db8:1:2::99"}
    who = identify(headers, list(headers.items()), "127.0.0.1", "http", PROXIES)
    ballot = build_ballot(
        headers, who, settings, hasher, poll, parse_vote_body(b'{"choices": ["12"]}', False), "r1"
    )
    author = who.hashes(hasher, poll.id, "r1")
    assert (ballot.voter_hash, ballot.ip_hash, ballot.network_hash) == (
        author.voter,
        author.address,
        author.network,
    )
    neighbour = identify(
        {b"x-forwarded-for": b"2001:db8:1:2:ffff::1"},
        [(b"x-forwarded-for", b"2001:db8:1:2:ffff::1")],
        "127.0.0.1",
        "http",
        PROXIES,
    )
    assert neighbour.hashes(hasher, poll.id, "r2").address == author.address
