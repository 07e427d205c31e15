"""A draft's preview: the embed page as it will look once open, rendered by the widget's
own renderer for the console's iframe (the public embed page shows no drafts). It takes
no votes: the form lacks the one-time token a real page carries."""

from __future__ import annotations

from starlette.responses import Response

from service.console.web import Page, console_page
from service.core.http import PreparedResponse
from service.polls.access import poll_for
from service.widget.view import parse_view


@console_page("polls:write")
async def draft_preview(page: Page) -> Response:
    assert page.session is not None
    async with page.svc.pool.acquire() as con:
        poll = await poll_for(con, page.request.path_params["poll_id"], page.session.principal)
    view = parse_view(page.request.query_params, poll, page.svc.own_origin)
    rendered = page.svc.pages.page(
        poll, view, phase="open", message=None, show_form=True, wants_results=False, results=None
    )
    headers = [*rendered.headers, (b"cache-control", b"no-store")]
    return PreparedResponse(rendered.head + rendered.tail, headers)
