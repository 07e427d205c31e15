"""CPU per request inside the app, without an HTTP server: a steadier figure than wrk's
for comparing two versions of the code on a noisy machine (the harness's ratios stay
the judge). Drives the ASGI app directly, the way uvicorn would, and reports the
process CPU time per request for the embed page, the results read and votes (64 in
flight, distinct voters), beside the harness's bare Starlette peer when it is found.

    DATABASE_URL=postgresql://localhost/inproc REDIS_URL=redis://localhost/5 \\
        .venv/bin/python bench/inproc.py [--n 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
from asgi_lifespan import LifespanManager

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("SECRET_KEY", "inproc-bench-secret-key-not-for-production-0123")
os.environ.setdefault("TRUSTED_PROXIES", "127.0.0.1/32")

from bench.make_poll import main as make_poll
from service.app import create_app
from service.core.settings import Settings

PEERS = Path(__file__).resolve().parent.parent.parent / "shared" / "bench"


def scope(method: str, path: str, headers: list[tuple[bytes, bytes]], state: Any) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 40000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"wrk"), *headers],
        "state": dict(state),
    }


async def call(app: Any, sc: dict, body: bytes = b"") -> int:
    sent: list[Any] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(sc, receive, send)
    return int(sent[0]["status"])


async def per_request(app: Any, make: Any, n: int, body: bytes = b"") -> float:
    for i in range(200):
        await call(app, make(i), body)
    started = time.process_time()
    for i in range(n):
        await call(app, make(i), body)
    return (time.process_time() - started) / n * 1e6


_voters = iter(range(10**9))  # every vote of every round from a new voter


async def votes(app: Any, state: Any, poll_id: str, options: list[str], n: int) -> float:
    path = f"/v1/polls/{poll_id}/votes"

    async def one() -> int:
        i = next(_voters)
        ip = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
        body = msgspec.json.encode({"choices": [random.choice(options)]})
        headers = [
            (b"content-type", b"application/json"),
            (b"x-forwarded-for", ip.encode()),
            (b"cookie", f"pv=v{i:012d}".encode()),
        ]
        return await call(app, scope("POST", path, headers, state), body)

    async def worker(count: int) -> None:
        for _ in range(count):
            # 503 while the counts are rebuilt from the ledger at start (an empty Redis):
            # the poll decides nothing until its rebuild is done.
            status = await one()
            while status == 503:
                await asyncio.sleep(0.05)  # pacing the retry
                status = await one()
            assert status in (200, 201), status

    await asyncio.gather(*(worker(20) for _ in range(64)))
    started = time.process_time()
    await asyncio.gather(*(worker(n // 64) for _ in range(64)))
    return (time.process_time() - started) / (n // 64 * 64) * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    spec = await make_poll()
    poll_id, _, opts = spec.partition(":")
    options = opts.split(",")
    bare_app = None
    if (PEERS / "peers" / "bare.py").exists():
        sys.path.insert(0, str(PEERS))
        from peers.bare import app as bare_app  # type: ignore[import-not-found]
    app = create_app(Settings.from_env())
    n = args.n // args.rounds
    ours: dict[str, list[float]] = {"embed": [], "results": [], "vote": []}
    bare: dict[str, list[float]] = {"embed": [], "results": [], "vote": []}
    vote_headers = [(b"content-type", b"application/json"), (b"x-forwarded-for", b"10.0.0.1")]
    async with LifespanManager(app) as manager:
        state = manager._state
        inner = manager.app
        # Rounds alternate between the two apps so that drift in the machine's speed
        # (often 20% here) falls on both alike.
        for _ in range(args.rounds):
            ours["embed"].append(
                await per_request(inner, lambda i: scope("GET", f"/embed/{poll_id}", [], state), n)
            )
            ours["results"].append(
                await per_request(
                    inner, lambda i: scope("GET", f"/v1/polls/{poll_id}/results", [], state), n
                )
            )
            ours["vote"].append(await votes(inner, state, poll_id, options, n))
            if bare_app is None:
                continue
            bare["embed"].append(
                await per_request(bare_app, lambda i: scope("GET", "/embed/1", [], {}), n)
            )
            bare["results"].append(
                await per_request(
                    bare_app, lambda i: scope("GET", "/v1/polls/1/results", [], {}), n
                )
            )
            bare["vote"].append(
                await per_request(
                    bare_app,
                    lambda i: scope("POST", "/v1/polls/1/votes", vote_headers, {}),
                    n,
                    b'{"choices": ["1"]}',
                )
            )
    print(
        f"{'route':8} {'civicpoll µs':>13} {'bare µs':>8} {'extra µs':>9}"
        f"  (medians of {args.rounds} rounds)"
    )
    for name, values in ours.items():
        mine = statistics.median(values)
        theirs = statistics.median(bare[name]) if bare[name] else float("nan")
        print(f"{name:8} {mine:13.1f} {theirs:8.1f} {mine - theirs:9.1f}")


if __name__ == "__main__":
    asyncio.run(main())
