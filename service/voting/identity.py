"""Who is voting: client IP, voter cookie, signed voter ids and widget tokens, keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import os
import random
import secrets
import socket
import time
from functools import lru_cache

from service.core.errors import BadRequest, Forbidden
from service.core.settings import Network

VOTER_COOKIE = "pv"
# Two years; the id carries no personal data and only keeps a browser from voting twice.
VOTER_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
_COOKIE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
WIDGET_TOKEN_TTL = 6 * 3600


@lru_cache(maxsize=8)
def subkey(secret_key: bytes, purpose: str) -> bytes:
    """A 64-byte key for one purpose, derived from SECRET_KEY (HMAC-SHA512)."""
    return hmac.new(secret_key, f"civicpoll/{purpose}".encode(), hashlib.sha512).digest()


def keyed_hash(key: bytes, message: str) -> str:
    """BLAKE2b in its keyed (MAC) mode, 128 bits: one C call, where HMAC-SHA256 from Python
    takes three objects and five calls; the vote path makes three of these per vote."""
    return hashlib.blake2b(message.encode(), key=key, digest_size=16).hexdigest()


class Hasher:
    """Keyed hashes so that no raw IP or voter id is ever stored."""

    def __init__(self, secret_key: bytes) -> None:
        self._key = subkey(secret_key, "identity")

    def __call__(self, *parts: str) -> str:
        return keyed_hash(self._key, "\x1f".join(parts))


def voter_cookie(raw: str | None) -> str | None:
    """The voter id from the cookie when it has the shape we hand out, else None."""
    if raw and 8 <= len(raw) <= 64 and _COOKIE_CHARS.issuperset(raw):
        return raw
    return None


def new_voter_id() -> str:
    return secrets.token_urlsafe(16)


def voter_cookie_header(voter_id: str) -> str:
    # Partitioned (CHIPS) keeps the cookie working inside third-party iframes where
    # browsers block unpartitioned third-party cookies.
    return (
        f"{VOTER_COOKIE}={voter_id}; Max-Age={VOTER_COOKIE_MAX_AGE}; Path=/; Secure; HttpOnly;"
        " SameSite=None; Partitioned"
    )


# An address as (version, integer value, canonical text). inet_pton is strict (no leading
# zeros, no short forms, no spaces) and, with int.from_bytes, about a tenth of the cost of
# the ipaddress module: every vote parses at least one address it has not seen before.
Address = tuple[int, int, str]
_V4_MAPPED = bytes(10) + b"\xff\xff"


def parse_address(text: str) -> Address | None:
    text = text.strip()
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text)), text
    except OSError:
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except OSError:
        return None
    if packed.startswith(_V4_MAPPED):  # ::ffff:a.b.c.d from a dual-stack socket
        v4 = packed[12:]
        return 4, int.from_bytes(v4), socket.inet_ntop(socket.AF_INET, v4)
    return 6, int.from_bytes(packed), socket.inet_ntop(socket.AF_INET6, packed)


_Ranges = tuple[tuple[int, int, int], ...]
# Keyed by identity: the tuples come from the settings and the poll cache and live long;
# hashing them would hash every ipaddress network object in Python, on every vote.
_ranges_of: dict[int, tuple[tuple[Network, ...], _Ranges]] = {}


def _ranges(networks: tuple[Network, ...]) -> _Ranges:
    known = _ranges_of.get(id(networks))
    if known is not None and known[0] is networks:
        return known[1]
    ranges = tuple((n.version, int(n.network_address), int(n.netmask)) for n in networks)
    if len(_ranges_of) >= 1024:  # sites' allowlists change; do not grow without bound
        _ranges_of.clear()
    _ranges_of[id(networks)] = (networks, ranges)
    return ranges


def _within(address: Address, networks: tuple[Network, ...]) -> bool:
    version, value, _ = address
    return any(v == version and value & mask == net for v, net, mask in _ranges(networks))


def client_ip(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str:
    """The socket peer, or the right-most untrusted X-Forwarded-For hop behind trusted proxies.

    The right-most hop is the one our own proxy saw; anything left of it was written by
    the client and may be forged.
    """
    peer_address = parse_address(peer or "")
    if peer_address is None:
        return peer or "unknown"
    if not forwarded_for or not proxies or not _within(peer_address, proxies):
        return peer_address[2]
    for hop in reversed(forwarded_for.split(",")):
        address = parse_address(hop)
        if address is None:
            # A garbled hop ends the chain we can trust.
            return peer_address[2]
        if not _within(address, proxies):
            return address[2]
        peer_address = address
    return peer_address[2]


def network_of(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) an address belongs to: the rate-limit neighbourhood.
    `ip` is what client_ip returned: already a normalised address."""
    if "." in ip and ":" not in ip:  # IPv4: string surgery is cheaper still
        return ip.rpartition(".")[0] + ".0/24"
    address = parse_address(ip)
    if address is None or address[0] == 4:
        return ip
    prefix = address[1] >> 64 << 64
    return f"{socket.inet_ntop(socket.AF_INET6, prefix.to_bytes(16))}/64"


def in_networks(ip: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    address = parse_address(ip)
    return address is not None and _within(address, networks)


# ---------------------------------------------------------------- host-signed voter ids


def sign_voter(site_secret: bytes, voter_id: str, expires_at: int) -> str:
    """What a host portal computes: `<voter_id>.<expiry unix>.<hex HMAC-SHA256>`."""
    mac = hmac.new(site_secret, f"{voter_id}.{expires_at}".encode(), hashlib.sha256).hexdigest()
    return f"{voter_id}.{expires_at}.{mac}"


def verify_voter(site_secret: bytes, signed: str | None, now: float | None = None) -> str:
    if not signed:
        raise BadRequest(
            "this poll needs a voter id signed by the site", field="voter", code="voter_required"
        )
    parts = signed.rsplit(".", 2)
    # compare_digest refuses non-ASCII strings (a TypeError, so a 500): such a mac is malformed.
    if (
        len(parts) != 3
        or not parts[1].isdigit()
        or not 1 <= len(parts[0]) <= 128
        or not (parts[1] + parts[2]).isascii()  # int("²") fails too
    ):
        raise BadRequest(
            "voter must look like <id>.<expiry>.<signature>", field="voter", code="bad_voter"
        )
    voter_id, expiry, mac = parts
    expected = hmac.new(site_secret, f"{voter_id}.{expiry}".encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, mac):
        raise Forbidden("the voter signature does not match", field="voter", code="bad_voter")
    if int(expiry) < (time.time() if now is None else now):
        raise Forbidden("the signed voter id has expired", field="voter", code="voter_expired")
    return voter_id


# ---------------------------------------------------------------- widget form tokens


# A nonce must be unique, not secret: the MAC is what makes a token unforgeable. Fresh
# kernel randomness per embed page cost about 8% of the page's CPU.
_nonces = random.Random()  # noqa: S311 -- seeded from os.urandom; see above
# A forked worker must not repeat its parent's sequence.
os.register_at_fork(after_in_child=_nonces.seed)


def widget_token(secret_key: bytes, poll_id: str, now: float | None = None) -> str:
    """A signed, expiring, single-use token the embed form carries: `<ts>.<nonce>.<mac>`."""
    issued = int(time.time() if now is None else now)
    nonce = f"{_nonces.getrandbits(96):024x}"
    mac = keyed_hash(subkey(secret_key, "widget-token"), f"{poll_id}.{issued}.{nonce}")
    return f"{issued}.{nonce}.{mac}"


def check_widget_token(
    secret_key: bytes, poll_id: str, token: str, now: float | None = None
) -> str:
    """The token's nonce when the token is genuine and fresh; the caller makes it single-use."""
    parts = token.split(".")
    # compare_digest refuses non-ASCII strings (a TypeError, so a 500): such a token is malformed.
    if len(parts) != 3 or not parts[0].isdigit() or len(token) > 100 or not token.isascii():
        raise Forbidden(
            "the form token is malformed; reload the poll", field="token", code="bad_token"
        )
    issued, nonce, mac = parts
    expected = keyed_hash(subkey(secret_key, "widget-token"), f"{poll_id}.{issued}.{nonce}")
    if not hmac.compare_digest(expected, mac):
        raise Forbidden(
            "the form token is not valid; reload the poll", field="token", code="bad_token"
        )
    if int(issued) + WIDGET_TOKEN_TTL < (time.time() if now is None else now):
        raise Forbidden(
            "the form has expired; reload the poll", field="token", code="token_expired"
        )
    return nonce
