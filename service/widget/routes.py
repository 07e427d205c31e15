"""The embeddable poll's routes: the /embed page for iframes, the /widget.js loader,
oEmbed, the results as SVG, and the widget's static files."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.core.assets import ASSETS, serve_asset, static_file
from service.core.errors import NotFound, NotSupported
from service.core.http import PreparedResponse, json_body, json_response, not_modified
from service.core.i18n import DEFAULT_LOCALE, LOCALES
from service.identity.tokens import WIDGET_TOKEN_TTL, widget_token
from service.ops import openapi
from service.polls.access import (
    PUBLIC,
    find_public_poll,
    public_grant,
    public_poll,
    require_results,
)
from service.server.hotlane import HotRoute
from service.services import services
from service.voting.results import shape
from service.widget import oembed as oembeds
from service.widget import svg
from service.widget.discussion import comment_message, plausible_cursor
from service.widget.outcomes import DONE, outcome_message
from service.widget.page import (
    SHARED_VARY,
    missing_page,
    personal_page,
    refused_frame_page,
    shared_page,
)
from service.widget.view import foreign_framer, form_voter, framing_page, parse_view


async def widget_js(request: Request) -> Response:
    # The loader's URL is fixed in every host page, so it cannot be immutable: an hour
    # bounds how long an update takes to reach readers.
    return serve_asset(request, ASSETS["widget.js"], "public, max-age=3600")


async def embed_page(request: Request) -> Response:
    found = services(request)
    poll_id: str = request.path_params["poll_id"]
    poll = await find_public_poll(found.polls, poll_id)
    if poll is None:
        return missing_page(request)
    headers = request.scope["headers"]
    if framer := foreign_framer(headers, poll, found.own_origin, request.scope["scheme"]):
        return refused_frame_page(request, poll, framer)
    phase = poll.phase(datetime.now(UTC))
    raw_query: bytes = request.scope["query_string"]
    # A plain iframe's page is the article framing it: then the page (its forms' `page`)
    # depends on the Referer, for the in-process memo and for shared caches alike.
    framing = None if b"page=" in raw_query else framing_page(headers, poll)
    hot_key = raw_query if framing is None else raw_query + b"#" + framing.encode()
    vary = SHARED_VARY if b"page=" in raw_query else SHARED_VARY + b", Referer"
    if phase == "open" and (hot := found.pages.hot(poll_id, hot_key, poll)) is not None:
        return shared_page(request, hot, vary)

    params = request.query_params
    view = parse_view(params, poll, found.own_origin, framing)
    message = outcome_message(params.get("state"))
    comment_note = comment_message(params.get("comment"))
    wants_results = params.get("view") in ("results", "comments")
    show_form = phase == "open" and message not in DONE and not wants_results
    # A signed voter id from the host portal ("verified" polls) is one reader's own, and
    # so is an outcome the redirect brought: those pages are private, with fresh tokens.
    voter = form_voter(params.get("voter"))
    personal = message is not None or voter is not None or comment_note is not None
    results = None
    comments = None
    if phase != "not_open" and not show_form:
        # The redirect's ?state=voted is the reader's word only: the same rule as the
        # results API decides, by the reader's own cookie.
        grant = await public_grant(request, poll)
        if grant != PUBLIC and poll.results_visibility == "after_vote":
            personal = True  # this answer depends on the reader's cookie
        if grant is not None:
            results = shape(poll, await found.counts.get(poll.id))
    # The comments under the results; on the poll's form too when the reader just wrote
    # one (the comment form's redirect).
    if poll.comments != "off" and phase != "not_open" and (not show_form or comment_note):
        cursor = plausible_cursor(params.get("cursor"))
        fresh = comment_note is not None
        comments = await found.pages.comments.page(found.pool, poll.id, cursor, fresh)
        # Without its comments (PostgreSQL not answering) the page is no one's to share.
        personal = personal or comments is None
    # On a site that requires tokens a tokenless form post comes back for a second press:
    # harmless for a click, not for words typed, so a page with a text box stays the
    # reader's own, with tokens in its forms.
    if poll.site.require_widget_token and phase == "open":
        personal = personal or bool(show_form and poll.other_option) or comments is not None
    page = found.pages.page(
        poll,
        view,
        phase=phase,
        message=message,
        show_form=show_form,
        wants_results=wants_results,
        results=results,
        comments=comments,
        comment_note=comment_note,
    )
    if personal:
        return personal_page(page, found.settings.secret_key, poll_id, voter)
    if show_form:
        found.pages.keep_hot(poll_id, hot_key, poll, page)
    return shared_page(request, page, vary)


async def form_token(request: Request) -> Response:
    """A fresh single-use form token for the embed page's script, fetched when the reader
    starts to vote or comment: the page itself is shared, so it carries none."""
    found = services(request)
    poll_id: str = request.path_params["poll_id"]
    poll = await find_public_poll(found.polls, poll_id)
    if poll is None:
        raise NotFound("no such poll")
    token = widget_token(found.settings.secret_key, poll.id)
    body = json_body({"token": token, "expires_in": WIDGET_TOKEN_TTL})
    return PreparedResponse(body, list(_TOKEN_HEADERS))


_TOKEN_HEADERS = (
    (b"content-type", b"application/json"),
    # One reader's token: no cache may keep it, let alone hand it on.
    (b"cache-control", b"no-store"),
)


async def oembed(request: Request) -> Response:
    params = request.query_params
    if params.get("format", "json") != "json":
        raise NotSupported("only format=json is offered", field="format")
    found = services(request)
    public_url = found.settings.public_url
    poll_id = oembeds.embedded_poll_id(params.get("url", ""), public_url)
    poll = await find_public_poll(found.polls, poll_id)
    if poll is None:
        raise NotFound("no poll at that url", field="url")
    body = oembeds.oembed_answer(
        poll, public_url, params.get("maxwidth", ""), params.get("maxheight", "")
    )
    return json_response(body, headers=oembeds.HEADERS)


async def results_svg(request: Request) -> Response:
    poll = await public_poll(request)
    await require_results(request, poll)
    locale = request.query_params.get("locale", poll.locale)
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    results = shape(poll, await services(request).counts.get(poll.id))
    body = svg.render_results(poll, results, locale)
    private = "authorization" in request.headers or poll.results_visibility == "after_vote"
    headers = svg.svg_headers(body, private=private)
    if not_modified(request, headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="image/svg+xml", headers=headers)


openapi.register(
    "get",
    "/embed/{poll_id}",
    "The poll as an HTML page for an iframe (query: locale, theme, accent, radius, font,"
    " wid, origin, page, view=results|comments, cursor, state, comment)",
)
openapi.register(
    "get",
    "/v1/polls/{poll_id}/token",
    "A fresh single-use form token for the embed page's script (no-store)",
)
openapi.register("get", "/widget.js", "The loader turning <div data-civicpoll> into iframes")
openapi.register("get", "/oembed", "oEmbed (JSON) for an /embed URL: url, maxwidth, maxheight")
openapi.register(
    "get", "/v1/polls/{poll_id}/results.svg", "Results as an SVG image (obeys visibility)"
)
openapi.register("get", "/static/{name}", "The widget's CSS and script")

# GET /embed/{poll_id} and the token are also on the hot lane (service/server/hotlane.py);
# these routes serve HEAD and document them.
routes = [
    HotRoute("/embed/{poll_id}", embed_page, method="GET"),
    HotRoute("/v1/polls/{poll_id}/token", form_token, method="GET"),
    Route("/widget.js", widget_js, methods=["GET"]),
    Route("/oembed", oembed, methods=["GET"]),
    Route("/v1/polls/{poll_id}/results.svg", results_svg, methods=["GET"]),
    Route("/static/{name}", static_file, methods=["GET"]),
]
