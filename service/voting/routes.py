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

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from service.core.errors import Conflict, NotFound, RateLimited, ServiceError, Unprocessable
from service.core.http import PUBLIC_CACHE, PreparedResponse, json_body, not_modified, status_of
from service.core.i18n import gettext
from service.core.validation import read_body
from service.identity.reader import new_voter_id, voter_cookie_header
from service.identity.request import request_identity
from service.ops import metrics
from service.polls.access import find_public_poll, openly_public, private_results, require_results
from service.polls.model import Poll
from service.server.hotlane import HotRoute
from service.services import services
from service.voting.ballot import VoteBody as VoteBody  # re-exported: the OpenAPI schema
from service.voting.ballot import build_ballot, parse_vote_body
from service.voting.challenge import difficulty, new_challenge
from service.voting.engine import Verdict
from service.voting.results import shape
from service.widget.view import back_to_embed

_FORM = b"application/x-www-form-urlencoded"


def _refusal(poll: Poll, verdict: Verdict) -> ServiceError:
    if verdict.outcome == "duplicate":
        return Conflict("you have already voted in this poll", code="already_voted")
    if verdict.outcome == "token_reused":
        return Conflict(
            "this form was already used; reload the poll", code="already_voted", field="token"
        )
    if verdict.outcome == "proof_reused":
        return Conflict(
            "this proof of work was already used; solve the new challenge",
            code="proof_reused",
            field="altcha",
        )
    if verdict.outcome == "idempotency_key_reused":
        return Unprocessable(
            "this Idempotency-Key was already used for another request; send a new key",
            code="idempotency_key_reused",
            field="Idempotency-Key",
        )
    seconds = max(1, math.ceil(verdict.retry_after_ms / 1000))
    # Name the limit that tripped: an address's own limit is not its network's.
    if verdict.limit == "network":
        burst, whom = poll.site.burst_per_network, "your network"
    else:
        burst, whom = poll.site.burst_per_ip, "your address"
    return RateLimited(
        f"too many votes from {whom}; please try again later",
        field=verdict.limit or "address",
        headers={
            "Retry-After": str(seconds),
            "RateLimit-Policy": f"{burst};w=60",
            "RateLimit": f"limit={burst}, remaining=0, reset={seconds}",
        },
    )


# Outcomes the integrity figures file under another name.
_TALLIED = {
    "idempotency_key_reused": "invalid",
    "proof_reused": "invalid",
    "challenge": "challenged",
}
_ANSWERED = ("accepted", "replayed", "held", "challenge")


def _challenge_answer(secret_key: bytes, poll: Poll, verdict: Verdict) -> Response:
    """428: the vote is over a limit and must carry a proof of work; nothing was stored.
    The body is an error (a client that ignores it sees a 4xx it can read) carrying the
    ALTCHA challenge whose solution the retried vote sends as "altcha"."""
    whom = "your network" if verdict.limit == "network" else "your address"
    body = {
        "error": {
            "code": "challenge_required",
            "message": f"many votes come from {whom}: solve the challenge and send the vote"
            " again with the solution as altcha",
            "field": "altcha",
        },
        "challenge": new_challenge(
            secret_key,
            poll.id,
            difficulty(poll.site.limits, verdict.retry_after_ms),
        ),
    }
    headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    return PreparedResponse(json_body(body), headers, 428)


async def cast_vote(request: Request) -> Response:
    started = time.perf_counter()
    svc = services(request)
    headers = dict(request.scope["headers"])
    poll_id = request.path_params["poll_id"]
    is_form = headers.get(b"content-type", b"").startswith(_FORM)
    poll: Poll | None = None
    who = request_identity(request, svc.settings.trusted_proxies)
    voter_id = who.reader
    new_voter = voter_id is None
    if voter_id is None:
        voter_id = new_voter_id()
    try:
        poll = await find_public_poll(svc.polls, poll_id)
        if poll is None:
            raise NotFound("no such poll")
        who.check_origin(svc.own_origin, poll.site.allowed_origins, (poll.id, poll.site.slug))
        raw = await read_body(request)
        if is_form and raw[:1] == b"{":
            # JSON under the form type (what `curl -d` sends): a browser's form encodes
            # "{", so this is an API client, answered in JSON about its JSON.
            is_form = False
        body = parse_vote_body(raw, is_form)
        now = datetime.now(UTC)
        phase = poll.phase(now)
        if phase == "closed":
            raise Conflict("this poll is closed", code="poll_closed")
        if phase == "not_open":
            raise Conflict("this poll is not open yet", code="poll_not_open")
        ballot = build_ballot(
            headers,
            who,
            svc.settings,
            svc.hasher,
            poll,
            body,
            voter_id,
            fresh=new_voter,
            form=is_form,
        )
        verdict = await svc.engine.cast(ballot)
        svc.tally.note(poll.id, _TALLIED.get(verdict.outcome, verdict.outcome), in_redis=True)
        if ballot.proof is not None and verdict.outcome in ("accepted", "held"):
            # The engine leaves a proof on the ballot only when the vote spent it.
            svc.tally.note(poll.id, "solved", in_redis=True)
        if verdict.outcome not in _ANSWERED:
            raise _refusal(poll, verdict)
    except ServiceError as exc:
        if exc.code in ("poll_closed", "poll_not_open"):
            svc.tally.note(poll.id if poll else None, "closed")
        elif status_of(exc) in (400, 403, 413, 415):
            svc.tally.note(poll.id if poll else None, "invalid")
        if is_form and poll is not None:
            return _back_to_poll(request, poll.id, exc.code, new_voter, voter_id)
        raise
    if verdict.outcome == "challenge":
        return _challenge_answer(svc.settings.secret_key, poll, verdict)
    svc.counts.put(poll.id, verdict.counts)
    metrics.VOTE_SECONDS.observe(time.perf_counter() - started)
    if verdict.outcome == "held":
        shown = _shaped(poll, verdict.counts) if poll.results_public(now, True) else None
        return _held_answer(request, poll, new_voter, voter_id, is_form, shown)
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
    return PreparedResponse(json_body(payload), answer, 201)


def _held_answer(
    request: Request,
    poll: Poll,
    new_voter: bool,
    voter_id: str,
    is_form: bool,
    results: dict[str, Any] | None,
) -> Response:
    """202: the vote is in the ledger, held for review, and not (yet) in the tally."""
    if is_form:
        return _back_to_poll(request, poll.id, "held", new_voter, voter_id)
    payload = {
        "status": "held",
        "poll_id": poll.id,
        "message": gettext(poll.locale, "held"),
        "results": results,
    }
    answer = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
    if new_voter:
        answer.append((b"set-cookie", voter_cookie_header(voter_id).encode()))
    return PreparedResponse(json_body(payload), answer, 202)


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
    where = back_to_embed(request.query_params.multi_items(), poll_id, ("state", state))
    response = RedirectResponse(where, status_code=303)
    if new_voter:
        response.headers["Set-Cookie"] = voter_cookie_header(voter_id)
    return response


_PUBLIC = PUBLIC_CACHE.encode()
_PRIVATE = b"private, no-cache"


async def get_results(request: Request) -> Response:
    """The poll's live counts, when this viewer may see them (polls.access decides)."""
    svc = services(request)
    poll = await find_public_poll(svc.polls, request.path_params["poll_id"])
    if poll is None:
        raise NotFound("no such poll")
    if openly_public(request, poll):  # the viral case: no clock, no credentials to check
        private = False
    else:
        await require_results(request, poll)
        private = private_results(request, poll)
    body, etag = await svc.counts.rendered(poll)
    headers = [
        (b"content-type", b"application/json"),
        (b"etag", etag.encode()),
        (b"cache-control", _PRIVATE if private else _PUBLIC),
    ]
    if not_modified(request, etag):
        return PreparedResponse(b"", headers, 304)
    return PreparedResponse(body, headers)


routes = [
    HotRoute("/v1/polls/{poll_id}/votes", cast_vote, method="POST"),
    HotRoute("/v1/polls/{poll_id}/results", get_results, method="GET"),
]
