"""Requests for a host other than PUBLIC_URL's: every embed code and link this service
writes names PUBLIC_URL, so a service reached elsewhere (another port, another name) hands
out codes that point at nothing. Each such host is logged once and listed for the console."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

log = logging.getLogger("civicpoll.hosts")

MAX_HOSTS = 16  # distinct wrong hosts remembered (and logged): a Host header is client text
_LOOPBACK = frozenset({"localhost", "127.0.0.1", "[::1]"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _split(netloc: str, scheme: str) -> tuple[str, int] | None:
    try:
        parts = urlsplit(f"//{netloc}")
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    return host.lower(), port or _DEFAULT_PORTS.get(scheme, 80)


class HostWatch:
    """Which Host headers name this service as PUBLIC_URL does. The loopback names
    (localhost, 127.0.0.1, [::1]) are one machine: on the same port they all match."""

    def __init__(self, public_url: str) -> None:
        parts = urlsplit(public_url)
        self.public_url = public_url
        self._scheme = parts.scheme
        self._own = _split(parts.netloc, parts.scheme)
        self._good: set[bytes] = {parts.netloc.lower().encode("latin-1")}
        self._seen: dict[str, None] = {}

    def see(self, host: bytes) -> None:
        """One request's Host header (cheap when it matches: one set lookup)."""
        if host in self._good or len(self._seen) >= MAX_HOSTS:
            return
        text = host.decode("latin-1")
        if text in self._seen:
            return
        if self._matches(text):
            if len(self._good) < MAX_HOSTS:
                self._good.add(host)
            return
        self._seen[text] = None
        log.warning(
            "a request arrived for %r but PUBLIC_URL is %s: the embed codes and links this"
            " service writes point at %s. Set PUBLIC_URL to the address readers use"
            " (docs/operations/public-url.md).",
            text,
            self.public_url,
            self.public_url,
        )

    def _matches(self, host: str) -> bool:
        found = _split(host, self._scheme)
        if found is None or self._own is None:
            return False
        if found == self._own:
            return True
        return found[1] == self._own[1] and {found[0], self._own[0]} <= _LOOPBACK

    @property
    def elsewhere(self) -> list[str]:
        """The other hosts seen so far, first seen first."""
        return list(self._seen)
