"""The console's Sites pages (admins): create a site; change its embedding origins (one
added or removed at a time, the others kept), theme (with a live preview), rate limits,
allowlisted networks; rotate its voter secret. Through service.admin.sites."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from service.admin import sites
from service.admin.schemas import SiteCreate, SiteUpdate
from service.console.web import Page, console_page, redirect
from service.core.errors import BadRequest, Conflict, NotFound, ServiceError
from service.core.http import encode_json
from service.core.validation import decode
from service.widget.theme import DEFAULT_THEME, MODES

_LIMITS = (
    "rate_per_ip_per_minute",
    "burst_per_ip",
    "rate_per_network_per_minute",
    "burst_per_network",
)


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _number(text: str, field: str) -> int:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) <= 7):
        raise BadRequest(f"{field} must be a whole number", field=field)
    return int(text)


def _settings_body(page: Page) -> dict[str, Any]:
    form = page.form
    body: dict[str, Any] = {
        "name": form.get("name"),
        "default_locale": form.get("default_locale"),
        "allowlisted_networks": _lines(form.get("allowlisted_networks")),
        "require_widget_token": form.get("require_widget_token") == "on",
        "theme": {k: form.get(f"theme_{k}") for k in DEFAULT_THEME if form.get(f"theme_{k}")},
    }
    for name in _LIMITS:
        body[name] = _number(form.get(name), name)
    return body


async def _site_page(
    page: Page, slug: str, *, error: ServiceError | None = None, status: int = 200, **extra: Any
) -> Response:
    assert page.session is not None
    site = await sites.get_site(page.svc, page.session.principal, slug)
    preview = await page.svc.pool.fetchval(
        "SELECT p.id FROM polls p JOIN sites s ON s.id = p.site_id"
        " WHERE s.slug = $1 AND p.status = 'open' ORDER BY p.created_at DESC LIMIT 1",
        slug,
    )
    return page.render(
        "console_site.html",
        status,
        site=site,
        theme={**DEFAULT_THEME, **site["theme"]},
        modes=MODES,
        preview=preview,
        errors={(error.field or "_form"): error.message} if error else {},
        saved=page.request.query_params.get("saved") == "1",
        **extra,
    )


@console_page("sites:admin")
async def site_list(page: Page) -> Response:
    assert page.session is not None
    return page.render(
        "console_sites.html",
        sites=await sites.list_sites(page.svc, page.session.principal),
        errors={},
        values=page.form,
    )


@console_page("sites:admin")
async def site_create(page: Page) -> Response:
    assert page.session is not None
    form = page.form
    body = {
        "slug": form.get("slug").strip(),
        "name": form.get("name"),
        "allowed_origins": _lines(form.get("allowed_origins")),
        "default_locale": form.get("default_locale") or "vi",
    }
    try:
        created = await sites.create_site(
            page.svc, page.session.principal, decode(encode_json(body), SiteCreate)
        )
    except (BadRequest, Conflict) as exc:
        return page.render(
            "console_sites.html",
            400,
            sites=await sites.list_sites(page.svc, page.session.principal),
            errors={(exc.field or "_form"): exc.message},
            values=form,
        )
    return redirect(f"/console/sites/{created['slug']}?saved=1")


@console_page("sites:admin")
async def site_edit(page: Page) -> Response:
    return await _site_page(page, page.request.path_params["slug"])


@console_page("sites:admin")
async def site_update(page: Page) -> Response:
    assert page.session is not None
    slug = page.request.path_params["slug"]
    part = page.form.get("part")
    try:
        if part == "add_origin":
            body: dict[str, Any] = {"add_origins": [page.form.get("origin").strip()]}
        elif part == "remove_origin":
            body = {"remove_origins": [page.form.get("origin")]}
        elif part == "rotate":
            if page.form.get("confirm") != "on":
                raise BadRequest(page.t["rotate_confirm_needed"], field="confirm")
            body = {"rotate_voter_secret": True}
        elif part == "settings":
            body = _settings_body(page)
        else:
            raise NotFound("no such form")
        await sites.update_site(
            page.svc, page.session.principal, slug, decode(encode_json(body), SiteUpdate)
        )
    except (BadRequest, Conflict) as exc:
        return await _site_page(page, slug, error=exc, status=400)
    return redirect(f"/console/sites/{slug}?saved=1")
