"""The feedback routes: readers' comments and reports (JSON, or the widget's plain form),
and the admin API's moderation queue. Thin: the rules live in comments and moderation."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.admin import checks
from service.core import cursor as cursors
from service.core.errors import BadRequest, Forbidden, NotFound, ServiceError
from service.core.http import json_response
from service.core.urls import site_page_url
from service.core.validation import decode, parse_form, read_body, read_json
from service.feedback import moderation
from service.feedback.comments import (
    PAGE_DEFAULT,
    PAGE_MAX,
    STATES,
    Author,
    check_open_for_comments,
    checked_text,
    published_page,
)
from service.feedback.schemas import (
    REASON_SCHEMA,
    ActionBody,
    BulkBody,
    CommentBody,
    ReportBody,
)
from service.identity.principal import require_scope
from service.identity.reader import new_voter_id, voter_cookie_header
from service.identity.request import RequestIdentity, request_identity
from service.identity.tokens import check_widget_token, verify_voter
from service.ops import openapi
from service.polls.access import find_public_poll
from service.polls.model import Poll
from service.services import Services, services
from service.widget.view import back_to_embed

_FORM = "application/x-www-form-urlencoded"


async def _public_poll(svc: Services, poll_id: str) -> Poll:
    poll = await find_public_poll(svc.polls, poll_id)
    if poll is None:
        raise NotFound("no such poll")
    return poll


def _author(
    who: RequestIdentity, svc: Services, poll: Poll, voter_id: str, body: CommentBody
) -> Author:
    fresh = who.reader is None
    if poll.dedupe_mode == "verified":
        voter_id = verify_voter(poll.site.voter_secret, body.voter)
        fresh = False
    if body.token:
        # Checked, not spent: the same form token still casts the reader's vote.
        check_widget_token(svc.settings.secret_key, poll.id, body.token)
    elif poll.site.require_widget_token:
        raise Forbidden(
            "this site accepts comments only through its poll widget",
            field="token",
            code="token_required",
        )
    referer = who.headers.get(b"referer")
    return Author(
        hashes=who.hashes(svc.hasher, poll.id, voter_id),
        limited=who.limited(poll.site.allowlisted_networks),
        page_url=site_page_url(
            body.page or (referer.decode("latin-1") if referer else None),
            poll.site.allowed_origins,
        ),
        fresh=fresh,
    )


def _form_comment(raw: bytes) -> CommentBody:
    fields = {k: v for k, v in parse_form(raw) if k in ("body", "name", "token", "voter", "page")}
    return CommentBody(
        body=fields.get("body", ""),
        name=fields.get("name") or None,
        token=fields.get("token"),
        voter=fields.get("voter"),
        page=fields.get("page"),
    )


async def post_comment(request: Request) -> Response:
    svc = services(request)
    who = request_identity(request, svc.settings.trusted_proxies)
    is_form = who.headers.get(b"content-type", b"").startswith(_FORM.encode())
    known = who.reader
    voter_id = known or new_voter_id()
    poll = await _public_poll(svc, request.path_params["poll_id"])
    try:
        who.check_origin(svc.own_origin, poll.site.allowed_origins, (poll.id, poll.site.slug))
        raw = await read_body(request)
        if is_form and raw[:1] == b"{":
            is_form = False  # JSON under the form type (curl -d): answered in JSON
        body = _form_comment(raw) if is_form else decode(raw, CommentBody)
        check_open_for_comments(poll)
        text, name = checked_text(body)
        answer = await svc.comments.submit(
            poll, text, name, _author(who, svc, poll, voter_id, body)
        )
    except ServiceError as exc:
        if is_form:
            return _back_to_poll(request, poll.id, exc.code, known is None, voter_id)
        raise
    if is_form:
        return _back_to_poll(request, poll.id, answer["status"], known is None, voter_id)
    published = answer["status"] == "published"
    if not published:
        answer["message"] = "thank you: your comment will appear once a moderator has read it"
    response = json_response(
        answer, 201 if published else 202, headers={"Cache-Control": "no-store"}
    )
    if known is None:
        response.headers["Set-Cookie"] = voter_cookie_header(voter_id)
    return response


def _back_to_poll(
    request: Request, poll_id: str, outcome: str, new_voter: bool, voter_id: str
) -> Response:
    """The no-JavaScript path: 303 back to the embed page, which says what happened."""
    query = request.query_params.multi_items()
    where = back_to_embed(query, poll_id, ("comment", outcome), "#comments")
    response = RedirectResponse(where, status_code=303)
    if new_voter:
        response.headers["Set-Cookie"] = voter_cookie_header(voter_id)
    return response


async def list_comments(request: Request) -> Response:
    svc = services(request)
    poll = await _public_poll(svc, request.path_params["poll_id"])
    query = request.query_params
    limit = checks.query_int(query.get("limit"), "limit", PAGE_DEFAULT, 1, PAGE_MAX)
    page = await published_page(svc.pool, poll.id, query.get("cursor"), limit)
    return json_response(page, headers={"Cache-Control": "public, max-age=5"})


async def report_comment(request: Request) -> Response:
    """A reader's report (docs/security/reports.md): it counts only from a reader (the
    cookie, or the widget's form token for a browser without one), once per network,
    within the site's rate limits per address and network."""
    svc = services(request)
    who = request_identity(request, svc.settings.trusted_proxies)
    poll = await _public_poll(svc, request.path_params["poll_id"])
    who.check_origin(svc.own_origin, poll.site.allowed_origins, (poll.id, poll.site.slug))
    body = await read_json(request, ReportBody)
    reader = who.reader
    if reader is None and body.token:
        # A browser that keeps no cookie: the genuine form token's nonce stands for the
        # reader (one page view); the network rule still counts its network once.
        reader = "token:" + check_widget_token(svc.settings.secret_key, poll.id, body.token)
    if reader is None:
        raise Forbidden(
            "a report counts only from a reader of the poll; reload the poll and try again",
            field="token",
            code="reader_required",
        )
    author = Author(
        hashes=who.hashes(svc.hasher, poll.id, reader),
        limited=who.limited(poll.site.allowlisted_networks),
        page_url=None,
    )
    await svc.comments.report(poll, request.path_params["comment_id"], body.reason, author)
    return json_response({"status": "received"}, 202, headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------ the admin API

_QUEUE_QUERY = frozenset({"state", "reason", "cursor", "limit"})


def _queue_query(request: Request) -> dict[str, Any]:
    query = request.query_params
    unknown = sorted(set(query) - _QUEUE_QUERY)
    if unknown:
        raise BadRequest(f"unknown query parameter {unknown[0]!r}", field=unknown[0])
    return {
        "state": query.get("state"),
        "reason": query.get("reason"),
        "cursor": query.get("cursor"),
        "limit": checks.query_int(query.get("limit"), "limit", 50, 1, 200),
    }


async def poll_queue(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    page = await moderation.list_comments(
        services(request),
        principal,
        poll_id=request.path_params["poll_id"],
        **_queue_query(request),
    )
    return json_response(page, headers={"Cache-Control": "no-store"})


async def site_queue(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    page = await moderation.list_comments(
        services(request), principal, site=request.path_params["slug"], **_queue_query(request)
    )
    return json_response(page, headers={"Cache-Control": "no-store"})


async def moderate_one(request: Request) -> Response:
    principal = await require_scope(request, "comments:moderate")
    action = request.path_params["action"]
    if action not in moderation.ACTIONS:
        raise NotFound(f"no such action: {action[:40]}")
    raw = await read_body(request)
    body = decode(raw, ActionBody) if raw.strip() else ActionBody()
    comment_id = request.path_params["comment_id"]
    if len(comment_id) > 36:
        raise NotFound("no such comment")
    try:
        done = await moderation.moderate(
            services(request), principal, [comment_id], action, body.reason
        )
    except BadRequest as exc:
        if exc.field == "ids":
            raise NotFound("no such comment") from None
        raise
    return json_response(done["items"][0])


async def moderate_many(request: Request) -> Response:
    principal = await require_scope(request, "comments:moderate")
    body = await read_json(request, BulkBody)
    done = await moderation.moderate(
        services(request), principal, body.ids, body.action, body.reason
    )
    return json_response(done)


_PAGE: dict[str, tuple[str, dict[str, Any]]] = {
    "cursor": ("next_cursor of the previous page", cursors.cursor_schema(cursors.UUID))
}
openapi.QUERY[("get", "/v1/polls/{poll_id}/comments")] = {
    **_PAGE,
    "limit": ("page size", {"type": "integer", "minimum": 1, "maximum": PAGE_MAX}),
}
_QUEUE_PARAMS: dict[str, tuple[str, dict[str, Any]]] = {
    **_PAGE,
    "state": ("only comments in this state", {"type": "string", "enum": list(STATES)}),
    "reason": ("only comments held or moved for this reason", REASON_SCHEMA),
    "limit": ("page size", {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}),
}
openapi.QUERY[("get", "/v1/admin/polls/{poll_id}/comments")] = _QUEUE_PARAMS
openapi.QUERY[("get", "/v1/admin/sites/{slug}/comments")] = _QUEUE_PARAMS
for _op in (
    (
        "post",
        "/v1/polls/{poll_id}/comments",
        "Write a comment (JSON: 201 published or 202 pending; a form post is answered 303)",
        None,
        "CommentBody",
        201,
    ),
    ("get", "/v1/polls/{poll_id}/comments", "Published comments, newest first", None, None, 200),
    (
        "post",
        "/v1/polls/{poll_id}/comments/{comment_id}/reports",
        "Report a published comment (three readers hold it for review)",
        None,
        "ReportBody",
        202,
    ),
    (
        "get",
        "/v1/admin/polls/{poll_id}/comments",
        "The poll's moderation queue, oldest first, with counts per state",
        "polls:read",
        None,
        200,
    ),
    (
        "get",
        "/v1/admin/sites/{slug}/comments",
        "The site's moderation queue, oldest first, with counts per state",
        "polls:read",
        None,
        200,
    ),
    (
        "post",
        "/v1/admin/comments/moderate",
        "Approve, reject, hold, mark as spam or restore many comments",
        "comments:moderate",
        "BulkBody",
        200,
    ),
    (
        "post",
        "/v1/admin/comments/{comment_id}/{action}",
        "approve, reject, hold, spam or restore one comment",
        "comments:moderate",
        "ActionBody",
        200,
    ),
):
    openapi.register(*_op)

routes = [
    Route("/v1/polls/{poll_id}/comments", post_comment, methods=["POST"]),
    Route("/v1/polls/{poll_id}/comments", list_comments, methods=["GET"]),
    Route("/v1/polls/{poll_id}/comments/{comment_id}/reports", report_comment, methods=["POST"]),
    Route("/v1/admin/polls/{poll_id}/comments", poll_queue, methods=["GET"]),
    Route("/v1/admin/sites/{slug}/comments", site_queue, methods=["GET"]),
    Route("/v1/admin/comments/moderate", moderate_many, methods=["POST"]),
    Route("/v1/admin/comments/{comment_id}/{action}", moderate_one, methods=["POST"]),
]
