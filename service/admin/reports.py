"""Admin reports: results, integrity figures, audit trail and ledger export (CSV, JSON)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from service.admin.audit import poll_trail
from service.admin.export import (
    COLUMNS,
    COMMENT_COLUMNS,
    as_csv,
    as_json_lines,
    comment_rows,
    ledger_rows,
)
from service.core.errors import BadRequest
from service.core.http import json_response
from service.identity.principal import require_scope
from service.polls.access import poll_for
from service.services import services
from service.voting.counts import ledger_counts
from service.voting.integrity import read_figures
from service.voting.results import read_counts, shape


async def admin_results(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    async with services(request).pool.acquire() as con:
        poll = await poll_for(con, request.path_params["poll_id"], principal)
        truth = await ledger_counts(con, poll.id)
    live = await read_counts(services(request).redis, poll.id)
    body = shape(poll, live)
    body["ledger"] = shape(poll, truth)
    return json_response(body, headers={"Cache-Control": "no-store"})


async def integrity(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    async with services(request).pool.acquire() as con:
        poll = await poll_for(con, request.path_params["poll_id"], principal)
        ledger_total = await con.fetchval("SELECT count(*) FROM votes WHERE poll_id = $1", poll.id)
    await services(request).tally.flush()
    figures = await read_figures(services(request).redis, poll.id)
    return json_response(
        {"poll_id": poll.id, "ledger_votes": ledger_total, **figures},
        headers={"Cache-Control": "no-store"},
    )


async def audit_trail(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    async with services(request).pool.acquire() as con:
        poll = await poll_for(con, request.path_params["poll_id"], principal)
        items = await poll_trail(con, poll.id)
    return json_response({"items": items})


async def export(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "json"):
        raise BadRequest("format must be csv or json", field="format")
    what = request.query_params.get("what", "votes")
    if what not in ("votes", "comments"):
        raise BadRequest("what must be votes or comments", field="what")
    async with services(request).pool.acquire() as con:
        poll = await poll_for(con, request.path_params["poll_id"], principal)
    # Read only once the response streams, on a connection of its own.
    pool = services(request).pool
    columns: tuple[str, ...]
    if what == "votes":
        rows, columns = ledger_rows(pool, poll.id), COLUMNS
    else:
        rows, columns = comment_rows(pool, poll.id), COMMENT_COLUMNS
    name = f"civicpoll-{poll.id}-{what}.{'csv' if fmt == 'csv' else 'jsonl'}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        return StreamingResponse(
            as_csv(rows, columns), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(
        as_json_lines(rows, columns), media_type="application/x-ndjson", headers=headers
    )


routes = [
    Route("/v1/admin/polls/{poll_id}/results", admin_results, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/integrity", integrity, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/audit", audit_trail, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/export", export, methods=["GET"]),
]
