"""POST /v1/polls/{id}/votes: check a vote, hand it to the engine, answer in JSON or,
for the widget's plain form, with a redirect back to the poll."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service import metrics
from service.engine import Ballot, Verdict
from service.errors import ApiError, BadRequest, Conflict, Forbidden, NotFound, RateLimited
from service.http import json_response
from service.identity import (
    VOTER_COOKIE,
    check_widget_token,
    client_ip,
    in_networks,
    network_of,
    new_voter_id,
    verify_voter,
    voter_cookie,
    voter_cookie_header,
)
from service.polls import Poll, looks_like_poll_id
from service.results import shape
from service.validation import decode, parse_form, read_body

VOTER_MARK_TTL = 400 * 24 * 3600
MAX_PAGE_URL = 500
# The embed page's query keys a form post may carry back to the poll after voting.
EMBED_KEYS = ("locale", "theme", "accent", "radius", "font", "wid", "origin", "page")


class VoteBody(msgspec.Struct, forbid_unknown_fields=True):
    choices: list[str]
    token: str | None = None  # the widget form's signed token
    voter: str | None = None  # a voter id signed by the host portal ("verified" polls)
    page: str | None = None  # the article the poll sits beside


def _form_body(raw: bytes) -> VoteBody:
    choices: list[str] = []
    fields: dict[str, str] = {}
    for key, value in parse_form(raw):
        if key == "choice":
            choices.append(value)
        elif key in ("token", "voter", "page", "return"):
            fields[key] = value
    return VoteBody(
        choices=choices,
        token=fields.get("token"),
        voter=fields.get("voter"),
        page=fields.get("page"),
    )


def _check_origin(request: Request, poll: Poll) -> None:
    """Browser votes must come from this service's pages or an allowed origin of the site."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin is None or origin == "null":
        # Cross-site requests from browsers always carry Origin; a missing one is a
        # server-side client (curl, a portal backend), which the site may forbid via tokens.
        if fetch_site == "cross-site":
            raise Forbidden(
                "votes are accepted only from the poll's own pages",
                code="bad_origin",
                field="Origin",
            )
        return
    if origin == request.state.own_origin or origin in poll.site.allowed_origins:
        return
    raise Forbidden(f"origin {origin} may not vote on this poll", code="bad_origin", field="Origin")


def _choices(poll: Poll, choices: list[str]) -> tuple[str, ...]:
    if len(choices) != len(set(choices)):
        raise BadRequest("each option may be chosen once", field="choices", code="invalid")
    if not poll.min_choices <= len(choices) <= poll.max_choices:
        if poll.max_choices == 1:
            message = "choose one option"
        else:
            message = f"choose between {poll.min_choices} and {poll.max_choices} options"
        raise BadRequest(message, field="choices", code="invalid_choice_count")
    unknown = [c for c in choices if c not in poll.option_ids]
    if unknown:
        raise BadRequest(
            f"{unknown[0]!r} is not an option of this poll", field="choices", code="unknown_option"
        )
    return tuple(choices)


def _page_url(body: VoteBody, request: Request) -> str | None:
    page = body.page or request.headers.get("referer")
    if not page:
        return None
    parts = urlsplit(page[:MAX_PAGE_URL])
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    # Keep the article, drop query and fragment: they may carry a reader's session data.
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


def _user_agent_family(ua: str | None) -> str | None:
    if not ua:
        return None
    lowered = ua.lower()
    for needle, family in (
        ("bot", "bot"),
        ("spider", "bot"),
        ("curl", "curl"),
        ("python", "script"),
        ("wrk", "script"),
        ("edg/", "Edge"),
        ("firefox", "Firefox"),
        ("chrome", "Chrome"),
        ("safari", "Safari"),
    ):
        if needle in lowered:
            return family
    return "other"


def _rate(poll: Poll, ip: str) -> tuple[int, int, int, int]:
    site = poll.site
    if site.allowlisted_networks and in_networks(ip, site.allowlisted_networks):
        return (0, 0, 0, 0)
    ip_interval = 60_000 // site.rate_per_ip_per_minute
    net_interval = 60_000 // site.rate_per_network_per_minute
    # GCRA tolerance for a burst of B: B - 1 further requests may come at once.
    return (
        ip_interval,
        ip_interval * (site.burst_per_ip - 1),
        net_interval,
        net_interval * (site.burst_per_network - 1),
    )


def _ballot(request: Request, poll: Poll, body: VoteBody, voter_id: str) -> Ballot:
    settings = request.state.settings
    hasher = request.state.hasher
    client = request.client
    ip = client_ip(
        client.host if client else None,
        request.headers.get("x-forwarded-for"),
        settings.trusted_proxies,
    )
    mode = poll.dedupe_mode
    if mode == "verified":
        voter_id = verify_voter(poll.site.voter_secret, body.voter)
    voter_hash = hasher(poll.id, "voter", voter_id)
    ip_hash = hasher(poll.id, "ip", ip)
    window = poll.dedupe_window_hours * 3600
    dedupe_voter = mode in ("cookie", "cookie_ip", "verified")
    dedupe_ip = mode in ("ip", "cookie_ip")
    token_nonce = None
    if body.token:
        token_nonce = check_widget_token(settings.secret_key, poll.id, body.token)
    elif poll.site.require_widget_token:
        raise Forbidden(
            "this site accepts votes only through its poll widget",
            field="token",
            code="token_required",
        )
    idem = request.headers.get("idempotency-key")
    if idem is not None and not (1 <= len(idem) <= 200 and idem.isascii() and idem.isprintable()):
        raise BadRequest(
            "Idempotency-Key must be 1 to 200 printable ASCII characters", field="Idempotency-Key"
        )
    return Ballot(
        poll=poll,
        choices=_choices(poll, body.choices),
        voter_hash=voter_hash,
        ip_hash=ip_hash,
        network_hash=hasher(poll.id, "net", network_of(ip)),
        voter_key=voter_hash if dedupe_voter else None,
        # Fixed windows in the ledger: two votes a full window apart always get
        # different keys, so the ledger never refuses what Redis's sliding mark allowed.
        ip_key=f"{ip_hash}:{int(time.time()) // window}" if dedupe_ip else None,
        voter_mark_ttl=VOTER_MARK_TTL if dedupe_voter else 0,
        ip_mark_ttl=window if dedupe_ip else 0,
        rate=_rate(poll, ip),
        idempotency_key=hasher(poll.id, "idem", idem) if idem else None,
        token_nonce=token_nonce,
        page_url=_page_url(body, request),
        user_agent=_user_agent_family(request.headers.get("user-agent")),
    )


def _refusal(poll: Poll, verdict: Verdict) -> ApiError:
    if verdict.outcome == "duplicate":
        return Conflict("you have already voted in this poll", code="already_voted")
    if verdict.outcome == "token_reused":
        return Conflict(
            "this form was already used; reload the poll", code="already_voted", field="token"
        )
    seconds = max(1, math.ceil(verdict.retry_after_ms / 1000))
    site = poll.site
    return RateLimited(
        "too many votes from your network; please try again later",
        headers={
            "Retry-After": str(seconds),
            "RateLimit-Policy": f"{site.burst_per_ip};w=60",
            "RateLimit": f"limit={site.burst_per_ip}, remaining=0, reset={seconds}",
        },
    )


async def cast_vote(request: Request) -> Response:
    started = time.perf_counter()
    tally = request.state.tally
    poll_id = request.path_params["poll_id"]
    is_form = request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    )
    poll: Poll | None = None
    voter_id = voter_cookie(request.cookies.get(VOTER_COOKIE))
    new_voter = voter_id is None
    if voter_id is None:
        voter_id = new_voter_id()
    try:
        if looks_like_poll_id(poll_id):
            poll = await request.state.polls.get(poll_id)
        if poll is None or poll.status == "draft":
            poll = None
            raise NotFound("no such poll", code="not_found")
        _check_origin(request, poll)
        raw = await read_body(request)
        body = _form_body(raw) if is_form else decode(raw, VoteBody)
        phase = poll.phase(datetime.now(UTC))
        if phase == "closed":
            raise Conflict("this poll is closed", code="poll_closed")
        if phase == "not_open":
            raise Conflict("this poll is not open yet", code="poll_not_open")
        ballot = _ballot(request, poll, body, voter_id)
        verdict = await request.state.engine.cast(ballot)
        tally.note(poll.id, verdict.outcome, in_redis=True)
        if verdict.outcome not in ("accepted", "replayed"):
            raise _refusal(poll, verdict)
    except ApiError as exc:
        if exc.code in ("poll_closed", "poll_not_open"):
            tally.note(poll.id if poll else None, "closed")
        elif exc.status in (400, 403, 413, 415):
            tally.note(poll.id if poll else None, "invalid")
        if is_form and poll is not None:
            return _back_to_poll(request, poll.id, exc.code, new_voter, voter_id)
        raise
    request.state.counts.put(poll.id, verdict.counts)
    metrics.VOTE_SECONDS.observe(time.perf_counter() - started)
    if is_form:
        return _back_to_poll(request, poll.id, "voted", new_voter, voter_id)
    payload: dict[str, Any] = {
        "status": "accepted",
        "poll_id": poll.id,
        "choices": list(ballot.choices),
        "replayed": verdict.outcome == "replayed",
        "results": (
            shape(poll, verdict.counts)
            if poll.results_public(datetime.now(UTC), has_voted=True)
            else None
        ),
    }
    headers = {"Cache-Control": "no-store"}
    if new_voter:
        headers["Set-Cookie"] = voter_cookie_header(voter_id)
    return json_response(payload, 201, headers)


def _back_to_poll(
    request: Request, poll_id: str, state: str, new_voter: bool, voter_id: str
) -> Response:
    """The no-JavaScript path: 303 back to the embed page, which shows the outcome."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k in EMBED_KEYS]
    query.append(("state", state))
    response = RedirectResponse(f"/embed/{poll_id}?{urlencode(query)}", status_code=303)
    if new_voter:
        response.headers["Set-Cookie"] = voter_cookie_header(voter_id)
    return response


routes = [Route("/v1/polls/{poll_id}/votes", cast_vote, methods=["POST"])]
