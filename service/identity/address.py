"""The client's address (the X-Forwarded-For rule) and its network (/24 IPv4, /64 IPv6)."""

from __future__ import annotations

import socket

from service.core.settings import Network

# An address as (version, integer value, canonical text). inet_pton is strict (no leading
# zeros, no short forms, no spaces) and, with int.from_bytes, about a tenth of the cost of
# the ipaddress module: every vote parses at least one address it has not seen before.
Address = tuple[int, int, str]
_V4_MAPPED = bytes(10) + b"\xff\xff"


def parse_address(text: str) -> Address | None:
    text = text.strip()
    # ValueError: a NUL in the text ("embedded null character").
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, text)), text
    except (OSError, ValueError):
        pass
    try:
        packed = socket.inet_pton(socket.AF_INET6, text)
    except (OSError, ValueError):
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


RawHeaders = list[tuple[bytes, bytes]]  # an ASGI scope's headers, names in lower case


def client_ip(headers: RawHeaders, peer: str | None, proxies: tuple[Network, ...]) -> str:
    """The client's address, the one rule of every path that counts clients: the socket
    peer, or behind trusted proxies the right-most untrusted X-Forwarded-For hop.

    Every X-Forwarded-For line counts, joined in order: a proxy may append a line of its
    own rather than extend the client's, and the right-most hop is the one our own proxy
    saw; anything left of it was written by the client and may be forged. The header
    list is read only when the peer is a trusted proxy."""
    peer_address = parse_address(peer or "")
    if peer_address is None:
        return peer or "unknown"
    if not proxies or not _within(peer_address, proxies):
        return peer_address[2]
    lines = [value for name, value in headers if name == b"x-forwarded-for"]
    if not lines:
        return peer_address[2]
    for hop in reversed(b",".join(lines).decode("latin-1").split(",")):
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


def budget_address(ip: str, network: str) -> str:
    """The address as every budget and mark keys it: an IPv4 address itself, an IPv6
    address its /64, since one subscriber holds a whole /64 and may pick any address in it."""
    return network if network.endswith("/64") else ip


def in_networks(ip: str, networks: tuple[Network, ...]) -> bool:
    if not networks:
        return False
    address = parse_address(ip)
    return address is not None and _within(address, networks)
