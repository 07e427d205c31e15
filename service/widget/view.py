"""The embed page's query parameters: which keys there are, how each is checked, and the
View they make for one poll."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from service.core.i18n import DEFAULT_LOCALE, LOCALES
from service.core.urls import MAX_PAGE_URL, clean_page_url, site_page_url
from service.polls.model import Poll
from service.widget.theme import DEFAULT_THEME, THEME_CHECKS

# The embed page's query keys that shape it; a form post carries them back to the poll
# after voting.
EMBED_KEYS = ("locale", "theme", "accent", "radius", "font", "wid", "origin", "page")

_WID = re.compile(r"[A-Za-z0-9_-]{1,16}")
_ORIGIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?|https?://\[[0-9a-fA-F:.]+\](?::[0-9]{1,5})?"
)
_CHECKS: dict[str, Callable[[str], object]] = {
    "locale": lambda v: v in LOCALES,
    "theme": THEME_CHECKS["mode"],
    "accent": THEME_CHECKS["accent"],
    "radius": THEME_CHECKS["radius"],
    "font": THEME_CHECKS["font"],
    "wid": _WID.fullmatch,
    "page": lambda v: len(v) <= MAX_PAGE_URL and clean_page_url(v) is not None,
}


@dataclass(frozen=True)
class View:
    """What the embedding page asked for, validated: everything but the poll that shapes
    the HTML, so it is part of the rendered page's cache key."""

    locale: str
    mode: str
    accent: str
    radius: str
    font: str
    wid: str
    origin: str  # the host page's origin, when the site allows it: where resizes go
    page: str
    query: str  # the valid embed keys as given, carried on links and the form's action


def allowed_origins(poll: Poll, own_origin: str) -> tuple[str, ...]:
    """The origins that may frame the poll and hear its resizes: this service first, then
    the site's well-formed allowed origins."""
    return (own_origin, *(o for o in poll.site.allowed_origins if _ORIGIN.fullmatch(o)))


def foreign_framer(
    headers: list[tuple[bytes, bytes]], poll: Poll, own_origin: str, scheme: str
) -> str | None:
    """The origin of a page framing this request that may not frame the poll, or None.

    Only a browser's word counts: Sec-Fetch-Dest says the page is loading in a frame and
    the Referer (cut to its origin by the default referrer policy) names who frames it.
    The common request, framed by an allowed origin, costs one pass over the headers."""
    dest = referer = None
    for name, value in headers:
        if name == b"sec-fetch-dest":
            dest = value
        elif name == b"referer":
            referer = value
    if dest != b"iframe" or not referer:
        return None
    text = referer.decode("latin-1")
    end = text.find("/", text.find("://") + 3)
    origin = text if end == -1 else text[:end]
    if origin == own_origin or origin in poll.site.allowed_origins:
        return None
    # The slow path, for pages that will not show the poll anyway: this service framing
    # itself at another of its addresses ('self' in frame-ancestors), or no origin at all.
    host = next((v for k, v in headers if k == b"host"), b"").decode("latin-1")
    if origin == f"{scheme}://{host}" or not _ORIGIN.fullmatch(origin):
        return None
    return origin


def framing_page(headers: list[tuple[bytes, bytes]], poll: Poll) -> str | None:
    """The article framing a plain iframe (no `page` in its URL), from the browser's
    Referer, when it is a page on the site's allowed origins; else None.

    A Referer cut to its origin (the browsers' default for another site's request; the
    console's snippet asks for the full address) names the site, not the article: None.
    A request that says it is not for a frame (Sec-Fetch-Dest) is a reader's own visit."""
    dest = referer = None
    for name, value in headers:
        if name == b"sec-fetch-dest":
            dest = value
        elif name == b"referer":
            referer = value
    if not referer or (dest is not None and dest != b"iframe"):
        return None
    page = site_page_url(referer.decode("latin-1"), poll.site.allowed_origins)
    return None if page is None or urlsplit(page).path in ("", "/") else page


def parse_view(
    params: Mapping[str, str], poll: Poll, own_origin: str, framing: str | None = None
) -> View:
    """The View the query asks for; `framing` (framing_page) stands in for a missing
    `page`, and goes on the form's action and links like one given."""
    given: dict[str, str] = {}
    for key in EMBED_KEYS:
        value = params.get(key)
        if value is None:
            continue
        if key == "origin":
            ok: object = value in allowed_origins(poll, own_origin)
        else:
            check = _CHECKS.get(key)
            ok = check is not None and check(value)
        if ok:
            given[key] = value
    if framing is not None and "page" not in given:
        given["page"] = framing
    theme = {**DEFAULT_THEME, **poll.site.theme}
    return View(
        locale=given.get("locale", poll.locale if poll.locale in LOCALES else DEFAULT_LOCALE),
        mode=given.get("theme", theme["mode"]),
        accent=given.get("accent", theme["accent"]),
        radius=given.get("radius", theme["radius"]),
        font=given.get("font", theme["font"]),
        wid=given.get("wid", "0"),
        origin=given.get("origin", ""),
        page=given.get("page", ""),
        query=urlencode(list(given.items())),
    )


def form_voter(voter: str | None) -> str | None:
    """The host portal's signed voter id ("verified" polls) to carry on the form, when it
    is plausible; its signature is checked when the vote comes in."""
    if voter is not None and not (len(voter) <= 300 and voter.isascii() and voter.isprintable()):
        return None
    return voter


def back_to_embed(
    query: Mapping[str, str] | list[tuple[str, str]],
    poll_id: str,
    outcome: tuple[str, str],
    fragment: str = "",
) -> str:
    """Where a no-JavaScript form post goes back to: the embed page with the view keys the
    form was posted with, and the outcome to show (("state", "voted"), ("comment", ...))."""
    pairs = query.items() if isinstance(query, Mapping) else query
    kept = [(k, v) for k, v in pairs if k in EMBED_KEYS]
    kept.append(outcome)
    return f"/embed/{poll_id}?{urlencode(kept)}{fragment}"
