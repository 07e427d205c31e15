"""Fair limits under attack: a loopback simulation against a real server, PostgreSQL and
Redis (embedded, throwaway), in three scenes.

  crowd   2,000 readers (fresh cookies, exponential inter-arrival, widget tokens fetched
          as the widget's script does, browser user agents, proofs solved at a browser's
          speed) through 4 addresses of one carrier's /24 within 2 minutes: how many count.
  bot     one address, fresh cookies, widget tokens, one option, as fast as it can,
          solving proofs with every CPU: votes counted per CPU-second of solving, votes
          held, and how far it moves the public result of a 2,000-vote poll; then again
          from another address, rotating four browser families (half as long).
  many    500 addresses (500 networks), one vote each, no widget token, one option, on
          the crowd's poll (its site embeds the widget): the share held.

Reproducible (fixed seeds; the proofs' numbers are random, so solving times vary) and
bounded (about seven minutes). Run: PYTHONPATH=$PWD .venv/bin/python bench/fair_limits.py
[--crowd-seconds 110] [--bot-seconds 120]; the figures go to stdout as one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port
from service.polls.store import insert_open_poll
from service.storage.db import apply_schema

ROOT = Path(__file__).resolve().parent.parent
# WebCrypto SHA-256 in a phone's Web Worker, batched as pow-worker.js does: an assumption
# (a mid-range phone), used to pace the crowd's solving; the bot solves at full speed.
BROWSER_HASHES_PER_SECOND = 300_000
BROWSERS = (  # (user agent, share): a Vietnamese mobile audience, roughly
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36", 0.6),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) Version/18.1 Mobile Safari/604.1",
        0.3,
    ),
    ("Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0", 0.05),
    ("Mozilla/5.0 (Linux; Android 14) CocCoc/131 Mobile", 0.05),
)


def solve(salt: str, challenge: str, maxnumber: int) -> tuple[int, int, float]:
    """(number, hashes tried, CPU seconds): ALTCHA's search, as fast as Python goes."""
    started = time.process_time()
    base = hashlib.sha256(salt.encode())
    target = bytes.fromhex(challenge)
    for n in range(maxnumber + 1):
        h = base.copy()
        h.update(str(n).encode())
        if h.digest() == target:
            return n, n + 1, time.process_time() - started
    return -1, maxnumber + 1, time.process_time() - started


def payload(challenge: dict[str, Any], number: int) -> str:
    import base64

    fields = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
    return base64.b64encode(json.dumps({**fields, "number": number}).encode()).decode()


class Voter:
    """One client of the simulation: fetches a widget token, votes, solves a 428."""

    def __init__(self, http: httpx.AsyncClient, pool: ProcessPoolExecutor, paced: bool) -> None:
        self.http, self.pool, self.paced = http, pool, paced
        self.cpu = 0.0  # CPU seconds spent solving
        self.solves = 0
        self.retries = 0

    async def send(self, method: str, url: str, **options: Any) -> httpx.Response:
        """A request, sent again when a kept-alive connection closed under it (votes
        carry an Idempotency-Key, so a vote sent twice counts once)."""
        for attempt in range(3):
            try:
                return await self.http.request(method, url, **options)
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError):
                if attempt == 2:
                    raise
                self.retries += 1
        raise AssertionError("unreachable")

    async def vote(self, poll: str, option: str, ip: str, ua: str, with_token: bool = True) -> int:
        headers = {"X-Forwarded-For": ip, "User-Agent": ua}
        body: dict[str, Any] = {"choices": [option]}
        if with_token:  # as the widget's script fetches it when the reader votes
            found = await self.send("GET", f"/v1/polls/{poll}/token", headers=headers)
            body["token"] = found.json()["token"]
        first = {**headers, "Idempotency-Key": secrets.token_hex(8)}
        r = await self.send("POST", f"/v1/polls/{poll}/votes", json=body, headers=first)
        if r.status_code != 428:
            return r.status_code
        challenge = r.json()["challenge"]
        began = time.monotonic()
        loop = asyncio.get_running_loop()
        number, hashes, cpu = await loop.run_in_executor(
            self.pool, solve, challenge["salt"], challenge["challenge"], challenge["maxnumber"]
        )
        self.cpu += cpu
        self.solves += 1
        if self.paced:  # no faster than a browser would be
            await asyncio.sleep(
                max(0.0, hashes / BROWSER_HASHES_PER_SECOND - (time.monotonic() - began))
            )
        body["altcha"] = payload(challenge, number)
        retry = {**headers, "Idempotency-Key": secrets.token_hex(8)}
        r = await self.send("POST", f"/v1/polls/{poll}/votes", json=body, headers=retry)
        return r.status_code


async def make_polls(dsn: str) -> tuple[str, list[str], str, list[str]]:
    con = await asyncpg.connect(dsn)
    try:
        await apply_schema(con)
        # The defaults everywhere: 10/min and a burst of 5 per address, 300/min and 100
        # per network, every fair-limit threshold at its default.
        site_id = await con.fetchval(
            "INSERT INTO sites (slug, name, voter_secret) VALUES ('sim', 'Simulation', $1)"
            " RETURNING id",
            secrets.token_urlsafe(32),
        )
        crowd = await insert_open_poll(con, site_id, "Crowd", ["Có", "Không", "Khác"])
        target = await insert_open_poll(con, site_id, "Target", ["A", "B", "C"])
        return crowd[0], crowd[1], target[0], target[1]
    finally:
        await con.close()


async def results(http: httpx.AsyncClient, poll: str) -> dict[str, Any]:
    found: dict[str, Any] = (await http.get(f"/v1/polls/{poll}/results")).json()
    return found


async def crowd_scene(
    http: httpx.AsyncClient,
    pool: ProcessPoolExecutor,
    poll: str,
    options: list[str],
    seconds: float,
) -> dict[str, Any]:
    rng = random.Random(2026)
    addresses = [f"203.0.113.{10 + i}" for i in range(4)]  # one carrier's CGNAT /24
    voter = Voter(http, pool, paced=True)
    outcomes: list[int] = []
    latencies: list[float] = []

    async def one(at: float) -> None:
        await asyncio.sleep(at)
        ua = rng.choices([b[0] for b in BROWSERS], [b[1] for b in BROWSERS])[0]
        option = rng.choices(options, [0.5, 0.3, 0.2])[0]
        began = time.monotonic()
        outcomes.append(await voter.vote(poll, option, rng.choice(addresses), ua))
        latencies.append(time.monotonic() - began)

    arrivals, t = [], 0.0
    for _ in range(2000):
        t += rng.expovariate(2000 / seconds)
        arrivals.append(t)
    began = time.monotonic()
    await asyncio.gather(*(one(a) for a in arrivals))
    latencies.sort()
    return {
        "voters": 2000,
        "addresses": 4,
        "arrivals_within_s": round(arrivals[-1], 1),
        "took_s": round(time.monotonic() - began, 1),
        "counted": outcomes.count(201),
        "held": outcomes.count(202),
        "other": len(outcomes) - outcomes.count(201) - outcomes.count(202),
        "counted_share": round(outcomes.count(201) / 2000, 4),
        "solved_challenges": voter.solves,
        "vote_seconds_p50": round(latencies[len(latencies) // 2], 3),
        "vote_seconds_p99": round(latencies[int(len(latencies) * 0.99)], 3),
    }


async def prefill(http: httpx.AsyncClient, poll: str, options: list[str]) -> None:
    """2,000 readers from 2,000 networks, through the widget, 50/30/20."""
    rng = random.Random(7)
    voter = Voter(http, ProcessPoolExecutor(1), paced=True)
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        option = options[0] if i < 1000 else options[1] if i < 1600 else options[2]
        async with gate:
            ip = f"10.{i // 250}.{i % 250}.{rng.randrange(1, 250)}"
            status = await voter.vote(poll, option, ip, BROWSERS[0][0])
            assert status == 201, status

    await asyncio.gather(*(one(i) for i in range(2000)))


async def bot_scene(
    http: httpx.AsyncClient,
    poll: str,
    options: list[str],
    seconds: float,
    address: str = "198.51.100.66",
    disguised: bool = False,
) -> dict[str, Any]:
    before = await results(http, poll)
    workers = os.cpu_count() or 1
    pool = ProcessPoolExecutor(workers)
    bot = Voter(http, pool, paced=False)
    outcomes: list[int] = []
    deadline = time.monotonic() + seconds
    # A bot passing for a browser; disguised, it passes for each in turn.
    disguises = [b[0] for b in BROWSERS] if disguised else [BROWSERS[0][0]]

    async def loop() -> None:
        while time.monotonic() < deadline:
            ua = disguises[len(outcomes) % len(disguises)]
            outcomes.append(await bot.vote(poll, options[1], address, ua))

    await asyncio.gather(*(loop() for _ in range(workers * 2)))
    pool.shutdown()
    after = await results(http, poll)

    def share(shown: dict[str, Any]) -> float:
        return float(shown["options"][1]["votes"]) * 100 / max(1, shown["total"])

    counted = after["options"][1]["votes"] - before["options"][1]["votes"]
    return {
        "seconds": seconds,
        "browser_families": len(disguises),
        "solver_processes": workers,
        "attempts": len(outcomes),
        "counted": counted,
        "held": outcomes.count(202),
        "other": len(outcomes) - outcomes.count(201) - outcomes.count(202),
        "solved_challenges": bot.solves,
        "solver_cpu_s": round(bot.cpu, 1),
        "counted_per_cpu_s": round(counted / bot.cpu, 3) if bot.cpu else None,
        "poll_total_before": before["total"],
        "option_share_before_pct": round(share(before), 3),
        "option_share_after_pct": round(share(after), 3),
        "moved_points": round(share(after) - share(before), 3),
        "public_held": after["held"],
    }


async def many_scene(
    http: httpx.AsyncClient, pool: ProcessPoolExecutor, poll: str, options: list[str]
) -> dict[str, Any]:
    voter = Voter(http, pool, paced=False)
    outcomes: list[int] = []
    gate = asyncio.Semaphore(32)

    async def one(i: int) -> None:
        async with gate:
            ip = f"172.{16 + i // 250}.{i % 250}.9"
            outcomes.append(await voter.vote(poll, options[2], ip, "python-requests/2.32", False))

    await asyncio.gather(*(one(i) for i in range(500)))
    return {
        "addresses": 500,
        "held": outcomes.count(202),
        "counted": outcomes.count(201),
        "held_share": round(outcomes.count(202) / 500, 4),
    }


async def run(base: str, dsn: str, crowd_seconds: float, bot_seconds: float) -> dict[str, Any]:
    crowd_poll, crowd_options, target_poll, target_options = await make_polls(dsn)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        pool = ProcessPoolExecutor(2)
        figures: dict[str, Any] = {}
        figures["crowd"] = await crowd_scene(http, pool, crowd_poll, crowd_options, crowd_seconds)
        await prefill(http, target_poll, target_options)
        figures["bot"] = await bot_scene(http, target_poll, target_options, bot_seconds)
        figures["bot_disguised"] = await bot_scene(
            http, target_poll, target_options, bot_seconds / 2, "198.51.100.67", True
        )
        figures["many"] = await many_scene(http, pool, crowd_poll, crowd_options)
        pool.shutdown()
        figures["crowd_poll_results"] = await results(http, crowd_poll)
        return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--crowd-seconds", type=float, default=110.0)
    parser.add_argument("--bot-seconds", type=float, default=120.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="civicpoll-limits-"))
    pg = EmbeddedPostgres(work / "pg", free_port())
    rd = EmbeddedRedis(work / "redis", free_port(), appendonly=False)
    server = None
    try:
        env = {
            **os.environ,
            "DATABASE_URL": pg.start(),
            "REDIS_URL": rd.start(),
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
            # The simulation's clients are told apart by X-Forwarded-For from loopback.
            "TRUSTED_PROXIES": "127.0.0.1/32",
        }
        port = free_port()
        asyncio.run(apply_only(env["DATABASE_URL"]))
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "service.app:app",
                "--port",
                str(port),
                "--http",
                "service.server:HttpToolsProtocol",
                "--no-access-log",
                "--no-proxy-headers",
                "--timeout-keep-alive",
                "60",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        figures = asyncio.run(
            run(
                f"http://127.0.0.1:{port}",
                env["DATABASE_URL"],
                args.crowd_seconds,
                args.bot_seconds,
            )
        )
        print(json.dumps(figures, indent=2, ensure_ascii=False), flush=True)
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        rd.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


async def apply_only(dsn: str) -> None:
    con = await asyncpg.connect(dsn)
    try:
        await apply_schema(con)
    finally:
        await con.close()


if __name__ == "__main__":
    main()
