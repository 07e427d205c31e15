"""The console's audit log page: every change by anyone, filterable by poll or site,
person and action, newest first."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from service.admin.audit import search_audit
from service.console import users
from service.console.web import Page, console_page
from service.console.words import AUDIT_ACTIONS
from service.core.validation import whole_number

PAGE_SIZE = 50


def _printable(text: str) -> str | None:
    # PostgreSQL refuses NUL bytes; no object, person or action is named with control text.
    return text if text and text.isprintable() else None


@console_page("sites:admin")
async def audit_log(page: Page) -> Response:
    query = page.request.query_params
    filters = {
        k: _printable((query.get(k) or "").strip()[:200]) for k in ("object", "actor", "action")
    }
    before = whole_number(query.get("before", ""))
    async with page.svc.pool.acquire() as con:
        entries = await search_audit(
            con,
            object_id=filters["object"],
            actor=filters["actor"],
            action=filters["action"],
            before_id=before,
            limit=PAGE_SIZE,
        )
        people = await users.list_users(con)
    next_url = None
    if len(entries) == PAGE_SIZE:
        kept = {k: v for k, v in filters.items() if v}
        next_url = "/console/audit?" + urlencode({**kept, "before": entries[-1]["id"]})
    names = {f"user:{p['id']}": p["email"] for p in people}
    return page.render(
        "console_audit.html",
        entries=entries,
        filters=filters,
        people=people,
        names=names,
        actions=AUDIT_ACTIONS,
        next_url=next_url,
    )
