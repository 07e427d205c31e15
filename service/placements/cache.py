"""Per-process cache of each site's placements, so a page view's lookup asks no database.

Invalidation is the poll cache's (polls/cache.py): a placement change drops the site here
at once and is announced on a Redis channel to every other process; a short TTL bounds
staleness if an announcement is lost. Whether a placed poll is open is read from the poll
cache at lookup time, so opening or closing a poll needs nothing of this cache."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import redis.asyncio as aioredis

from service.admin.checks import could_be_slug
from service.core.errors import BadRequest, NotFound
from service.core.urls import canonical_page_url
from service.placements.rules import Ranked, allowed
from service.placements.store import site_lookup_row, site_placements
from service.polls import cache as pollcache
from service.polls.cache import PollCache
from service.storage.redis import messages, publish

log = logging.getLogger("civicpoll.placements")

CHANNEL = "civicpoll:placements-changed"
_TTL_FOUND = 30.0
_TTL_MISSING = 5.0
# Sites kept (unknown slugs included): past it the expired go, else the oldest.
MAX_SITES = 10_000


@dataclass(frozen=True, slots=True)
class SitePlacements:
    site_id: int
    origins: tuple[str, ...]
    ranked: Ranked


class PlacementCache:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, polls: PollCache) -> None:
        self._pool = pool
        self._redis = redis
        self._polls = polls
        self._entries: dict[str, tuple[float, SitePlacements | None]] = {}
        self._loading: dict[str, asyncio.Future[SitePlacements | None]] = {}
        # Set once both channels are heard: from then on nothing announced is missed.
        self.listening = asyncio.Event()
        self._channels_heard = 0

    async def lookup(self, slug: str, page: str | None) -> str:
        """The id of the open poll placed on `page` of site `slug`: the exact match
        first, then the longest prefix, then higher priority, then the newest.
        NotFound (`no_placement`, or an unknown site) or BadRequest (`page_not_allowed`)."""
        canonical = canonical_page_url(page)
        if canonical is None:
            raise BadRequest("page must be an http(s) URL of the site", field="page")
        site = await self.site(slug)
        if site is None:
            raise NotFound(f"no site {slug!r}", field="site")
        if not allowed(canonical, site.origins):
            raise BadRequest(
                "page is not on one of the site's allowed origins",
                field="page",
                code="page_not_allowed",
            )
        now = datetime.now(UTC)
        for placement in site.ranked.candidates(canonical):
            poll = await self._polls.get(placement.poll_id)
            if poll is not None and poll.site.id == site.site_id and poll.phase(now) == "open":
                return poll.id
        raise NotFound("no open poll is placed on this page", field="page", code="no_placement")

    async def site(self, slug: str) -> SitePlacements | None:
        entry = self._entries.get(slug)
        if entry is not None and entry[0] > time.monotonic():
            return entry[1]
        if not could_be_slug(slug):
            return None
        pending = self._loading.get(slug)
        if pending is not None:  # one load per site at a time, however many readers wait
            return await asyncio.shield(pending)
        future: asyncio.Future[SitePlacements | None] = asyncio.get_running_loop().create_future()
        self._loading[slug] = future
        try:
            found = await self._load(slug)
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._loading.pop(slug, None)
        if len(self._entries) >= MAX_SITES:
            self._evict()
        ttl = _TTL_FOUND if found is not None else _TTL_MISSING
        self._entries[slug] = (time.monotonic() + ttl, found)
        future.set_result(found)
        return found

    async def _load(self, slug: str) -> SitePlacements | None:
        async with self._pool.acquire() as con:
            row = await site_lookup_row(con, slug)
            if row is None:
                return None
            placements = await site_placements(con, row["id"])
        return SitePlacements(row["id"], tuple(row["allowed_origins"]), Ranked(placements))

    def _evict(self) -> None:
        now = time.monotonic()
        expired = [slug for slug, (until, _) in self._entries.items() if until <= now]
        for slug in expired or [next(iter(self._entries))]:
            self._entries.pop(slug, None)

    def drop(self, slug: str) -> None:
        if slug == pollcache.ALL:
            self._entries.clear()
        else:
            self._entries.pop(slug, None)

    async def announce(self, slug: str) -> None:
        """Drop locally now and tell every other process."""
        self.drop(slug)
        try:
            await publish(self._redis, CHANNEL, slug)
        except (aioredis.RedisError, OSError):
            log.warning(
                "could not announce placements of %s; caches expire within %ss", slug, _TTL_FOUND
            )

    async def listen(self) -> None:
        """Background task: placement changes announced here, and site changes announced
        to the poll caches (an edit of a site's origins announces every poll), forever."""
        await asyncio.gather(self._follow(CHANNEL), self._follow(pollcache.CHANNEL))

    def _subscribed(self) -> None:
        # Anything announced while we were not subscribed is lost: start clean.
        self._entries.clear()
        self._channels_heard += 1
        if self._channels_heard >= 2:
            self.listening.set()

    async def _follow(self, channel: str) -> None:
        while True:
            try:
                async for data in messages(self._redis, channel, self._subscribed):
                    name = data.decode()
                    if channel == CHANNEL or name == pollcache.ALL:
                        self.drop(name)
            except (aioredis.RedisError, OSError):
                await asyncio.sleep(1.0)
