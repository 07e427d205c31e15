"""The console's People page (admins): console users (create with a one-time password,
new password, disable) and API tokens (issued and shown once, revoked)."""

from __future__ import annotations

from starlette.responses import Response

from service.admin import sites, tokens
from service.console import passwords, users
from service.console.web import Page, console_page
from service.core.errors import BadRequest, Conflict, NotFound, ServiceError
from service.core.validation import whole_number
from service.identity.principal import SCOPES


async def _people_page(
    page: Page, *, status: int = 200, error: ServiceError | None = None, **extra: object
) -> Response:
    assert page.session is not None
    principal = page.session.principal
    async with page.svc.pool.acquire() as con:
        people = await users.list_users(con)
    return page.render(
        "console_people.html",
        status,
        people=people,
        tokens=await tokens.list_tokens(page.svc, principal),
        sites=await sites.list_sites(page.svc, principal),
        roles=users.ROLES,
        scopes=SCOPES,
        errors={(error.field or "_form"): error.message} if error else {},
        **extra,
    )


@console_page("sites:admin")
async def people(page: Page) -> Response:
    return await _people_page(page)


@console_page("sites:admin")
async def person_create(page: Page) -> Response:
    assert page.session is not None
    form = page.form
    password = passwords.one_time_password()
    try:
        async with page.svc.pool.acquire() as con:
            await users.create_user(
                con,
                page.session.principal,
                email=form.get("email"),
                role=form.get("role"),
                password=password,
                sites=form.getlist("site"),
            )
    except (BadRequest, Conflict, NotFound) as exc:
        return await _people_page(page, status=400, error=exc)
    return await _people_page(
        page, status=201, shown_once={"who": form.get("email").strip().lower(), "secret": password}
    )


@console_page("sites:admin")
async def person_change(page: Page) -> Response:
    assert page.session is not None
    email = page.form.get("email")
    action = page.request.path_params["action"]
    if action == "password" and email.strip().lower() == page.session.email:
        # One's own password is changed on one's own page, with the old one (this would
        # end the very session that asks, and take no proof it is still the same person).
        return await _people_page(page, status=400, error=BadRequest(page.t["own_password_here"]))
    if action in ("password", "disable") and not page.confirmed:
        return page.ask(
            title=page.t[f"confirm_{action}_title"],
            message=page.t[f"confirm_{action}"].format(who=email),
            button=page.t["new_password" if action == "password" else "disable"],
            back="/console/people",
        )
    async with page.svc.pool.acquire() as con:
        if action == "disable":
            await users.disable_user(con, page.session.principal, email)
            return await _people_page(page)
        if action == "role":
            try:
                await users.change_role(
                    con,
                    page.session.principal,
                    email=email,
                    role=page.form.get("role"),
                    sites=page.form.getlist("site"),
                )
            except (BadRequest, NotFound) as exc:
                return await _people_page(page, status=400, error=exc)
            return await _people_page(page)
        if action == "password":
            password = passwords.one_time_password()
            await users.set_password(con, page.session.principal, email, password)
            return await _people_page(page, shown_once={"who": email, "secret": password})
    raise NotFound("no such action")


@console_page("sites:admin")
async def token_create(page: Page) -> Response:
    assert page.session is not None
    form = page.form
    try:
        token_id, token = await tokens.issue_token(
            page.svc,
            page.session.principal,
            scopes=form.getlist("scope"),
            site=form.get("site") or None,
            label=form.get("label").strip(),
        )
    except (BadRequest, NotFound) as exc:
        return await _people_page(page, status=400, error=exc)
    return await _people_page(
        page,
        status=201,
        shown_once={"who": f"{page.t['object_token']} {token_id}", "secret": token},
    )


@console_page("sites:admin")
async def token_revoke(page: Page) -> Response:
    assert page.session is not None
    token_id = whole_number(page.request.path_params["token_id"])
    if token_id is None:
        raise NotFound("no such token")
    if not page.confirmed:
        return page.ask(
            title=page.t["confirm_revoke_title"],
            message=page.t["confirm_revoke"].format(who=token_id),
            button=page.t["revoke"],
            back="/console/people",
        )
    await tokens.revoke_token(page.svc, page.session.principal, token_id)
    return await _people_page(page)
