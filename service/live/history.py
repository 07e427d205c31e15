"""A poll's vote history for the dashboard: votes per minute (Redis for the last six hours,
the vote ledger before that) and the articles that referred the most votes."""

from __future__ import annotations

import time
from collections.abc import Collection
from typing import TypedDict

import asyncpg
import redis.asyncio as aioredis

from service.core.urls import site_page_url
from service.storage.db import Conn
from service.voting.keys import minutes_key
from service.voting.results import as_text

REDIS_MINUTES = 6 * 60  # the vote script keeps per-minute counts; older ones come from SQL
MAX_HOURS = 48
TOP_ARTICLES = 10


class Article(TypedDict):
    url: str
    votes: int


class History(TypedDict):
    now_minute: int  # minutes since the epoch, as in `minutes`
    first_minute: int
    minutes: list[tuple[int, int]]  # (minute, votes), oldest first; minutes without votes left out
    articles: list[Article]


async def read_history(
    pool: asyncpg.Pool,
    redis: aioredis.Redis,
    poll_id: str,
    hours: int,
    allowed_origins: Collection[str],
) -> History:
    """The last `hours` (1 to MAX_HOURS) of votes per minute, and the top articles: pages
    on the site's `allowed_origins` only."""
    now_minute = int(time.time()) // 60
    first = now_minute - hours * 60 + 1
    minutes = await _recent_minutes(redis, poll_id, now_minute, first)
    async with pool.acquire() as con:
        if first <= now_minute - REDIS_MINUTES:
            rows = await con.fetch(
                "SELECT (extract(epoch FROM date_trunc('minute', cast_at)) / 60)::bigint AS m,"
                " count(*) AS n FROM votes WHERE poll_id = $1"
                " AND cast_at >= to_timestamp($2 * 60) AND cast_at < to_timestamp($3 * 60)"
                " GROUP BY 1",
                poll_id,
                first,
                now_minute - REDIS_MINUTES + 1,
            )
            minutes.update({r["m"]: r["n"] for r in rows})
        articles = await _top_articles(con, poll_id, allowed_origins)
    return {
        "now_minute": now_minute,
        "first_minute": first,
        "minutes": sorted(minutes.items()),
        "articles": articles,
    }


async def _top_articles(con: Conn, poll_id: str, allowed_origins: Collection[str]) -> list[Article]:
    """The pages that referred the most votes. Votes keep only on-site pages (core/urls.py
    site_page_url); the same rule is applied again here for rows stored before it, or on an
    origin the site has since removed. A cursor, so skipping such pages reads no more rows
    than it needs."""
    found: list[Article] = []
    async with con.transaction():
        async for row in con.cursor(
            "SELECT page_url, count(*) AS n FROM votes WHERE poll_id = $1"
            " AND page_url IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1",
            poll_id,
            prefetch=TOP_ARTICLES * 2,
        ):
            if site_page_url(row["page_url"], allowed_origins) is not None:
                found.append({"url": row["page_url"], "votes": row["n"]})
                if len(found) == TOP_ARTICLES:
                    break
    return found


async def _recent_minutes(
    redis: aioredis.Redis, poll_id: str, now_minute: int, first: int
) -> dict[int, int]:
    """Per-minute counts kept in Redis for the last six hours; older fields are trimmed."""
    raw = await redis.hgetall(minutes_key(poll_id))
    oldest = now_minute - REDIS_MINUTES + 1
    found: dict[int, int] = {}
    stale = []
    for field, value in raw.items():
        minute = int(as_text(field))
        if minute < oldest:
            stale.append(field)
        elif minute >= first:
            found[minute] = int(value)
    if stale:
        await redis.hdel(minutes_key(poll_id), *stale)
    return found
