"""The console's results page: counts live and in the ledger, integrity figures, the live
dashboard (the same page a newsroom gets) framed beside them, a signed link to share it,
and the ledger export; all through the functions the admin reports use."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.responses import Response, StreamingResponse

from service.admin.export import as_csv, as_json_lines, ledger_rows
from service.console import links
from service.console.held import held_count
from service.console.web import Page, console_page
from service.core.errors import BadRequest
from service.core.validation import whole_number
from service.polls.access import poll_for
from service.polls.model import Poll
from service.voting.counts import ledger_counts
from service.voting.integrity import read_figures
from service.voting.results import read_counts, shape

FRAME_HOURS = 12  # the framed dashboard's own key: a working day
MAX_LINK_HOURS = 30 * 24


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def _poll(page: Page) -> Poll:
    assert page.session is not None
    async with page.svc.pool.acquire() as con:
        return await poll_for(con, page.request.path_params["poll_id"], page.session.principal)


async def _results_page(page: Page, status: int = 200, **extra: object) -> Response:
    assert page.session is not None
    poll = await _poll(page)
    async with page.svc.pool.acquire() as con:
        truth = await ledger_counts(con, poll.id)
        held = await held_count(con, poll.id)
    live = shape(poll, await read_counts(page.svc.redis, poll.id))
    await page.svc.tally.flush()
    frame, _ = await links.dashboard_link(
        page.svc, page.session.user_id, poll.site.id, poll.id, FRAME_HOURS
    )
    return page.render(
        "console_results.html",
        status,
        poll=poll,
        live=live,
        ledger=shape(poll, truth),
        figures=await read_figures(page.svc.redis, poll.id),
        held=held,
        # Same-origin paths, not PUBLIC_URL: the console may be open at another of the
        # machine's names (127.0.0.1 beside localhost), and the page's CSP frames 'self'.
        frame=f"{_path(frame)}&lang={page.lang}",
        stream=f"/v1/polls/{poll.id}/results/stream?{urlsplit(frame).query}",
        **extra,
    )


@console_page("polls:read")
async def results(page: Page) -> Response:
    return await _results_page(page)


@console_page("polls:read")
async def share_link(page: Page) -> Response:
    assert page.session is not None
    hours = whole_number(page.form.get("hours", "24"), 3)
    if hours is None or not 1 <= hours <= MAX_LINK_HOURS:
        raise BadRequest(f"hours must be a whole number from 1 to {MAX_LINK_HOURS}", field="hours")
    poll = await _poll(page)
    url, expires_at = await links.dashboard_link(
        page.svc, page.session.user_id, poll.site.id, poll.id, hours
    )
    return await _results_page(page, 201, link=url, link_expires=expires_at)


@console_page("polls:read")
async def export(page: Page) -> Response:
    fmt = page.request.query_params.get("format", "csv")
    if fmt not in ("csv", "json"):
        raise BadRequest("format must be csv or json", field="format")
    poll = await _poll(page)
    rows = ledger_rows(page.svc.pool, poll.id)
    name = f"civicpoll-{poll.id}-votes.{'csv' if fmt == 'csv' else 'jsonl'}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"}
    if fmt == "csv":
        return StreamingResponse(
            as_csv(rows), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(
        as_json_lines(rows), media_type="application/x-ndjson", headers=headers
    )
