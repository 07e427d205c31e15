"""Security headers are sent once: the middleware's defaults (ops/middleware.py) stand
back where a page set its own (the console's and the dashboard's Referrer-Policy), on
every console, widget, dashboard and API answer, errors and redirects included."""

from __future__ import annotations

from typing import Any

import httpx

from service.console import users
from tests.conftest import PollMaker
from tests.console.conftest import PASSWORD, sign_in

SECURITY_HEADERS = (
    "content-security-policy",
    "referrer-policy",
    "x-content-type-options",
    "x-frame-options",
    "cross-origin-resource-policy",
    "cross-origin-opener-policy",
    "permissions-policy",
    "strict-transport-security",
    "cache-control",
    "x-request-id",
)


def _repeated(response: httpx.Response) -> dict[str, list[str]]:
    return {
        name: response.headers.get_list(name)
        for name in SECURITY_HEADERS
        if len(response.headers.get_list(name)) > 1
    }


async def test_every_page_sends_each_security_header_at_most_once(
    app_state: tuple[Any, Any],
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    make_poll: PollMaker,
    site: dict[str, Any],
    state: Any,
) -> None:
    poll = await make_poll(comments="premoderated")
    pid, slug = poll["id"], site["slug"]
    await state.pool.execute("TRUNCATE users, console_sessions, login_failures CASCADE")
    async with state.pool.acquire() as con:
        await users.create_user(
            con, users.OPERATOR, email="an@example.vn", role="admin", password=PASSWORD, sites=[]
        )
    transport = httpx.ASGITransport(app=app_state[0], client=("127.0.0.9", 50200))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as person:
        anonymous_console = [await person.get("/console/login"), await person.get("/console")]
        assert (await sign_in(person, "an@example.vn")).status_code == 303
        console = [
            await person.get(path)
            for path in (
                "/console",
                "/console/polls",
                "/console/polls/new",
                f"/console/polls/{pid}",
                f"/console/polls/{pid}/results",
                f"/console/polls/{pid}/held",
                f"/console/polls/{pid}/preview",
                f"/console/polls/{pid}/export?format=csv",
                "/console/moderation",
                "/console/people",
                "/console/sites",
                f"/console/sites/{slug}",
                "/console/audit",
                "/console/polls/nope",
                "/static/console.css",
            )
        ]
        console.append(await person.post(f"/console/polls/{pid}/close", data={"csrf": "x"}))
    link = (await admin.post(f"/v1/admin/polls/{pid}/dashboard-link")).json()["url"]
    key = link.split("key=")[1]
    public = [
        await client.get(path)
        for path in (
            f"/embed/{pid}",
            f"/embed/{pid}?state=voted",
            "/embed/nope",
            "/widget.js",
            "/static/embed.css",
            f"/v1/polls/{pid}",
            f"/v1/polls/{pid}/results",
            f"/v1/polls/{pid}/results.svg",
            f"/dashboard/{pid}?key={key}",
            f"/dashboard/{pid}/data?key={key}",
            f"/dashboard/site/{slug}",
            "/dashboard/static/dashboard.js",
            "/openapi.json",
            "/healthz",
        )
    ]
    form_vote = await client.post(
        f"/v1/polls/{pid}/votes",
        data={"choice": poll["options"][0]["id"]},
        headers={"Cookie": "pv=headers-once"},
    )
    answers = [*anonymous_console, *console, *public, form_vote]
    # The pages that set their own policy are among them, and keep it.
    assert console[1].headers["referrer-policy"] == "same-origin"
    assert public[8].headers["referrer-policy"] == "no-referrer"
    repeated = {f"{r.request.method} {r.request.url.path}": _repeated(r) for r in answers}
    assert {page: found for page, found in repeated.items() if found} == {}
