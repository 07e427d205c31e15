"""Admin reports: results, integrity figures, audit trail and ledger export (CSV, JSON)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from service.admin.auth import require_scope
from service.core.errors import BadRequest
from service.core.http import encode_json, json_response
from service.polls.access import poll_for
from service.services import services
from service.voting.counts import ledger_counts
from service.voting.integrity import read_figures
from service.voting.results import read_counts, shape

_EXPORT = (
    "SELECT id::text, cast_at, option_ids, voter_hash, ip_hash, network_hash, page_url,"
    " user_agent FROM votes WHERE poll_id = $1 ORDER BY cast_at, id"
)
_EXPORT_COLUMNS = (
    "id",
    "cast_at",
    "option_ids",
    "voter_hash",
    "ip_hash",
    "network_hash",
    "page_url",
    "user_agent",
)


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
        rows = await con.fetch(
            "SELECT at, actor, action, before, after FROM audit_log"
            " WHERE object_type = 'poll' AND object_id = $1 ORDER BY at, id",
            poll.id,
        )
    return json_response({"items": [dict(r) for r in rows]})


async def export(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    fmt = request.query_params.get("format", "csv")
    if fmt not in ("csv", "json"):
        raise BadRequest("format must be csv or json", field="format")
    async with services(request).pool.acquire() as con:
        poll = await poll_for(con, request.path_params["poll_id"], principal)
    pool = services(request).pool

    async def rows() -> AsyncIterator[tuple[object, ...]]:
        async with pool.acquire() as con, con.transaction():
            async for row in con.cursor(_EXPORT, poll.id, prefetch=500):
                yield (row[0], row[1].isoformat(), " ".join(map(str, row[2])), *row[3:])

    async def as_csv() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(_EXPORT_COLUMNS)
        async for row in rows():
            writer.writerow(row)
            if buffer.tell() > 32_768:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    async def as_json_lines() -> AsyncIterator[bytes]:
        async for row in rows():
            yield encode_json(dict(zip(_EXPORT_COLUMNS, row, strict=True))) + b"\n"

    name = f"civicpoll-{poll.id}-votes.{'csv' if fmt == 'csv' else 'jsonl'}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        return StreamingResponse(as_csv(), media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse(as_json_lines(), media_type="application/x-ndjson", headers=headers)


routes = [
    Route("/v1/admin/polls/{poll_id}/results", admin_results, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/integrity", integrity, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/audit", audit_trail, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}/export", export, methods=["GET"]),
]
