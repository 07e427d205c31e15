"""Who may see a poll and its results: the one rule every route asks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from starlette.requests import Request

from service.core.errors import Forbidden, NotFound
from service.core.http import cookie, raw_header
from service.identity.context import IdentityContext
from service.identity.links import link_opens
from service.identity.principal import Principal, authenticate
from service.identity.reader import VOTER_COOKIE, voter_cookie
from service.polls.cache import PollCache
from service.polls.model import Poll, looks_like_poll_id
from service.polls.store import load_poll
from service.storage.db import Conn


class AccessContext(IdentityContext, Protocol):
    """What the access rules read from the running service (services.Services satisfies
    it): polls sits below voting and the surfaces, so it names no feature's object."""

    @property
    def polls(self) -> PollCache: ...

    async def has_voted(self, poll_id: str, reader: str) -> bool:
        """Whether the reader (cookie id) holds a vote mark in the poll (voting's keys)."""
        ...


def _context(request: Request) -> AccessContext:
    # The lifespan's state, as services.services() reads it, seen through the Protocol.
    found: AccessContext = request.scope["state"]["services"]
    return found


# Why a viewer may see results: an admin (token or signed link) always; a voter while the
# poll shows results to those who voted; the public while they are public.
ADMIN, VOTER, PUBLIC = "admin", "voter", "public"


async def find_public_poll(polls: PollCache, poll_id: str) -> Poll | None:
    """The poll as the public knows it: None for ids that cannot exist (they never reach
    PostgreSQL), unknown ids and drafts alike."""
    if not looks_like_poll_id(poll_id):
        return None
    poll = await polls.get(poll_id)
    if poll is None or poll.status == "draft":
        return None
    return poll


def checked_poll_id(poll_id: str) -> str:
    """The id, or 404 when it cannot exist (it never reaches PostgreSQL, which refuses NUL)."""
    if not looks_like_poll_id(poll_id):
        raise NotFound("no such poll")
    return poll_id


async def poll_for(con: Conn, poll_id: str, principal: Principal) -> Poll:
    """A poll as an admin principal may see it, drafts included: another site's poll is
    missing, word for word, so a site-scoped token learns nothing of other sites."""
    poll = await load_poll(con, checked_poll_id(poll_id))
    if poll is None or not principal.sees(poll.site.id):
        raise NotFound("no such poll")
    return poll


async def public_poll(request: Request) -> Poll:
    """The poll behind the path, or 404."""
    poll = await find_public_poll(_context(request).polls, request.path_params["poll_id"])
    if poll is None:
        raise NotFound("no such poll")
    return poll


async def has_voted(request: Request, poll: Poll) -> bool:
    """Whether this browser's voter cookie carries a vote in the poll. Only cookie modes
    tie a browser to its vote; elsewhere there is nothing to ask, and the answer is no."""
    if poll.dedupe_mode not in ("cookie", "cookie_ip"):
        return False
    voter = voter_cookie(cookie(raw_header(request, b"cookie"), VOTER_COOKIE))
    if voter is None:
        return False
    return await _context(request).has_voted(poll.id, voter)


def may_see(grant: str, poll: Poll) -> bool:
    """Whether a viewer admitted with `grant` may still see the poll (it may have changed)."""
    return grant == ADMIN or poll.results_public(datetime.now(UTC), has_voted=grant == VOTER)


async def results_grant(request: Request, poll: Poll) -> str | None:
    """Why this viewer may see the poll's results (ADMIN, VOTER, PUBLIC), or None.

    A signed link (?key=, while the token that minted it is unrevoked) or an API token
    with polls:read for the poll's site always may; a bad link is 403 and a bad token
    401/403/404, never a quiet fallback to the public view.
    """
    if request.scope["query_string"]:  # the hot results read mostly has none: skip parsing
        key = request.query_params.get("key")
        if key is not None:
            if await link_opens(request, key, f"poll:{poll.id}", f"site:{poll.site.slug}"):
                return ADMIN
            raise Forbidden("this link is invalid, expired or revoked", code="bad_key", field="key")
    if raw_header(request, b"authorization") is not None:
        principal = await authenticate(request)
        principal.require("polls:read")
        principal.check_site(poll.site.id)
        return ADMIN
    return await public_grant(request, poll)


async def public_grant(request: Request, poll: Poll) -> str | None:
    """PUBLIC while the results are public, VOTER for a browser that voted in an
    after_vote poll, else None: what a reader without credentials may see."""
    if poll.results_public(datetime.now(UTC), has_voted=False):
        return PUBLIC
    if poll.results_visibility == "after_vote" and await has_voted(request, poll):
        return VOTER
    return None


async def require_results(request: Request, poll: Poll) -> str:
    """results_grant, or 403 when the results are not this viewer's to see."""
    grant = await results_grant(request, poll)
    if grant is None:
        raise Forbidden("the results of this poll are not public yet", code="results_hidden")
    return grant


def openly_public(request: Request, poll: Poll) -> bool:
    """Results shown to everyone, asked for with no link key and no token: what
    results_grant would answer PUBLIC for, decided without the clock or a coroutine."""
    return (
        poll.results_visibility == "always"
        and not request.scope["query_string"]
        and raw_header(request, b"authorization") is None
    )


def private_results(request: Request, poll: Poll) -> bool:
    """Whether an answer showing results holds one viewer's own view (no shared cache)."""
    return (
        raw_header(request, b"authorization") is not None
        or b"key=" in request.scope["query_string"]
        or poll.results_visibility == "after_vote"
    )
