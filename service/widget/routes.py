"""The embeddable poll: the /embed page for iframes, the /widget.js loader, oEmbed, the
results as SVG, and the widget's static files."""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.core.assets import ASSETS, serve_asset, static_file
from service.core.errors import NotFound, NotSupported
from service.core.http import PUBLIC_CACHE, PreparedResponse, json_response, not_modified
from service.core.i18n import (
    CATALOGS,
    DEFAULT_LOCALE,
    LOCALES,
    choice_rule,
    format_time,
    gettext,
    votes_text,
)
from service.core.templates import template_source, templates
from service.core.urls import MAX_PAGE_URL, clean_page_url
from service.ops import openapi
from service.polls.access import (
    PUBLIC,
    find_public_poll,
    public_grant,
    public_poll,
    require_results,
)
from service.polls.model import Poll
from service.server.hotlane import HotRoute
from service.services import services
from service.voting.identity import widget_token
from service.voting.results import shape
from service.voting.routes import EMBED_KEYS
from service.widget.theme import DEFAULT_THEME, LIGHT, THEME_CHECKS, theme_css, ui_color

_PAGE = templates.get_template("embed.html")
_SVG = templates.get_template("results.svg")
_CSS_HREF = ASSETS["embed.css"].href
_JS_HREF = ASSETS["embed.js"].href
# Changes whenever the page's template or assets do, so no old page validates after a
# deploy.
_BUILD = hashlib.blake2b(
    template_source("embed.html") + b"".join(a.body for a in ASSETS.values()),
    digest_size=8,
).hexdigest()


async def widget_js(request: Request) -> Response:
    # The loader's URL is fixed in every host page, so it cannot be immutable: an hour
    # bounds how long an update takes to reach readers.
    return serve_asset(request, ASSETS["widget.js"], "public, max-age=3600")


# ---------------------------------------------------------------- the embed parameters

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


def _allowed_origins(poll: Poll, own_origin: str) -> tuple[str, ...]:
    return (own_origin, *(o for o in poll.site.allowed_origins if _ORIGIN.fullmatch(o)))


def parse_view(params: Mapping[str, str], poll: Poll, own_origin: str) -> View:
    given: dict[str, str] = {}
    for key in EMBED_KEYS:
        value = params.get(key)
        if value is None:
            continue
        if key == "origin":
            ok: object = value in _allowed_origins(poll, own_origin)
        else:
            check = _CHECKS.get(key)
            ok = check is not None and check(value)
        if ok:
            given[key] = value
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


# ---------------------------------------------------------------- outcomes

# The vote's error codes (or the form path's ?state=) and the catalog message for each:
# the page and the script show the same words for the same outcome.
OUTCOME_MESSAGES = {
    "voted": "voted",
    "already_voted": "already_voted",
    "rate_limited": "rate_limited",
    "poll_closed": "poll_closed",
    "poll_not_open": "poll_not_open",
    "unavailable": "unavailable",
    "invalid": "invalid",
    "unknown_option": "invalid",
    "invalid_choice_count": "choice_rule",
    "bad_token": "token",
    "token_expired": "token",
    "token_required": "token",
    "bad_origin": "bad_origin",
}
_DONE = ("voted", "already_voted")
# Messages a script needs; the rest of the catalog stays out of the page.
_SCRIPT_MESSAGES = (
    "sending",
    "results",
    "votes_one",
    "votes_other",
    "total",
    "percent",
    "results_after_vote",
    "results_after_close",
    "results_hidden",
    "poll_closed",
    "error",
    *sorted(set(OUTCOME_MESSAGES.values()) - {"choice_rule"}),
)


def outcome_message(code: str | None) -> str | None:
    """The catalog key for a vote outcome; unknown codes get the generic error."""
    if not code:
        return None
    return OUTCOME_MESSAGES.get(code, "error")


def _hidden_note(poll: Poll) -> str:
    return {"after_vote": "results_after_vote", "after_close": "results_after_close"}.get(
        poll.results_visibility, "results_hidden"
    )


# ---------------------------------------------------------------- the page


@dataclass(frozen=True)
class _Rendered:
    head: bytes
    tail: bytes  # after the form's hidden fields; empty when the page has no form
    etag: str
    headers: tuple[tuple[bytes, bytes], ...]  # content type and CSP


# Rendered pages by everything that shapes them: a pure function's memo, so it holds no
# request's or voter's data. Cleared whole when full, like the counts cache.
_PAGES: dict[tuple[Any, ...], _Rendered] = {}
_MAX_PAGES = 4096
_SLOT = "\x00hidden-fields\x00"


def _csp(frame_ancestors: str, style: str) -> str:
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return (
        "default-src 'none'; script-src 'self'; connect-src 'self'; "
        f"style-src 'self' 'sha256-{digest}'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )


def _result_rows(results: dict[str, Any], locale: str) -> dict[str, Any]:
    return {
        "total_text": gettext(locale, "total", votes=votes_text(results["total"], locale)),
        "rows": [
            {
                "id": o["id"],
                "label": o["label"],
                "votes": o["votes"],
                "percent": o["percent"],
                "percent_text": gettext(locale, "percent", n=o["percent"]),
                "votes_text": votes_text(o["votes"], locale),
            }
            for o in results["options"]
        ],
    }


def _render(
    key: tuple[Any, ...],
    *,
    poll: Poll,
    view: View,
    public_url: str,
    own_origin: str,
    phase: str,
    message: str | None,
    show_form: bool,
    wants_results: bool,
    results: dict[str, Any] | None,
) -> _Rendered:
    locale = view.locale
    p = f"cp{view.wid}-"
    query = f"{view.query}&" if view.query else ""
    style = theme_css(view.accent, view.radius, view.font)
    note = None
    opens = None
    if phase == "not_open" and poll.opens_at is not None:
        before, _, after = CATALOGS[locale]["opens_at"].partition("{time}")
        opens = {
            "before": before,
            "after": after,
            "at": poll.opens_at.isoformat(),
            "text": format_time(poll.opens_at, locale),
        }
    elif phase == "not_open":
        note = gettext(locale, "poll_not_open")
    elif results is None and not show_form:
        note = gettext(locale, _hidden_note(poll))
    if phase == "closed" and message is None:
        message_text = gettext(locale, "poll_closed")
    elif message == "choice_rule":
        message_text = choice_rule(locale, poll.min_choices, poll.max_choices)
    elif message is not None:
        message_text = gettext(locale, message)
    else:
        message_text = None
    html = _PAGE.render(
        missing=None,
        p=p,
        locale=locale,
        t=CATALOGS[locale],
        mode=view.mode,
        wid=view.wid,
        origin=view.origin,
        state=message or "",
        title=gettext(locale, "poll_title", question=poll.question),
        oembed_href=f"{public_url}/oembed?"
        + urlencode({"url": f"{public_url}/embed/{poll.id}", "format": "json"}),
        css_href=_CSS_HREF,
        js_href=_JS_HREF,
        theme_css=Markup(style),  # noqa: S704 -- built only from validated theme values
        poll=poll,
        show_form=show_form,
        action=f"/v1/polls/{poll.id}/votes" + (f"?{view.query}" if view.query else ""),
        input_type="radio" if poll.max_choices == 1 else "checkbox",
        rule=choice_rule(locale, poll.min_choices, poll.max_choices),
        hidden_fields=_SLOT,
        page=view.page,
        results_href=(
            f"/embed/{poll.id}?{query}view=results"
            if poll.results_visibility in ("always", "after_vote")
            else None
        ),
        back_href=(
            f"/embed/{poll.id}" + (f"?{view.query}" if view.query else "")
            if wants_results and phase == "open" and message not in _DONE
            else None
        ),
        message=message_text,
        message_error=message is not None and message not in _DONE,
        note=note,
        opens=opens,
        results=_result_rows(results, locale) if results else None,
        results_heading=gettext(locale, "final_results" if phase == "closed" else "results"),
        live=results is not None and phase == "open",
        data={
            "poll": poll.id,
            "locale": locale,
            "min": poll.min_choices,
            "max": poll.max_choices,
            "rule": choice_rule(locale, poll.min_choices, poll.max_choices),
            "note": _hidden_note(poll),
            "codes": OUTCOME_MESSAGES,
            "messages": {k: CATALOGS[locale][k] for k in _SCRIPT_MESSAGES},
        },
    )
    head, _, tail = html.partition(_SLOT)
    ancestors = " ".join(("'self'", *_allowed_origins(poll, own_origin)[1:]))
    digest = hashlib.blake2b(repr((_BUILD, key)).encode(), digest_size=12).hexdigest()
    headers = (
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-security-policy", _csp(ancestors, style).encode()),
    )
    return _Rendered(head.encode(), tail.encode(), digest, headers)


def _form_page(
    request: Request, page: _Rendered, poll_id: str, voter: str | None, revalidate: bool
) -> Response:
    """A page with a form: the cached HTML around a fresh token."""
    headers = list(page.headers)
    if revalidate:
        # A revalidated copy keeps the token it was sent with, so the tag turns hourly:
        # no copy outlives its token (6 hours). `private`: no shared cache may hand one
        # reader's token to another.
        etag = f'W/"{page.etag}.{int(time.time()) // 3600}"'
        headers.append((b"etag", etag.encode()))
        headers.append((b"cache-control", b"private, no-cache"))
        if not_modified(request, etag):
            return PreparedResponse(b"", headers, 304)
    else:
        headers.append((b"cache-control", b"private, no-store"))
    token = widget_token(services(request).settings.secret_key, poll_id)
    fields = f'<input type="hidden" name="token" value="{token}">'
    if voter:
        fields += f'<input type="hidden" name="voter" value="{escape(voter)}">'
    return PreparedResponse(page.head + fields.encode() + page.tail, headers)


@dataclass(frozen=True)
class _Hot:
    poll: Poll
    page: _Rendered


# The public form page by poll and raw query string, for the poll object it was made from:
# the common request skips parsing and key building. Cleared whole when full.
_HOT: dict[tuple[str, bytes], _Hot] = {}


async def embed_page(request: Request) -> Response:
    poll_id: str = request.path_params["poll_id"]
    poll = await find_public_poll(services(request).polls, poll_id)
    if poll is None:
        return _missing(request)
    now = datetime.now(UTC)
    phase = poll.phase(now)
    raw_query: bytes = request.scope["query_string"]
    hot = _HOT.get((poll_id, raw_query))
    if hot is not None and hot.poll is poll and phase == "open":
        return _form_page(request, hot.page, poll_id, None, revalidate=True)

    own_origin: str = services(request).own_origin
    params = request.query_params
    view = parse_view(params, poll, own_origin)
    message = outcome_message(params.get("state"))
    done = message in _DONE
    wants_results = params.get("view") == "results"
    show_form = phase == "open" and not done and not wants_results
    # A signed voter id from the host portal ("verified" polls) is one reader's own.
    voter = params.get("voter")
    if voter is not None and not (len(voter) <= 300 and voter.isascii() and voter.isprintable()):
        voter = None
    # Where a reader may vote again and again, a revalidated page would bring back a spent
    # token: such forms are never revalidated.
    personal = message is not None or voter is not None or poll.dedupe_mode == "none"
    results = None
    if phase != "not_open" and not show_form:
        # The redirect's ?state=voted is the reader's word only: the same rule as the
        # results API decides, by the reader's own cookie.
        grant = await public_grant(request, poll)
        if grant != PUBLIC and poll.results_visibility == "after_vote":
            personal = True  # this answer depends on the reader's cookie
        if grant is not None:
            results = shape(poll, await services(request).counts.get(poll.id))
    key = (
        poll.id,
        poll.updated_at,
        poll.site.allowed_origins,
        own_origin,
        view,
        phase,
        message,
        show_form,
        wants_results,
        tuple(o["votes"] for o in results["options"]) if results else None,
    )
    page = _PAGES.get(key)
    if page is None:
        if len(_PAGES) >= _MAX_PAGES:
            _PAGES.clear()
        page = _PAGES[key] = _render(
            key,
            poll=poll,
            view=view,
            public_url=services(request).settings.public_url,
            own_origin=own_origin,
            phase=phase,
            message=message,
            show_form=show_form,
            wants_results=wants_results,
            results=results,
        )
    if show_form:
        if not personal:
            if len(_HOT) >= _MAX_PAGES:
                _HOT.clear()
            _HOT[(poll_id, raw_query)] = _Hot(poll, page)
        return _form_page(request, page, poll_id, voter, revalidate=not personal)
    headers = list(page.headers)
    if personal:
        headers.append((b"cache-control", b"private, no-store"))
        return PreparedResponse(page.head, headers)
    etag = f'W/"{page.etag}"'
    headers += [(b"etag", etag.encode()), (b"cache-control", PUBLIC_CACHE.encode())]
    if not_modified(request, etag):
        return PreparedResponse(b"", headers, 304)
    return PreparedResponse(page.head, headers)


def _missing(request: Request) -> Response:
    locale = request.query_params.get("locale", DEFAULT_LOCALE)
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    style = theme_css(DEFAULT_THEME["accent"], DEFAULT_THEME["radius"], DEFAULT_THEME["font"])
    html = _PAGE.render(
        missing=gettext(locale, "not_found"),
        p="cp0-",
        locale=locale,
        t=CATALOGS[locale],
        mode="auto",
        wid="0",
        title=gettext(locale, "poll"),
        css_href=_CSS_HREF,
        js_href=_JS_HREF,
        theme_css=Markup(style),  # noqa: S704 -- built only from fixed theme values
        data={},
    )
    # Nothing on this page acts for the reader, so any site may frame it.
    headers = {"Content-Security-Policy": _csp("*", style), "Cache-Control": "no-store"}
    return Response(html, status_code=404, media_type="text/html; charset=utf-8", headers=headers)


# ---------------------------------------------------------------- oEmbed


def _embed_height(poll: Poll) -> int:
    # A first guess before the page reports its height (or for hosts without the loader).
    return 200 + 44 * len(poll.options)


async def oembed(request: Request) -> Response:
    params = request.query_params
    if params.get("format", "json") != "json":
        raise NotSupported("only format=json is offered", field="format")
    public_url: str = services(request).settings.public_url
    url = params.get("url", "")
    prefix = f"{public_url}/embed/"
    poll_id = urlsplit(url).path.rsplit("/", 1)[-1] if url.startswith(prefix) else ""
    poll = await find_public_poll(services(request).polls, poll_id)
    if poll is None:
        raise NotFound("no poll at that url", field="url")
    width, height = 600, _embed_height(poll)
    for name in ("maxwidth", "maxheight"):
        raw = params.get(name, "")
        if raw.isascii() and raw.isdigit():
            if name == "maxwidth":
                width = min(width, int(raw))
            else:
                height = min(height, int(raw))
    title = gettext(poll.locale, "poll_title", question=poll.question)
    html = (
        f'<iframe src="{escape(prefix + poll.id)}" title="{escape(title)}" loading="lazy"'
        f' width="{width}" height="{height}" style="max-width:100%;border:0"></iframe>'
    )
    body = {
        "version": "1.0",
        "type": "rich",
        "provider_name": "civicpoll",
        "provider_url": public_url,
        "title": poll.question,
        "html": html,
        "width": width,
        "height": height,
        "cache_age": 3600,
    }
    headers = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}
    return json_response(body, headers=headers)


# ---------------------------------------------------------------- results as SVG

_SVG_WIDTH = 600
_SVG_ROW = 46
_MAX_SVG_LABEL = 70


async def results_svg(request: Request) -> Response:
    poll = await public_poll(request)
    await require_results(request, poll)
    locale = request.query_params.get("locale", poll.locale)
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    results = shape(poll, await services(request).counts.get(poll.id))
    accent = poll.site.theme.get("accent", DEFAULT_THEME["accent"])
    bar_color = ui_color(accent, LIGHT["bg"], LIGHT["fg"])
    rows = [
        {
            **row,
            "label": row["label"]
            if len(row["label"]) <= _MAX_SVG_LABEL
            else row["label"][: _MAX_SVG_LABEL - 1] + "…",
            "y": 64 + i * _SVG_ROW,
            "bar": round((_SVG_WIDTH - 48) * row["percent"] / 100, 1),
        }
        for i, row in enumerate(_result_rows(results, locale)["rows"])
    ]
    height = 64 + len(rows) * _SVG_ROW + 40
    body = _SVG.render(
        width=_SVG_WIDTH,
        height=height,
        question=poll.question,
        rows=rows,
        total=gettext(locale, "total", votes=votes_text(results["total"], locale)),
        accent=bar_color,
        lang=locale,
    ).encode()
    etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    private = "authorization" in request.headers or poll.results_visibility == "after_vote"
    headers = {
        "ETag": etag,
        "Cache-Control": "private, no-cache" if private else "public, max-age=60",
        # An SVG opened on its own is a document: it may run nothing and load nothing.
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if not_modified(request, etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="image/svg+xml", headers=headers)


openapi.register(
    "get",
    "/embed/{poll_id}",
    "The poll as an HTML page for an iframe (query: locale, theme, accent, radius, font,"
    " wid, origin, page, view=results, state)",
)
openapi.register("get", "/widget.js", "The loader turning <div data-civicpoll> into iframes")
openapi.register("get", "/oembed", "oEmbed (JSON) for an /embed URL: url, maxwidth, maxheight")
openapi.register(
    "get", "/v1/polls/{poll_id}/results.svg", "Results as an SVG image (obeys visibility)"
)
openapi.register("get", "/static/{name}", "The widget's CSS and script")

# GET /embed/{poll_id} is also on the hot lane (service/hotpath.py); this route serves
# HEAD and documents it.
routes = [
    HotRoute("/embed/{poll_id}", embed_page, method="GET"),
    Route("/widget.js", widget_js, methods=["GET"]),
    Route("/oembed", oembed, methods=["GET"]),
    Route("/v1/polls/{poll_id}/results.svg", results_svg, methods=["GET"]),
    Route("/static/{name}", static_file, methods=["GET"]),
]
