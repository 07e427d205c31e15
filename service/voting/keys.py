"""Redis key names and the lifetimes of the marks: the one place a key is spelled.

Every key of one poll starts with the poll's prefix `{p:ID}:`, whose hash tag puts all of
them in one Redis Cluster slot, so one Lua script may touch them all. A key is that prefix
and a kind: the poll's three hashes are the prefix and one letter; the per-member keys
(marks, limiter state) are the prefix, a kind infix and the member (a keyed hash).
The Lua scripts get the stems (prefix + infix) of the kinds they touch from `stems`, and
spell no key name themselves.
"""

from __future__ import annotations

import logging

import redis.asyncio as aioredis

from service.storage.redis import scan_tagged

log = logging.getLogger("civicpoll.keys")

# Written once Redis holds counts rebuilt from the ledger; its absence means Redis lost
# its memory (restart without persistence, flush) and the counts must be rebuilt.
EPOCH = "civicpoll:epoch"
# Held (SET NX, with a lifetime) by the one process that rebuilds after a loss.
EPOCH_REBUILDING = EPOCH + ":rebuilding"

# The poll's hashes.
COUNTS = "c"  # option id -> votes
STATS = "s"  # outcome -> attempts; `since`: when this Redis first decided a vote of the poll
MINUTES = "m"  # unix minute -> accepted votes
# Set while the poll's counts are rebuilt from the ledger: vote.lua decides nothing then
# (the engine answers 503), so no vote lands in counts the rebuild is about to replace.
REBUILDING = "b"
REBUILDING_TTL = 60  # outlives any rebuild; a crashed rebuilder cannot block a poll for long
# One key per member.
VOTER_MARK = "v:"  # a voter (hashed cookie or signed voter id) has voted
IP_MARK = "i:"  # an address (hashed) has voted within the poll's window
IDEMPOTENCY = "k:"  # an Idempotency-Key (hashed) was accepted (value: wire.fingerprint)
NONCE_MARK = "t:"  # a widget token's nonce was spent (tokens are single-use)
IP_RATE = "ri:"  # GCRA theoretical arrival time per address (hashed)
NETWORK_RATE = "rn:"  # GCRA theoretical arrival time per /24 or /64 (hashed)
SOLVED_RATE = "rs:"  # GCRA of an address's votes that carried a proof of work (hashed)
PROOF_MARK = "a:"  # a solved ALTCHA challenge was spent (challenges are single-use)
SIGNALS = "f:"  # an address's over-limit attempts in the signal window: browser family
# and option -> attempts, and the steadiness of its fresh-cookie intervals
# A field of the counts hash beside the option ids (which are digits): the votes held for
# review now, read with the counts in the same HGETALL and disclosed with the results.
HELD_FIELD = "held"
# Comments (service/feedback) have limiter state of their own, so that writing does not
# spend a reader's vote budget, and a count per network for the burst filter.
COMMENT_IP_RATE = "ci:"
COMMENT_NETWORK_RATE = "cn:"
COMMENT_BURST = "cb:"
# Reports go through the same limiter (comment.lua) with keys of their own, so that
# reporting does not spend a reader's comment budget (docs/security/reports.md).
REPORT_IP_RATE = "qi:"
REPORT_NETWORK_RATE = "qn:"
REPORT_BURST = "qb:"

# Voter marks outlive any sensible poll, yet let Redis forget abandoned ones eventually.
VOTER_MARK_TTL = 400 * 24 * 3600
IDEMPOTENCY_TTL = 24 * 3600
NONCE_MARK_TTL = 7 * 3600  # longer than a widget token lives, so a nonce cannot be reused
CHALLENGE_TTL = 300  # a challenge is solvable this long after it was issued
PROOF_MARK_TTL = CHALLENGE_TTL + 60  # outlives the challenge, so a proof cannot be reused
SIGNAL_WINDOW = 120  # seconds an address's over-limit attempts are watched together


def poll_prefix(poll_id: str) -> str:
    return "{p:" + poll_id + "}:"


def stems(poll_id: str, kinds: tuple[str, ...]) -> list[str]:
    """The named kinds' key stems for a Lua script: stem + member is the key."""
    prefix = poll_prefix(poll_id)
    return [prefix + kind for kind in kinds]


def counts_key(poll_id: str) -> str:
    return poll_prefix(poll_id) + COUNTS


def stats_key(poll_id: str) -> str:
    return poll_prefix(poll_id) + STATS


def minutes_key(poll_id: str) -> str:
    return poll_prefix(poll_id) + MINUTES


def rebuilding_key(poll_id: str) -> str:
    return poll_prefix(poll_id) + REBUILDING


def voter_mark_key(poll_id: str, voter_hash: str) -> str:
    return poll_prefix(poll_id) + VOTER_MARK + voter_hash


def ip_mark_key(poll_id: str, ip_hash: str) -> str:
    return poll_prefix(poll_id) + IP_MARK + ip_hash


def idempotency_key(poll_id: str, key_hash: str) -> str:
    return poll_prefix(poll_id) + IDEMPOTENCY + key_hash


def nonce_mark_key(poll_id: str, nonce: str) -> str:
    return poll_prefix(poll_id) + NONCE_MARK + nonce


def proof_mark_key(poll_id: str, proof: str) -> str:
    return poll_prefix(poll_id) + PROOF_MARK + proof


def signals_key(poll_id: str, ip_hash: str) -> str:
    return poll_prefix(poll_id) + SIGNALS + ip_hash


def ip_rate_key(poll_id: str, ip_hash: str) -> str:
    return poll_prefix(poll_id) + IP_RATE + ip_hash


def network_rate_key(poll_id: str, network_hash: str) -> str:
    return poll_prefix(poll_id) + NETWORK_RATE + network_hash


def comment_keys(poll_id: str, ip_hash: str, network_hash: str) -> list[str]:
    """comment.lua's KEYS: the address and network limiters and the network's burst count."""
    prefix = poll_prefix(poll_id)
    return [
        prefix + COMMENT_IP_RATE + ip_hash,
        prefix + COMMENT_NETWORK_RATE + network_hash,
        prefix + COMMENT_BURST + network_hash,
    ]


def report_keys(poll_id: str, ip_hash: str, network_hash: str) -> list[str]:
    """comment.lua's KEYS for a report: the report limiters of the address and network."""
    prefix = poll_prefix(poll_id)
    return [
        prefix + REPORT_IP_RATE + ip_hash,
        prefix + REPORT_NETWORK_RATE + network_hash,
        prefix + REPORT_BURST + network_hash,
    ]


async def drop_poll_keys(redis: aioredis.Redis, poll_id: str) -> None:
    """Remove every key of a deleted poll; harmless to skip when Redis is away."""
    try:
        pattern = poll_prefix(poll_id).replace("{", "\\{").replace("}", "\\}") + "*"
        batch = []
        async for key in scan_tagged(redis, "p:" + poll_id, pattern):
            batch.append(key)
            if len(batch) >= 500:
                await redis.unlink(*batch)
                batch.clear()
        if batch:
            await redis.unlink(*batch)
    except (aioredis.RedisError, OSError):
        log.warning("could not remove the Redis keys of deleted poll %s", poll_id)
