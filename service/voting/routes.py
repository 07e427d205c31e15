"""POST /v1/polls/{id}/votes: check a vote, hand it to the engine, answer in JSON or,
for the widget's plain form, with a redirect back to the poll.

This is the hottest path of the service: headers are read once into a dict, and nothing
here touches PostgreSQL or Redis except through the engine's batches.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServiceError,
)
from service.core.http import PreparedResponse, cookie, encode_json, status_of
from service.core.urls import clean_page_url
from service.core.validation import decode, parse_form, read_body
from service.ops import metrics
from service.polls.access import find_public_poll
from service.polls.model import Poll
from service.server.hotlane import HotRoute
from service.services import services
from service.voting.engine import VOTER_MARK_TTL, Ballot, Verdict
from service.voting.identity import (
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
from service.voting.results import shape
from service.widget.view import EMBED_KEYS

_FORM = b"application/x-www-form-urlencoded"


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
        elif key in ("token", "voter", "page"):
            fields[key] = value
    return VoteBody(
        choices=choices,
        token=fields.get("token"),
        voter=fields.get("voter"),
        page=fields.get("page"),
    )


def _check_origin(headers: dict[bytes, bytes], poll: Poll, own_origin: str) -> None:
    """Browser votes must come from this service's pages or an allowed origin of the site."""
    raw = headers.get(b"origin")
    if raw is None or raw == b"null":
        # Browsers always send Origin on cross-site POSTs; without one this is a
        # server-side client (curl, a portal backend), which a site may refuse by
        # requiring widget tokens.
        if headers.get(b"sec-fetch-site") == b"cross-site":
            raise Forbidden(
                "votes are accepted only from the poll's own pages",
                code="bad_origin",
                field="Origin",
            )
        return
    origin = raw.decode("latin-1")
    if origin == own_origin or origin in poll.site.allowed_origins:
        return
    raise Forbidden(f"origin {origin} may not vote on this poll", code="bad_origin", field="Origin")


def _choices(poll: Poll, choices: list[str]) -> tuple[str, ...]:
    if len(choices) != len(set(choices)):
        raise BadRequest("each option may be chosen once", field="choices")
    if not poll.min_choices <= len(choices) <= poll.max_choices:
        if poll.max_choices == 1:
            message = "choose one option"
        else:
            message = f"choose between {poll.min_choices} and {poll.max_choices} options"
        raise BadRequest(message, field="choices", code="invalid_choice_count")
    unknown = [c for c in choices if c not in poll.option_ids]
    if unknown:
        raise BadRequest(
            f"{unknown[0][:40]!r} is not an option of this poll",
            field="choices",
            code="unknown_option",
        )
    return tuple(choices)


_UA_FAMILIES = (
    ("bot", "bot"),
    ("spider", "bot"),
    ("curl", "curl"),
    ("python", "script"),
    ("wrk", "script"),
    ("edg/", "Edge"),
    ("firefox", "Firefox"),
    ("chrome", "Chrome"),
    ("safari", "Safari"),
)


def _user_agent_family(raw: bytes | None) -> str | None:
    """A coarse browser family: enough to spot a script flood, too little to fingerprint."""
    if not raw:
        return None
    lowered = raw.decode("latin-1").lower()
    for needle, family in _UA_FAMILIES:
        if needle in lowered:
            return family
    return "other"


def _idempotency_key(headers: dict[bytes, bytes]) -> str | None:
    raw = headers.get(b"idempotency-key")
    if raw is None:
        return None
    key = raw.decode("latin-1")
    if not (1 <= len(key) <= 200 and key.isascii() and key.isprintable()):
        raise BadRequest(
            "Idempotency-Key must be 1 to 200 printable ASCII characters", field="Idempotency-Key"
        )
    return key


def _ballot(
    request: Request, headers: dict[bytes, bytes], poll: Poll, body: VoteBody, voter_id: str
) -> Ballot:
    svc = services(request)
    settings = svc.settings
    hasher = svc.hasher
    forwarded = headers.get(b"x-forwarded-for")
    ip = client_ip(
        peer[0] if (peer := request.scope.get("client")) else None,
        forwarded.decode("latin-1") if forwarded else None,
        settings.trusted_proxies,
    )
    mode = poll.dedupe_mode
    if mode == "verified":
        voter_id = verify_voter(poll.site.voter_secret, body.voter)
    token_nonce = None
    if body.token:
        token_nonce = check_widget_token(settings.secret_key, poll.id, body.token)
    elif poll.site.require_widget_token:
        raise Forbidden(
            "this site accepts votes only through its poll widget",
            field="token",
            code="token_required",
        )
    idem = _idempotency_key(headers)
    choices = _choices(poll, body.choices)
    voter_hash = hasher(poll.id, "voter", voter_id)
    ip_hash = hasher(poll.id, "ip", ip)
    window = poll.dedupe_window_hours * 3600
    dedupe_voter = mode in ("cookie", "cookie_ip", "verified")
    dedupe_ip = mode in ("ip", "cookie_ip")
    referer = headers.get(b"referer")
    return Ballot(
        poll=poll,
        choices=choices,
        voter_hash=voter_hash,
        ip_hash=ip_hash,
        network_hash=hasher(poll.id, "net", network_of(ip)),
        voter_key=voter_hash if dedupe_voter else None,
        # Fixed windows in the ledger: two votes a full window apart always get
        # different keys, so the ledger never refuses what Redis's sliding mark allowed.
        ip_key=f"{ip_hash}:{int(time.time()) // window}" if dedupe_ip else None,
        voter_mark_ttl=VOTER_MARK_TTL if dedupe_voter else 0,
        ip_mark_ttl=window if dedupe_ip else 0,
        limited=not in_networks(ip, poll.site.allowlisted_networks),
        idempotency_key=hasher(poll.id, "idem", idem) if idem else None,
        token_nonce=token_nonce,
        page_url=clean_page_url(body.page or (referer.decode("latin-1") if referer else None)),
        user_agent=_user_agent_family(headers.get(b"user-agent")),
    )


def _refusal(poll: Poll, verdict: Verdict) -> ServiceError:
    if verdict.outcome == "duplicate":
        return Conflict("you have already voted in this poll", code="already_voted")
    if verdict.outcome == "token_reused":
        return Conflict(
            "this form was already used; reload the poll", code="already_voted", field="token"
        )
    seconds = max(1, math.ceil(verdict.retry_after_ms / 1000))
    burst = poll.site.burst_per_ip
    return RateLimited(
        "too many votes from your network; please try again later",
        headers={
            "Retry-After": str(seconds),
            "RateLimit-Policy": f"{burst};w=60",
            "RateLimit": f"limit={burst}, remaining=0, reset={seconds}",
        },
    )


async def cast_vote(request: Request) -> Response:
    started = time.perf_counter()
    svc = services(request)
    headers = dict(request.scope["headers"])
    poll_id = request.path_params["poll_id"]
    is_form = headers.get(b"content-type", b"").startswith(_FORM)
    poll: Poll | None = None
    voter_id = voter_cookie(cookie(headers.get(b"cookie"), VOTER_COOKIE))
    new_voter = voter_id is None
    if voter_id is None:
        voter_id = new_voter_id()
    try:
        poll = await find_public_poll(svc.polls, poll_id)
        if poll is None:
            raise NotFound("no such poll")
        _check_origin(headers, poll, svc.own_origin)
        raw = await read_body(request)
        body = _form_body(raw) if is_form else decode(raw, VoteBody)
        now = datetime.now(UTC)
        phase = poll.phase(now)
        if phase == "closed":
            raise Conflict("this poll is closed", code="poll_closed")
        if phase == "not_open":
            raise Conflict("this poll is not open yet", code="poll_not_open")
        ballot = _ballot(request, headers, poll, body, voter_id)
        verdict = await svc.engine.cast(ballot)
        svc.tally.note(poll.id, verdict.outcome, in_redis=True)
        if verdict.outcome not in ("accepted", "replayed"):
            raise _refusal(poll, verdict)
    except ServiceError as exc:
        if exc.code in ("poll_closed", "poll_not_open"):
            svc.tally.note(poll.id if poll else None, "closed")
        elif status_of(exc) in (400, 403, 413, 415):
            svc.tally.note(poll.id if poll else None, "invalid")
        if is_form and poll is not None:
            return _back_to_poll(request, poll.id, exc.code, new_voter, voter_id)
        raise
    svc.counts.put(poll.id, verdict.counts)
    metrics.VOTE_SECONDS.observe(time.perf_counter() - started)
    if is_form:
        return _back_to_poll(request, poll.id, "voted", new_voter, voter_id)
    payload: dict[str, Any] = {
        "status": "accepted",
        "poll_id": poll.id,
        "choices": list(ballot.choices),
        "replayed": verdict.outcome == "replayed",
        "results": _shaped(poll, verdict.counts) if poll.results_public(now, True) else None,
    }
    answer = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    if new_voter:
        answer.append((b"set-cookie", voter_cookie_header(voter_id).encode()))
    return PreparedResponse(encode_json(payload), answer, 201)


_last_shape: list[Any] = [None, None, None]


def _shaped(poll: Poll, counts: dict[str, int]) -> dict[str, Any]:
    """shape() once per batch: the votes decided together share one counts dict."""
    memo = _last_shape
    if memo[0] is not poll or memo[1] is not counts:
        memo[:] = [poll, counts, shape(poll, counts)]
    shaped: dict[str, Any] = memo[2]
    return shaped


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


routes = [HotRoute("/v1/polls/{poll_id}/votes", cast_vote, method="POST")]
