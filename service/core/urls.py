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
