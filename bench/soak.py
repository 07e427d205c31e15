"""Soak: one server process under a steady, mixed load for a long time (default 1 h):
votes (~200/s), embed page views, results reads, comments and 300 live listeners. Prints
each minute the server's RSS, Redis memory, PostgreSQL size and the vote p99, and at the
end checks acknowledged = stored = counted. What grows, and whether it stops growing, is
the point: every in-process cache is bounded (docs/performance/soak.md names each bound).

    .venv/bin/python bench/soak.py                    # an hour, embedded PostgreSQL and Redis
    .venv/bin/python bench/soak.py --duration 30m --rate 185
    .venv/bin/python bench/soak.py --duration 10m --probe /tmp/memory.log  # what it holds
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import time
from pathlib import Path

import asyncpg
import httpx
import redis.asyncio as aioredis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.streams import (  # noqa: E402 -- after the path fix above
    SECRET,
    Deliveries,
    ServerStats,
    VoteLog,
    open_listeners,
    percentile,
    send_votes,
    stores,
)
from service.dev.services import free_port  # noqa: E402
from service.identity.principal import create_token  # noqa: E402

ORIGIN = "https://portal.example.vn"


def duration(text: str) -> float:
    """90, 90s, 30m, 1h -> seconds."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", text.strip())
    if not found:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 30m or 1h: {text!r}")
    return float(found[1]) * {"": 1, "s": 1, "m": 60, "h": 3600}[found[2]]


async def _setup(base: str, database_url: str) -> tuple[str, list[str], str]:
    # The server migrated the schema at start; the token goes straight into its table.
    con = await asyncpg.connect(database_url)
    try:
        _, token = await create_token(
            con, SECRET.encode(), ["polls:write", "sites:admin", "polls:read"], None
        )
    finally:
        await con.close()
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        slug = "soak-" + secrets.token_hex(3)
        r = await c.post(
            "/v1/admin/sites",
            json={
                "slug": slug,
                "name": "Soak",
                "allowed_origins": [ORIGIN],
                "rate_per_ip_per_minute": 10_000,
                "burst_per_ip": 10_000,
                "rate_per_network_per_minute": 60_000,
                "burst_per_network": 100_000,
            },
        )
        _ok(r)
        r = await c.post(
            "/v1/admin/polls",
            json={
                "site": slug,
                "question": "Có nên xây dựng thành phố thông minh?",
                "options": ["Có", "Không", "Chưa rõ", "Ý kiến khác"],
                "comments": "postmoderated",
            },
        )
        _ok(r)
        poll = r.json()
        _ok(await c.post(f"/v1/admin/polls/{poll['id']}/open"))
    return poll["id"], [o["id"] for o in poll["options"]], token


async def _views(
    base: str, poll_id: str, per_second: float, until: float, errors: list[int]
) -> None:
    """Embed pages (in both languages) and results reads, as article readers make them."""
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        while time.monotonic() < until:
            path = random.choice(
                [f"/embed/{poll_id}", f"/embed/{poll_id}?locale=en", f"/v1/polls/{poll_id}/results"]
            )
            try:
                r = await c.get(path, headers={"X-Forwarded-For": _address()})
            except httpx.TransportError:
                errors.append(0)  # no answer within 10 s: counted, and the soak goes on
                continue
            if r.status_code >= 500:
                errors.append(r.status_code)
            await asyncio.sleep(1 / per_second)


async def _comments(
    base: str, poll_id: str, per_minute: float, until: float, errors: list[int], said: list[int]
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        n = 0
        while time.monotonic() < until:
            n += 1
            try:
                r = await c.post(
                    f"/v1/polls/{poll_id}/comments",
                    json={"body": f"Ý kiến số {n}: cần công khai chi phí và tiến độ dự án."},
                    headers={
                        "Origin": ORIGIN,
                        "X-Forwarded-For": _address(),
                        "Cookie": f"pv=soak{secrets.token_hex(8)}",
                    },
                )
            except httpx.TransportError:
                errors.append(0)
                continue
            if r.status_code >= 500:
                errors.append(r.status_code)
            elif r.status_code in (201, 202):
                said.append(1)
            await asyncio.sleep(60 / per_minute)


def _ok(r: httpx.Response) -> None:
    if r.status_code >= 400:
        sys.exit(f"soak: {r.request.method} {r.request.url.path}: {r.status_code} {r.text}")


def _address() -> str:
    return f"100.{random.randint(64, 127)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


async def _figures(redis: aioredis.Redis, database_url: str) -> tuple[float, float]:
    memory = (await redis.info("memory"))["used_memory"] / 2**20
    con = await asyncpg.connect(database_url)
    try:
        size = await con.fetchval("SELECT pg_database_size(current_database())") / 2**20
    finally:
        await con.close()
    return memory, size


async def run(args: argparse.Namespace, database_url: str, redis_url: str) -> int:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "warning",
        # The listeners' addresses share a few /24s (bench/streams.py): the per-network
        # cap is not what is measured here.
        "MAX_STREAMS_PER_NETWORK": str(args.listeners + 100),
    }
    # A fixed argument list: no shell, nothing from outside the script but numbers.
    # --probe: the same server under bench/memprobe.py, which logs what its memory holds.
    command = [str(ROOT / ".venv/bin/civicpoll")]
    if args.probe:
        command = [str(ROOT / ".venv/bin/python"), str(ROOT / "bench/memprobe.py"), args.probe]
    server = subprocess.Popen(  # noqa: ASYNC220
        [
            *command,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    redis = aioredis.Redis.from_url(redis_url)
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            for _ in range(300):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)  # polling for a process to listen
        poll_id, options, _ = await _setup(base, database_url)
        stats = ServerStats(server.pid)  # --workers 1: uvicorn serves in this very process
        deliveries = Deliveries()
        listeners = await open_listeners(port, poll_id, args.listeners, deliveries)
        started = time.monotonic()
        end = started + args.duration
        errors: list[int] = []
        comments: list[int] = []
        side = [
            asyncio.create_task(_views(base, poll_id, args.views, end, errors)),
            asyncio.create_task(_comments(base, poll_id, args.comments, end, errors, comments)),
        ]
        accepted = 0
        print(
            "minute  rss_mb  redis_mb  postgres_mb  votes/s  p99_ms  accepted  5xx  listeners",
            flush=True,
        )
        minute = 0
        while time.monotonic() < end:
            minute += 1
            log = VoteLog()
            spent = await send_votes(
                port, poll_id, options, args.rate, min(60.0, end - time.monotonic()), log
            )
            accepted += log.accepted
            errors.extend(s for s, n in log.refused.items() for _ in range(n) if s >= 500)
            memory, size = await _figures(redis, database_url)
            print(
                f"{minute:6d}  {stats.rss_mb():6.1f}  {memory:8.1f}  {size:11.1f}"
                f"  {log.accepted / spent:7.1f}  {percentile(log.latencies, 99) * 1000:6.1f}"
                f"  {accepted:8d}  {len(errors):3d}  {args.listeners - deliveries.closed:9d}",
                flush=True,
            )
        await asyncio.gather(*side)
        for t in listeners:
            t.close()
        con = await asyncpg.connect(database_url)
        try:
            stored = await con.fetchval("SELECT count(*) FROM votes WHERE poll_id = $1", poll_id)
        finally:
            await con.close()
        async with httpx.AsyncClient(base_url=base) as c:
            counted = (await c.get(f"/v1/polls/{poll_id}/results")).json()["total"]
        summary = {
            "acknowledged": accepted,
            "stored": stored,
            "counted": counted,
            "comments": len(comments),
            "errors_5xx": len(errors),
            "minutes": minute,
        }
        print("SOAK " + json.dumps(summary), flush=True)
        return 0 if accepted == stored == counted and not errors else 1
    finally:
        await redis.aclose()
        server.terminate()
        server.wait(timeout=40)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=duration, default=3600.0, help="e.g. 90s, 30m, 1h")
    parser.add_argument("--rate", type=int, default=200, help="votes a second")
    parser.add_argument("--listeners", type=int, default=300)
    parser.add_argument("--views", type=float, default=20.0, help="page views a second")
    parser.add_argument("--comments", type=float, default=30.0, help="comments a minute")
    parser.add_argument("--database-url", help="default: an embedded PostgreSQL")
    parser.add_argument("--redis-url", help="default: an embedded Redis")
    parser.add_argument("--probe", metavar="FILE", help="log the server's memory to FILE")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with stores(args.database_url, args.redis_url, "civicpoll-soak-") as urls:
        code = asyncio.run(run(args, *urls))
    sys.exit(code)


if __name__ == "__main__":
    main()
