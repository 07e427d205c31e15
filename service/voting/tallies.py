"""The ledger's tallies of many polls at once, as Redis keeps them: votes per option and the
held field, per-minute buckets, and the integrity figures a vote row can tell. One
aggregate query each, so that rebuilding every poll after Redis lost its memory costs one
pass over the ledger instead of a round of queries per poll."""

from __future__ import annotations

from typing import Any

import asyncpg

from service.storage.db import Conn
from service.voting.keys import HELD_FIELD

# Only counted and released votes are in the tally; held ones are a number of their own
# (the counts hash's held field), discarded ones are in neither.
TALLIED = "('counted', 'released')"

_COUNTS = f"""
SELECT v.poll_id, o::text AS field, count(*) AS n
FROM votes v CROSS JOIN LATERAL unnest(v.option_ids) AS o
WHERE v.poll_id = ANY ($1::text[]) AND v.state IN {TALLIED}
GROUP BY 1, 2
UNION ALL
SELECT poll_id, '{HELD_FIELD}', count(*) FROM votes
WHERE poll_id = ANY ($1::text[]) AND state = 'held'
GROUP BY 1
"""

_OPTIONS = "SELECT poll_id, id::text AS field FROM poll_options WHERE poll_id = ANY ($1::text[])"

# The same, of the votes decided at or after a time of each poll's (`since`, unix ms in
# Redis's clock). The engine makes a vote's id a UUIDv7 of the time Redis decided it, so
# "decided since" is an id range on the primary key; the version test leaves out the ids
# of older releases, which were not time-ordered the same way.
_COUNTS_SINCE = f"""
WITH recent AS (
    SELECT v.poll_id, v.option_ids, v.state
    FROM unnest($1::text[], $2::uuid[]) AS s (poll_id, low)
    JOIN votes v ON v.poll_id = s.poll_id AND v.id >= s.low
    WHERE substr(v.id::text, 15, 1) = '7'
)
SELECT poll_id, o::text AS field, count(*) AS n
FROM recent CROSS JOIN LATERAL unnest(option_ids) AS o
WHERE state IN {TALLIED}
GROUP BY 1, 2
UNION ALL
SELECT poll_id, '{HELD_FIELD}', count(*) FROM recent WHERE state = 'held' GROUP BY 1
"""

_MINUTES = f"""
SELECT poll_id, (extract(epoch FROM cast_at)::bigint / 60)::text AS field, count(*) AS n
FROM votes
WHERE poll_id = ANY ($1::text[]) AND state IN {TALLIED} AND cast_at > now() - interval '6 hours'
GROUP BY 1, 2
"""

# The integrity figures a vote row tells: how it was decided (counted, or held and then
# perhaps released or discarded), whether it spent a proof of work and whether it came with
# a widget token (the "tokened" figure that tells vote.lua the poll is embedded). Attempts that left
# no row (challenged, duplicate, rate limited, invalid, ...) are not in the ledger.
LEDGER_FIGURES = ("accepted", "held", "released", "discarded", "solved", "tokened")
_FIGURES = """
SELECT poll_id,
       count(*) FILTER (WHERE state = 'counted') AS accepted,
       count(*) FILTER (WHERE state <> 'counted') AS held,
       count(*) FILTER (WHERE state = 'released') AS released,
       count(*) FILTER (WHERE state = 'discarded') AS discarded,
       count(proof_key) AS solved,
       -- vote.lua's "tokened": counted votes that came through the widget (its token)
       count(token_nonce) FILTER (WHERE state = 'counted') AS tokened
FROM votes WHERE poll_id = ANY ($1::text[])
GROUP BY 1
"""

Tallies = dict[str, dict[str, int]]  # poll id -> field -> n


def _by_poll(rows: list[Any], poll_ids: list[str]) -> Tallies:
    found: Tallies = {poll_id: {} for poll_id in poll_ids}
    for row in rows:
        found[row["poll_id"]][row["field"]] = row["n"]
    return found


async def ledger_tallies(con: Conn | asyncpg.Pool, poll_ids: list[str]) -> Tallies:
    """Per poll: votes per option and the held field, zeros included (as ledger_counts)."""
    found: Tallies = {poll_id: {HELD_FIELD: 0} for poll_id in poll_ids}
    for row in await con.fetch(_OPTIONS, poll_ids):
        found[row["poll_id"]][row["field"]] = 0
    for row in await con.fetch(_COUNTS, poll_ids):
        found[row["poll_id"]][row["field"]] = row["n"]
    return found


def uuid7_floor(unix_ms: int) -> str:
    """The smallest UUIDv7 of that millisecond."""
    return f"{unix_ms << 80 | 0x7 << 76:032x}"


async def ledger_tallies_since(con: Conn | asyncpg.Pool, since: dict[str, int]) -> Tallies:
    """ledger_tallies of the votes decided at or after each poll's time (unix ms)."""
    poll_ids = list(since)
    rows = await con.fetch(_COUNTS_SINCE, poll_ids, [uuid7_floor(since[p]) for p in poll_ids])
    return _by_poll(rows, poll_ids)


async def ledger_minutes(con: Conn | asyncpg.Pool, poll_ids: list[str]) -> Tallies:
    """Per poll: tallied votes per unix minute, the last six hours."""
    return _by_poll(await con.fetch(_MINUTES, poll_ids), poll_ids)


async def ledger_figures(con: Conn | asyncpg.Pool, poll_ids: list[str]) -> Tallies:
    """Per poll: LEDGER_FIGURES (every one present, zeros included)."""
    found: Tallies = {poll_id: dict.fromkeys(LEDGER_FIGURES, 0) for poll_id in poll_ids}
    for row in await con.fetch(_FIGURES, poll_ids):
        found[row["poll_id"]] = {name: row[name] for name in LEDGER_FIGURES}
    return found
