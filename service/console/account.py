"""A person's own account page: who they are, their role and sites, and a change of their
own password (the current one required; their other sessions end)."""

from __future__ import annotations

from starlette.responses import Response

from service.admin import sites
from service.console import hashing, throttle, users
from service.console.web import Page, console_page
from service.core.errors import BadRequest
from service.identity.address import client_ip, network_of


async def _account_page(
    page: Page, *, status: int = 200, problem: str = "", done: bool = False
) -> Response:
    assert page.session is not None
    return page.render(
        "console_account.html",
        status,
        sites=await sites.list_sites(page.svc, page.session.principal),
        problem=problem,
        done=done,
    )


@console_page()
async def account(page: Page) -> Response:
    return await _account_page(page)


@console_page()
async def change_password(page: Page) -> Response:
    assert page.session is not None
    session = page.session
    current, new = page.form.get("current"), page.form.get("password")
    if new != page.form.get("repeat"):
        return await _account_page(page, status=400, problem=page.t["passwords_differ"])
    # Checking the current password is a sign-in attempt: the same per-process hash
    # budget and the same reservation per account, address and network, so a session left
    # open cannot test passwords faster than the sign-in page lets anyone.
    if page.svc.signin_budget.take():
        return await _account_page(page, status=429, problem=page.t["throttled"])
    request = page.request
    peer = request.client.host if request.client else None
    address = client_ip(request.scope["headers"], peer, page.svc.settings.trusted_proxies)
    keys = throttle.keys(page.svc.settings.secret_key, session.email, address, network_of(address))
    async with page.svc.pool.acquire() as con:
        reserved = await throttle.reserve(con, keys)
        if reserved is None:
            page.svc.signin_budget.give_back()  # nothing was hashed
            return await _account_page(page, status=429, problem=page.t["throttled"])
        stored = await users.password_hash_of(con, session.user_id)
    if not await hashing.verify(stored, current):
        # The reservation stays: it is this wrong password's failure row.
        return await _account_page(page, status=400, problem=page.t["wrong_current_password"])
    async with page.svc.pool.acquire() as con:
        await throttle.release(con, reserved)
    try:
        new_hash = await hashing.hash_password(new)
    except BadRequest:
        return await _account_page(page, status=400, problem=page.t["password_short"])
    async with page.svc.pool.acquire() as con:
        await users.change_own_password(
            con, session.principal, session.user_id, new_hash, session.id_hash
        )
    return await _account_page(page, done=True)
