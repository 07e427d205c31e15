"""Held votes under review: list them grouped by network, reason and minute, and release
them into the tally or discard them, each action audited.

A release moves ledger rows from held to released in one transaction, then adds them to
the poll's Redis counts (voting/review.lua, skipped while a rebuild runs, which reads them
from the ledger), so a released vote is counted exactly once either way.
"""

from __future__ import annotations

import logging
import uuid
from importlib import resources
from typing import Annotated, Any

import msgspec
import redis.asyncio as aioredis
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.core.errors import BadRequest
from service.core.http import json_response
from service.core.validation import read_json
from service.identity.audit import audit
from service.identity.principal import Principal, require_scope
from service.polls.access import poll_for
from service.services import Services, services
from service.voting.keys import HELD_FIELD, counts_key, rebuilding_key, stats_key

log = logging.getLogger("civicpoll.held")

MAX_IDS = 1000
MAX_LISTED = 2000  # votes listed in one answer (the oldest first); "total" counts them all


class HeldSelection(msgspec.Struct, forbid_unknown_fields=True):
    """Which held votes an action takes: the listed ids, or all of them."""

    # 1,000 ids (about 39 KB of JSON) fit the 64 KiB body limit; more go in batches, or "all".
    ids: Annotated[list[uuid.UUID], msgspec.Meta(min_length=1, max_length=MAX_IDS)] | None = None
    all: bool = False


_GROUPS = """
SELECT network_hash, coalesce(hold_reason, '') AS reason,
       date_trunc('minute', cast_at) AS minute,
       array_agg(id ORDER BY cast_at, id) AS ids,
       array_agg(array_to_string(option_ids, ',') ORDER BY cast_at, id) AS choices,
       array_agg(coalesce(user_agent, '') ORDER BY cast_at, id) AS browsers
FROM (SELECT * FROM votes WHERE poll_id = $1 AND state = 'held'
      ORDER BY cast_at, id LIMIT $2) AS held
GROUP BY 1, 2, 3
ORDER BY 3, 1, 2
"""


async def list_held(svc: Services, principal: Principal, poll_id: str) -> dict[str, Any]:
    async with svc.pool.acquire() as con:
        poll = await poll_for(con, poll_id, principal)
        total = await con.fetchval(
            "SELECT count(*) FROM votes WHERE poll_id = $1 AND state = 'held'", poll.id
        )
        rows = await con.fetch(_GROUPS, poll.id, MAX_LISTED)
    groups = [
        {
            # The network as the ledger keeps it: a keyed hash, never the address.
            "network": row["network_hash"],
            "reason": row["reason"],
            "minute": row["minute"],
            "count": len(row["ids"]),
            "votes": [
                {"id": str(vote_id), "choices": choices.split(","), "browser": browser or None}
                for vote_id, choices, browser in zip(
                    row["ids"], row["choices"], row["browsers"], strict=True
                )
            ],
        }
        for row in rows
    ]
    return {"poll_id": poll.id, "total": total, "listed": min(total, MAX_LISTED), "groups": groups}


async def review_held(
    svc: Services, principal: Principal, poll_id: str, body: HeldSelection, action: str
) -> dict[str, Any]:
    """action "release" (into the tally) or "discard" (kept in the ledger as discarded)."""
    if body.all == (body.ids is not None):
        raise BadRequest('send "ids" (a list of held vote ids) or "all": true', field="ids")
    state = "released" if action == "release" else "discarded"
    async with svc.pool.acquire() as con, con.transaction():
        poll = await poll_for(con, poll_id, principal)
        # state = 'held' in the WHERE: a vote leaves held once, whoever acts on it.
        rows = await con.fetch(
            "UPDATE votes SET state = $3, reviewed_at = now()"
            " WHERE poll_id = $1 AND state = 'held' AND ($2::uuid[] IS NULL OR id = ANY ($2))"
            " RETURNING id, option_ids",
            poll.id,
            body.ids,
            state,
        )
        ids = [str(row["id"]) for row in rows]
        await audit(
            con,
            principal,
            action=f"{action}_held",
            object_type="poll",
            object_id=poll.id,
            after={"votes": len(ids), "all": body.all, "ids": ids},
        )
    counted = True
    if ids:
        # This process's figure for /metrics; the poll's Redis figure is added below.
        svc.tally.note(poll.id, state, in_redis=True, n=len(ids))
        # Ledger first (committed above), then the counts: the votes that left held in
        # this transaction, each once, whoever else reviews at the same time.
        added = [str(o) for row in rows for o in row["option_ids"]] if state == "released" else []
        try:
            applied = await svc.redis.register_script(_REVIEW)(
                keys=[counts_key(poll.id), rebuilding_key(poll.id)],
                args=[HELD_FIELD, len(ids), *added],
            )
            await svc.redis.hincrby(stats_key(poll.id), state, len(ids))
            counted = bool(applied)
            svc.counts.forget(poll.id)
        except (aioredis.RedisError, OSError) as exc:
            # The ledger has the change; the reconciler brings Redis to it.
            counted = False
            log.warning("poll %s: counts not refreshed after %s: %r", poll.id, action, exc)
    return {"poll_id": poll.id, state: len(ids), "ids": ids, "counts_refreshed": counted}


# Registering only hashes the text; review is rare enough to do it per call.
_REVIEW = resources.files("service.voting").joinpath("review.lua").read_text("utf-8")


async def held_votes(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    body = await list_held(services(request), principal, request.path_params["poll_id"])
    return json_response(body, headers={"Cache-Control": "no-store"})


async def release_held(request: Request) -> Response:
    return await _review(request, "release")


async def discard_held(request: Request) -> Response:
    return await _review(request, "discard")


async def _review(request: Request, action: str) -> Response:
    principal = await require_scope(request, "polls:write")
    body = await read_json(request, HeldSelection)
    poll_id = request.path_params["poll_id"]
    return json_response(await review_held(services(request), principal, poll_id, body, action))


routes = [
    Route("/v1/admin/polls/{poll_id}/held", held_votes, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/held/release", release_held, methods=["POST"]),
    Route("/v1/admin/polls/{poll_id}/held/discard", discard_held, methods=["POST"]),
]
