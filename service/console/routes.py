"""The console's routes under /console, and `/` sending a browser there."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from service.console import (
    account,
    audit,
    held,
    moderation,
    people,
    polls,
    preview,
    results,
    signin,
    sites,
)
from service.console import placements as placement_pages
from service.core.assets import favicon
from service.core.errors import NotFound
from service.ops.openapi import register


async def root(request: Request) -> Response:
    """A browser asking for the bare host goes to the console; an API client gets 404."""
    if "text/html" in request.headers.get("accept", ""):
        return RedirectResponse("/console", status_code=303)
    raise NotFound("nothing here: the API lives under /v1 (see /openapi.json)")


register("get", "/favicon.ico", "The service's icon, for every page a browser shows")

routes = [
    Route("/", root, methods=["GET"]),
    Route("/favicon.ico", favicon, methods=["GET"]),
    Route("/console", polls.home, methods=["GET"]),
    Route("/console/login", signin.signin_form, methods=["GET"]),
    Route("/console/login", signin.signin, methods=["POST"]),
    Route("/console/logout", signin.signout, methods=["POST"]),
    Route("/console/account", account.account, methods=["GET"]),
    Route("/console/account/password", account.change_password, methods=["POST"]),
    Route("/console/polls", polls.poll_list, methods=["GET"]),
    Route("/console/polls", polls.poll_create, methods=["POST"]),
    Route("/console/polls/new", polls.poll_new, methods=["GET"]),
    Route("/console/polls/{poll_id}", polls.poll_edit, methods=["GET"]),
    Route("/console/polls/{poll_id}", polls.poll_update, methods=["POST"]),
    Route("/console/polls/{poll_id}/results", results.results, methods=["GET"]),
    Route("/console/polls/{poll_id}/link", results.share_link, methods=["POST"]),
    Route("/console/polls/{poll_id}/export", results.export, methods=["GET"]),
    Route("/console/polls/{poll_id}/preview", preview.draft_preview, methods=["GET"]),
    Route("/console/polls/{poll_id}/held", held.held_votes, methods=["GET"]),
    Route("/console/polls/{poll_id}/held", held.held_review, methods=["POST"]),
    Route("/console/polls/{poll_id}/{action}", polls.confirm_form, methods=["GET"]),
    Route("/console/polls/{poll_id}/{action}", polls.confirm, methods=["POST"]),
    Route("/console/sites", sites.site_list, methods=["GET"]),
    Route("/console/sites", sites.site_create, methods=["POST"]),
    Route("/console/sites/{slug}", sites.site_edit, methods=["GET"]),
    Route("/console/sites/{slug}", sites.site_update, methods=["POST"]),
    Route("/console/people", people.people, methods=["GET"]),
    Route("/console/people", people.person_create, methods=["POST"]),
    Route("/console/people/{action}", people.person_change, methods=["POST"]),
    Route("/console/tokens", people.token_create, methods=["POST"]),
    Route("/console/tokens/{token_id}/revoke", people.token_revoke, methods=["POST"]),
    Route("/console/audit", audit.audit_log, methods=["GET"]),
    Route("/console/moderation", moderation.queue, methods=["GET"]),
    Route("/console/moderation", moderation.act, methods=["POST"]),
    Route("/console/placements", placement_pages.placement_sites, methods=["GET"]),
    Route("/console/sites/{slug}/placements", placement_pages.placements, methods=["GET"]),
    Route("/console/sites/{slug}/placements", placement_pages.placement_change, methods=["POST"]),
]
