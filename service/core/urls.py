"""The one rule for the article URL a vote or a widget carries (the page a poll sits on)."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

MAX_PAGE_URL = 500


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


def page_on_site(url: str | None, allowed_origins: Iterable[str]) -> str | None:
    """The page as clean_page_url keeps it, when it is on one of the site's allowed
    origins (scheme, host and port as listed; host names compare case-insensitively);
    None otherwise: a page elsewhere is not the site's article."""
    page = clean_page_url(url)
    if page is None:
        return None
    parts = urlsplit(page)
    origin = f"{parts.scheme}://{parts.netloc.lower()}"
    return page if any(origin == o.lower().rstrip("/") for o in allowed_origins) else None
