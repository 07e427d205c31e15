"""The Origin rule: a browser's vote, comment or report comes from this service's pages or
an allowed origin of the poll's site."""

from __future__ import annotations

import logging

from service.core.errors import Forbidden

Headers = dict[bytes, bytes]  # an ASGI scope's headers as a dict, names in lower case
Subject = tuple[str, str]  # (poll id, site slug), for the log line of a refusal
log = logging.getLogger("civicpoll.ballot")


def check_origin(
    headers: Headers,
    own_origin: str,
    scheme: str,
    allowed_origins: tuple[str, ...],
    subject: Subject,
) -> None:
    """Browser votes, comments and reports must come from this service's pages or an allowed
    origin of the poll's site.

    This service's pages are those of PUBLIC_URL and those of the address the request was
    sent to (`scheme` and the Host header) when that address is an IP literal or
    localhost: the same service opened as 127.0.0.1 while PUBLIC_URL says localhost. A
    browser sets both Origin and Host itself, so a foreign page cannot claim either; every
    other origin is still the site's allowlist's call."""
    raw = headers.get(b"origin")
    if raw is None or raw == b"null":
        # Browsers always send Origin on cross-site POSTs; without one this is a
        # server-side client (curl, a portal backend), which a site may refuse by
        # requiring widget tokens.
        if headers.get(b"sec-fetch-site") == b"cross-site":
            _refused_origin(subject, "cross_site_without_origin", None)
            raise Forbidden(
                "this poll takes part only from its own pages",
                code="bad_origin",
                field="Origin",
            )
        return
    origin = raw.decode("latin-1")
    if origin == own_origin or origin in allowed_origins:
        return
    host = headers.get(b"host")
    if host is not None and _own_host(host) and origin == f"{scheme}://{host.decode('latin-1')}":
        return
    _refused_origin(subject, "origin_not_allowed", origin)
    raise Forbidden(
        f"origin {origin[:200]} may not take part in this poll", code="bad_origin", field="Origin"
    )


def _own_host(host: bytes) -> bool:
    """A Host a foreign page cannot bring us to: an IP literal or localhost. A name could
    be an attacker's, pointed at our address by DNS rebinding (its pages would then send
    a matching Origin and Host); PUBLIC_URL's own name is covered by own_origin."""
    if host.startswith(b"["):
        return b"]" in host  # an IPv6 literal, with or without a port
    name = host.partition(b":")[0]  # drop a port
    if name == b"localhost":
        return True
    parts = name.split(b".")
    return len(parts) == 4 and all(p.isdigit() and len(p) <= 3 for p in parts)


def _refused_origin(subject: Subject, reason: str, origin: str | None) -> None:
    # Why a browser's vote was refused, for the editor asking "why can't readers vote?":
    # the poll, the reason and the origin (a site's address, never a reader's).
    log.info(
        "browser request refused: %s",
        reason,
        extra={
            "reason": reason,
            "poll_id": subject[0],
            "site": subject[1],
            "origin": origin[:200] if origin is not None else None,
        },
    )
