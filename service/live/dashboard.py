"""Dashboard handlers: the live page of a poll or of a site's open polls (a scale's
distribution, average and NPS beside the bars; for admins the comments waiting for a
moderator), the data its charts fetch (from live/history.py), and the signed, expiring
links the admin API issues."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import asyncpg
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from service.admin.checks import could_be_slug
from service.core.assets import static_file
from service.core.errors import BadRequest, Forbidden, NotFound
from service.core.http import json_response
from service.core.i18n import DEFAULT_LOCALE, LOCALES, format_number, messages, plural
from service.core.templates import templates
from service.core.validation import whole_number
from service.feedback.comments import state_counts
from service.identity.links import link_opens, view_key
from service.identity.principal import Principal, authenticate, require_scope
from service.live.history import MAX_HOURS, read_history
from service.ops.openapi import register
from service.polls.access import (
    ADMIN,
    PUBLIC,
    may_see,
    poll_for,
    public_poll,
    require_results,
    results_grant,
)
from service.polls.model import Poll, looks_like_poll_id
from service.services import services
from service.voting.integrity import read_figures
from service.voting.results import shape
from service.widget.figures import result_rows

LINK_HOURS = 24
MAX_LINK_HOURS = 30 * 24
SITE_POLLS = 24
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self';"
    " img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
# The key in a dashboard URL is a credential: keep it out of other sites' logs.
_HEADERS = {"Content-Security-Policy": _CSP, "Referrer-Policy": "no-referrer"}

# The page and its script read the catalog's `dash_*` messages by their short names.
_MESSAGES = {locale: messages(locale, "dash") for locale in LOCALES}


def _lang(request: Request, default: str) -> str:
    lang = request.query_params.get("lang", default)
    return lang if lang in LOCALES else DEFAULT_LOCALE


def _with_key(path: str, request: Request) -> str:
    key = request.query_params.get("key")
    return f"{path}?key={key}" if key else path


def _page(request: Request, template: str, status: int, **context: Any) -> Response:
    lang = context["lang"]
    other = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    other.append(("lang", "en" if lang == "vi" else "vi"))
    html = templates.get_template(template).render(
        other_lang="?" + urlencode(other),
        t=_MESSAGES[lang],
        num=lambda n: format_number(n, lang),
        plural=lambda key, n: plural(lang, f"dash_{key}", n),
        **context,
    )
    return HTMLResponse(html, status_code=status, headers={**_HEADERS, "Cache-Control": "no-store"})


async def _grant_or_none(request: Request, poll: Poll) -> str | None:
    try:
        return await results_grant(request, poll)
    except Forbidden:
        return None


async def _card(
    request: Request, poll: Poll, counts: dict[str, int], lang: str, grant: str | None
) -> dict[str, Any]:
    results = shape(poll, counts)
    figures = result_rows(results, lang, poll)
    return {
        "poll": poll,
        "results": results,
        "rows": figures["rows"],  # a scale's points by their labels ("4 sao")
        "stats": figures["stats"],  # a scale's count, average, median and NPS; else None
        "moderation": await _waiting(request, poll) if grant == ADMIN else None,
        "closed": poll.phase(datetime.now(UTC)) == "closed",
        "data_url": _with_key(f"/dashboard/{poll.id}/data", request),
    }


async def _waiting(request: Request, poll: Poll) -> int | None:
    """Comments (and own words) a moderator has still to read: pending and held; None for
    a poll that takes no text at all."""
    if poll.comments == "off" and poll.other_option is None:
        return None
    counts = await state_counts(services(request).pool, poll.id)
    return counts["pending"] + counts["held"]


# ---------------------------------------------------------------- one poll


async def poll_page(request: Request) -> Response:
    poll = await public_poll(request)
    lang = _lang(request, poll.locale)
    grant = await _grant_or_none(request, poll)
    context: dict[str, Any] = {
        "lang": lang,
        "title": poll.question,
        "admin": grant == ADMIN,
        "cards": [],
        "config": {
            "lang": lang,
            "t": _MESSAGES[lang],
            "unlock": f"/v1/admin/polls/{poll.id}/dashboard-link",
            "stream": None,
        },
    }
    if grant is None:
        return _page(request, "dashboard.html", 403, locked=True, **context)
    counts = await services(request).counts.get(poll.id)
    context["cards"] = [await _card(request, poll, counts, lang, grant)]
    context["config"]["stream"] = _with_key(f"/v1/polls/{poll.id}/results/stream", request)
    return _page(request, "dashboard.html", 200, locked=False, **context)


async def poll_data(request: Request) -> Response:
    """History for the charts: votes per minute, referring articles; for admins the
    integrity figures and the number of comments waiting for a moderator."""
    poll = await public_poll(request)
    grant = await require_results(request, poll)
    hours = whole_number(request.query_params.get("hours", "6"), 2)
    if hours is None or not 1 <= hours <= MAX_HOURS:
        raise BadRequest(f"hours must be a whole number from 1 to {MAX_HOURS}", field="hours")
    pool, redis = services(request).pool, services(request).redis
    history = await read_history(pool, redis, poll.id, hours, poll.site.allowed_origins)
    figures = await read_figures(redis, poll.id) if grant == ADMIN else None
    waiting = await _waiting(request, poll) if grant == ADMIN else None
    return json_response(
        {"poll_id": poll.id, **history, "integrity": figures, "moderation": waiting},
        headers={"Cache-Control": "no-store"},
    )


# ---------------------------------------------------------------- a site's open polls


async def _site_id(pool: asyncpg.Pool, slug: str) -> int | None:
    """The site's id; None for a slug no site can have (PostgreSQL refuses NUL bytes)."""
    if not could_be_slug(slug):
        return None
    site_id: int | None = await pool.fetchval("SELECT id FROM sites WHERE slug = $1", slug)
    return site_id


async def _site_polls(request: Request) -> tuple[list[Poll], str]:
    """The site's open polls this viewer may watch, and the grant they watch them with."""
    slug = request.path_params["site"]
    pool = services(request).pool
    site_id = await _site_id(pool, slug)
    if site_id is None:
        raise NotFound("no such site")
    grant = PUBLIC
    key = request.query_params.get("key")
    if key is not None:
        if not await link_opens(request, key, f"site:{slug}"):
            raise Forbidden("this link is invalid, expired or revoked", code="bad_key", field="key")
        grant = ADMIN
    elif "authorization" in request.headers:
        principal = await authenticate(request)
        principal.require("polls:read")
        principal.check_site(site_id)
        grant = ADMIN
    ids = await pool.fetch(
        "SELECT id FROM polls WHERE site_id = $1 AND status = 'open'"
        " ORDER BY created_at DESC LIMIT $2",
        site_id,
        SITE_POLLS,
    )
    now = datetime.now(UTC)
    polls = []
    for row in ids:
        poll = await services(request).polls.get(row["id"])
        if poll is None or poll.phase(now) != "open":
            continue
        if may_see(grant, poll):
            polls.append(poll)
    return polls, grant


async def site_page(request: Request) -> Response:
    try:
        polls, grant = await _site_polls(request)
    except Forbidden:
        polls, grant = [], PUBLIC
    slug = request.path_params["site"]
    lang = _lang(request, polls[0].site.default_locale if polls else DEFAULT_LOCALE)
    cards = [
        await _card(request, p, await services(request).counts.get(p.id), lang, grant)
        for p in polls
    ]
    config = {
        "lang": lang,
        "t": _MESSAGES[lang],
        "unlock": f"/v1/admin/sites/{slug}/dashboard-link",
        "stream": _with_key(f"/dashboard/site/{slug}/stream", request) if polls else None,
    }
    return _page(
        request,
        "dashboard_site.html",
        200,
        lang=lang,
        title=_MESSAGES[lang]["site_title"],
        admin=grant == ADMIN,
        cards=cards,
        config=config,
        site=polls[0].site.name if polls else slug,
    )


async def site_stream(request: Request) -> Response:
    """One stream for all of a site's open polls: browsers allow few connections per host."""
    polls, grant = await _site_polls(request)
    if not polls:
        raise NotFound("this site has no open polls you may watch")
    return await services(request).live.open(request, polls, grant, None)


# ---------------------------------------------------------------- signed links


def _link_hours(request: Request) -> int:
    hours = whole_number(request.query_params.get("hours", str(LINK_HOURS)), 3)
    if hours is None or not 1 <= hours <= MAX_LINK_HOURS:
        raise BadRequest(f"hours must be a whole number from 1 to {MAX_LINK_HOURS}", field="hours")
    return hours


def _link(request: Request, principal: Principal, subject: str, path: str) -> Response:
    expires_at = int(time.time()) + _link_hours(request) * 3600
    secret = services(request).settings.secret_key
    # A link is tied to the token that minted it (revoking the token shuts it); the
    # console mints through a token of its own (console/links.py).
    assert principal.token_id is not None
    key = view_key(secret, subject, expires_at, principal.token_id)
    return json_response(
        {
            "url": f"{services(request).settings.public_url}{path}?key={key}",
            "expires_at": datetime.fromtimestamp(expires_at, UTC),
        },
        201,
        headers={"Cache-Control": "no-store"},
    )


async def poll_link(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    poll_id = request.path_params["poll_id"]
    if not looks_like_poll_id(poll_id):
        raise NotFound("no such poll")
    async with services(request).pool.acquire() as con:
        poll = await poll_for(con, poll_id, principal)
    return _link(request, principal, f"poll:{poll.id}", f"/dashboard/{poll.id}")


async def site_link(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    slug = request.path_params["slug"]
    site_id = await _site_id(services(request).pool, slug)
    if site_id is None:
        raise NotFound("no such site")
    principal.check_site(site_id)
    return _link(request, principal, f"site:{slug}", f"/dashboard/site/{slug}")


for _method, _path, _summary, _scope in (
    ("get", "/dashboard/{poll_id}", "Live dashboard of a poll (HTML; ?key=, ?lang=vi|en)", None),
    (
        "get",
        "/dashboard/{poll_id}/data",
        "Votes per minute (?hours=1..48), top referring articles, integrity figures (admins)",
        None,
    ),
    ("get", "/dashboard/static/{name}", "The dashboard's script and style sheet", None),
    ("get", "/dashboard/site/{site}", "Live dashboard of a site's open polls (HTML)", None),
    ("get", "/dashboard/site/{site}/stream", "Live results of a site's open polls (SSE)", None),
    (
        "post",
        "/v1/admin/polls/{poll_id}/dashboard-link",
        "A signed, expiring dashboard link (?hours=1..720, default 24)",
        "polls:read",
    ),
    (
        "post",
        "/v1/admin/sites/{slug}/dashboard-link",
        "A signed, expiring link to the site's dashboard (?hours=1..720, default 24)",
        "polls:read",
    ),
):
    register(_method, _path, _summary, _scope, status=201 if _method == "post" else 200)

routes = [
    Route("/dashboard/static/{name}", static_file, methods=["GET"]),
    Route("/dashboard/site/{site}", site_page, methods=["GET"]),
    Route("/dashboard/site/{site}/stream", site_stream, methods=["GET"]),
    Route("/dashboard/{poll_id}", poll_page, methods=["GET"]),
    Route("/dashboard/{poll_id}/data", poll_data, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/dashboard-link", poll_link, methods=["POST"]),
    Route("/v1/admin/sites/{slug}/dashboard-link", site_link, methods=["POST"]),
]
