"""The one rule for the article URL a vote or a widget carries (the page a poll sits on),
and the one rule for whether such a page is the site's own (on its allowed origins)."""

from __future__ import annotations

from collections.abc import Collection
from urllib.parse import urlsplit

MAX_PAGE_URL = 500
_DEFAULT_PORTS = {"http": 80, "https": 443}


def clean_page_url(page: str | None) -> str | None:
    """The article's address as it may be kept: http(s), a host, no query or fragment (they
    may carry a reader's session data); None for anything else."""
    if not page:
        return None
    page = page[:MAX_PAGE_URL]
    # A control character has no place in a URL; NUL would even make PostgreSQL refuse
    # the whole ledger batch (and the engine packs records with control separators).
    if not page.isprintable():
        return None
    try:
        parts = urlsplit(page)
        host = parts.hostname
    except ValueError:  # "http://[x": an unclosed IPv6 bracket, or a bad port
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def site_page_url(page: str | None, allowed_origins: Collection[str]) -> str | None:
    """The cleaned page (clean_page_url) when it is on one of the site's allowed origins,
    else None. Any client may name any page, so a page off the site is not kept: it would
    put a stranger's URL on the dashboard's top-articles list. `allowed_origins` are as
    the admin checks store them (scheme://host[:port], lower case, punycode)."""
    cleaned = clean_page_url(page)
    if cleaned is None:
        return None
    parts = urlsplit(cleaned)
    if parts.username is not None or parts.password is not None:
        return None  # credentials in the URL: no origin of a site's pages looks like that
    try:
        port = parts.port
    except ValueError:
        return None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6, bracketed as in an origin
    origin = f"{parts.scheme}://{host}"
    if port is None:
        explicit = f"{origin}:{_DEFAULT_PORTS[parts.scheme]}"
    elif port == _DEFAULT_PORTS[parts.scheme]:
        explicit = f"{origin}:{port}"
    else:
        origin = explicit = f"{origin}:{port}"
    # An origin stored with the scheme's default port names the same pages as without.
    if origin in allowed_origins or explicit in allowed_origins:
        return cleaned
    return None


# Parameters that say where a reader came from, not which page they read: two readers of
# one article from Facebook and from Zalo must land on the same canonical page.
_TRACKING = frozenset({"fbclid", "gclid", "zarsrc"})


def canonical_page_url(page: str | None) -> str | None:
    """The canonical form of a page's address, the one key placements and per-page polls
    use: scheme and host lower-case, the default port dropped, the fragment dropped,
    tracking parameters (utm_*, fbclid, gclid, zarsrc) dropped and the rest of the query
    kept in order. None for anything that is not an http(s) URL with a host. Whether the
    page is the site's own is site_page_url's question."""
    if not page or len(page) > MAX_PAGE_URL or not page.isprintable():
        return None
    try:
        parts = urlsplit(page.strip())
        host = parts.hostname
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, or a bad port
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    kept = [
        pair for pair in parts.query.split("&") if pair and not _is_tracking(pair.partition("=")[0])
    ]
    query = "?" + "&".join(kept) if kept else ""
    return f"{scheme}://{netloc}{parts.path or '/'}{query}"


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in _TRACKING
