"""The request's identity, built once per request: the value votes, comments, reports, live
streams and sign-in read who the client is from."""

from __future__ import annotations

import msgspec
from starlette.requests import Request

from service.core.http import cookie
from service.core.settings import Network
from service.identity.address import budget_address, client_ip, in_networks, network_of
from service.identity.keys import Hasher
from service.identity.origin import Headers, Subject, check_origin
from service.identity.reader import VOTER_COOKIE, voter_cookie

_SCOPE_KEY = "civicpoll.identity"


# msgspec Structs, frozen: built on every vote; a frozen dataclass's __init__ (one
# object.__setattr__ a field) made the identity step 1.28x as costly as before this
# package, Structs 1.01-1.06x (bench/identity_path.py, docs/security/identity.md).
class Hashes(msgspec.Struct, frozen=True):
    """A client's keyed hashes within one poll: what the ledger, comments and reports store."""

    voter: str
    address: str  # the budget address: an IPv4 address, an IPv6 /64
    network: str  # the /24 or /64


class RequestIdentity(msgspec.Struct, frozen=True):
    """Who sent the request: address (the X-Forwarded-For rule), network (/24, /64),
    reader cookie, and the headers the Origin rule reads. No secret and no poll in it:
    the keyed hashes of one poll come from `hashes`."""

    address: str
    network: str
    reader: str | None  # the `pv` cookie when it has the shape we hand out
    headers: Headers
    scheme: str

    @property
    def budget_address(self) -> str:
        return budget_address(self.address, self.network)

    def hashes(self, hasher: Hasher, poll_id: str, reader_id: str) -> Hashes:
        """The keyed hashes of this client in `poll_id`, `reader_id` standing for the
        reader (the cookie, a fresh id, or a site-signed id)."""
        return Hashes(
            voter=hasher(poll_id, "voter", reader_id),
            address=hasher(poll_id, "ip", self.budget_address),
            network=hasher(poll_id, "net", self.network),
        )

    def limited(self, allowlisted: tuple[Network, ...]) -> bool:
        """Whether the site's limits apply (False inside its allowlisted networks)."""
        return not in_networks(self.address, allowlisted)

    def check_origin(
        self, own_origin: str, allowed_origins: tuple[str, ...], subject: Subject
    ) -> None:
        check_origin(self.headers, own_origin, self.scheme, allowed_origins, subject)


def identify(
    headers: Headers,
    raw: list[tuple[bytes, bytes]],
    peer: str | None,
    scheme: str,
    proxies: tuple[Network, ...],
) -> RequestIdentity:
    """The identity of a request from its parts (`headers`: the raw list as a dict)."""
    address = client_ip(raw, peer, proxies)
    return RequestIdentity(
        address=address,
        network=network_of(address),
        reader=voter_cookie(cookie(headers.get(b"cookie"), VOTER_COOKIE)),
        headers=headers,
        scheme=scheme,
    )


def request_identity(request: Request, proxies: tuple[Network, ...]) -> RequestIdentity:
    """The request's identity, made on first use and kept in the ASGI scope for the rest
    of the request. The client address and network of a request: `.address`, `.network`."""
    scope = request.scope
    found: RequestIdentity | None = scope.get(_SCOPE_KEY)
    if found is None:
        peer = scope.get("client")
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        found = identify(dict(raw), raw, peer[0] if peer else None, scope["scheme"], proxies)
        scope[_SCOPE_KEY] = found
    return found
