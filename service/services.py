"""The typed services object the lifespan builds, and the one accessor handlers read it by."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from starlette.requests import Request

from service.voting.keys import voter_mark_key

if TYPE_CHECKING:  # the feature packages import this module; only types flow back
    import asyncpg
    import redis.asyncio as aioredis

    from service.console.hashing import Budget
    from service.core.settings import Settings
    from service.feedback.comments import CommentDesk
    from service.identity.context import IdentityContext
    from service.identity.keys import Hasher
    from service.identity.links import LinkTokens
    from service.live.hub import LiveHub
    from service.ops.hosts import HostWatch
    from service.ops.memory import MemoryTender
    from service.ops.probes import ScrapeProbes
    from service.placements.cache import PlacementCache
    from service.polls.access import AccessContext
    from service.polls.cache import PollCache
    from service.voting.engine import VoteEngine
    from service.voting.integrity import OutcomeTally
    from service.voting.results import CountsCache
    from service.widget.page import EmbedPages


@dataclass(slots=True)
class Services:
    """Everything a request may use, made once at start-up and closed at shutdown."""

    settings: Settings
    pool: asyncpg.Pool
    redis: aioredis.Redis
    polls: PollCache
    engine: VoteEngine
    tally: OutcomeTally
    hasher: Hasher
    counts: CountsCache
    live: LiveHub
    pages: EmbedPages  # the embed pages rendered so far
    comments: CommentDesk
    own_origin: str  # scheme://host[:port] of PUBLIC_URL: this service's own pages
    signin_budget: Budget  # password hashes sign-in may still run this second
    hosts: HostWatch  # the hosts requests named other than PUBLIC_URL's
    probes: ScrapeProbes  # dependency health and the moderation queue, read at scrape time
    placements: PlacementCache  # each site's placements, for the page lookup
    memory: MemoryTender  # runs the cycle collector on a clock

    # What the layers below the features read through their Protocols (identity.context,
    # polls.access): they never import this module, which knows every feature.
    @property
    def link_tokens(self) -> LinkTokens:
        return self.live.link_tokens

    async def has_voted(self, poll_id: str, reader: str) -> bool:
        mark = voter_mark_key(poll_id, self.hasher(poll_id, "voter", reader))
        return bool(await self.redis.exists(mark))


if TYPE_CHECKING:  # mypy checks that Services satisfies the layers' Protocols

    def _satisfies(svc: Services) -> tuple[IdentityContext, AccessContext]:
        return svc, svc


def services(request: Request) -> Services:
    """The services of the app serving this request (the lifespan's state)."""
    found: Services = request.scope["state"]["services"]
    return found
