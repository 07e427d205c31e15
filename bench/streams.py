"""Live-results load test: N server-sent-event listeners on one server process while votes
arrive at a fixed rate. Measures update delay (vote sent -> listener has it), server memory
and CPU, and vote throughput with and without listeners. See bench/README-streams.md.

    .venv/bin/python bench/streams.py --listeners 5000 --rate 1000 --duration 30
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import itertools
import json
import os
import random
import re
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port  # noqa: E402
from service.identity.principal import create_token  # noqa: E402 -- after the path fix above
from service.storage.db import apply_schema  # noqa: E402

SECRET = "bench-secret-key-not-for-production-0123456789"
_ID = re.compile(rb"\nid: (\d+)-")
_TOTAL = re.compile(rb'"total":(\d+)')
_STATUS = re.compile(rb"HTTP/1.1 (\d{3})")
_LENGTH = re.compile(rb"(?i)content-length: (\d+)")
_VOTERS = itertools.count(1)


# ---------------------------------------------------------------- listeners


@dataclass
class Deliveries:
    """Every listener's (previous total, new total) -> the times it received that update."""

    by_step: dict[tuple[int, int], list[float]] = field(default_factory=lambda: defaultdict(list))
    recording: bool = False
    ready: int = 0
    closed: int = 0


class Listener(asyncio.Protocol):
    def __init__(self, request: bytes, out: Deliveries, ready: asyncio.Future[None]) -> None:
        self.request = request
        self.out = out
        self.ready = ready
        self.buffer = b""
        self.total = -1

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buffer += data
        end = self.buffer.rfind(b"\n\n")
        if end < 0:
            return
        block, self.buffer = self.buffer[: end + 2], self.buffer[end + 2 :]
        # Every event's id starts with the poll's total: `id: <total>-<digest>`.
        for match in _ID.finditer(block):
            total = int(match.group(1))
            if self.total < 0:
                self.total = total
                if not self.ready.done():
                    self.ready.set_result(None)
                continue
            if self.out.recording and total != self.total:
                self.out.by_step[(self.total, total)].append(now)
            self.total = total

    def connection_lost(self, exc: Exception | None) -> None:
        self.out.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("stream closed before its snapshot"))


async def open_listeners(
    port: int, poll_id: str, n: int, out: Deliveries
) -> list[asyncio.BaseTransport]:
    loop = asyncio.get_running_loop()
    transports = []
    for start in range(0, n, 250):
        batch = []
        for i in range(start, min(n, start + 250)):
            # Each listener comes from its own address (the server trusts 127.0.0.1 as a
            # proxy), as real viewers would: the per-IP cap is not what is measured here.
            ip = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
            request = (
                f"GET /v1/polls/{poll_id}/results/stream HTTP/1.1\r\nHost: bench\r\n"
                f"Accept: text/event-stream\r\nX-Forwarded-For: {ip}\r\n\r\n"
            ).encode()
            ready: asyncio.Future[None] = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda r=request, f=ready: Listener(r, out, f), "127.0.0.1", port
            )
            transports.append(transport)
            batch.append(ready)
        await asyncio.gather(*batch)
        out.ready += len(batch)
    return transports


# ---------------------------------------------------------------- votes


@dataclass
class VoteLog:
    sent: list[tuple[int, float]] = field(default_factory=list)  # (total reported, sent at)
    latencies: list[float] = field(default_factory=list)
    accepted: int = 0
    refused: dict[int, int] = field(default_factory=lambda: defaultdict(int))


class VoteConnection(asyncio.Protocol):
    """One keep-alive connection; one vote in flight at a time."""

    def __init__(self, log: VoteLog, free: asyncio.Queue[VoteConnection]) -> None:
        self.log = log
        self.free = free
        self.buffer = b""
        self.sent_at = 0.0
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.free.put_nowait(self)

    def send(self, request: bytes, sent_at: float) -> None:
        self.sent_at = sent_at
        assert self.transport is not None
        self.transport.write(request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        head_end = self.buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = _LENGTH.search(self.buffer, 0, head_end)
        size = int(length.group(1)) if length else 0
        if len(self.buffer) < head_end + 4 + size:
            return
        body = self.buffer[head_end + 4 : head_end + 4 + size]
        status_match = _STATUS.match(self.buffer)
        status = int(status_match.group(1)) if status_match else 0
        self.buffer = self.buffer[head_end + 4 + size :]
        now = time.perf_counter()
        self.log.latencies.append(now - self.sent_at)
        if status == 201:
            self.log.accepted += 1
            total = _TOTAL.search(body)
            if total:
                self.log.sent.append((int(total.group(1)), self.sent_at))
        else:
            self.log.refused[status] += 1
        self.free.put_nowait(self)


async def send_votes(
    port: int,
    poll_id: str,
    options: list[str],
    rate: int,
    seconds: float,
    log: VoteLog,
    connections: int = 64,
) -> float:
    """Votes at `rate` a second for `seconds`, open loop; returns the real duration."""
    loop = asyncio.get_running_loop()
    free: asyncio.Queue[VoteConnection] = asyncio.Queue()
    transports = []
    for _ in range(connections):
        t, _ = await loop.create_connection(lambda: VoteConnection(log, free), "127.0.0.1", port)
        transports.append(t)
    started = time.perf_counter()
    due = 0
    while (elapsed := time.perf_counter() - started) < seconds:
        should = int(elapsed * rate)
        while due < should:
            conn = await free.get()
            counter = next(_VOTERS)  # a new voter every time, across phases
            body = json.dumps({"choices": [random.choice(options)]}).encode()
            ip = f"172.{random.randint(16, 31)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
            request = (
                f"POST /v1/polls/{poll_id}/votes HTTP/1.1\r\nHost: bench\r\n"
                f"Content-Type: application/json\r\nX-Forwarded-For: {ip}\r\n"
                f"Cookie: pv=bench{os.getpid()}x{counter:012d}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            conn.send(request, time.perf_counter())
            due += 1
        await asyncio.sleep(0.002)
    duration = time.perf_counter() - started
    for _ in range(connections):  # let the votes in flight finish
        await asyncio.wait_for(free.get(), 10)
    for t in transports:
        t.close()
    return duration


# ---------------------------------------------------------------- server


class ServerStats:
    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.max_rss_mb = 0.0
        self._cpu0 = self._cpu()
        self._t0 = time.perf_counter()

    def _cpu(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def sample(self) -> None:
        self.max_rss_mb = max(self.max_rss_mb, self.rss_mb())

    def restart_cpu(self) -> None:
        self._cpu0, self._t0 = self._cpu(), time.perf_counter()

    def cpu_share(self) -> float:
        return (self._cpu() - self._cpu0) / (time.perf_counter() - self._t0)


async def sampler(stats: ServerStats) -> None:
    while True:
        stats.sample()
        await asyncio.sleep(0.5)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def delays(deliveries: Deliveries, votes: VoteLog) -> list[float]:
    """For each update a listener received: now minus the send time of the earliest vote
    that update newly contains (votes report the total after their batch)."""
    sent = sorted(votes.sent)
    totals = [t for t, _ in sent]
    out: list[float] = []
    for (before, after), times in deliveries.by_step.items():
        lo = bisect.bisect_right(totals, before)
        hi = bisect.bisect_right(totals, after)
        if lo >= hi:
            continue  # no vote of ours explains the step (it predates the measurement)
        first_sent = min(s for _, s in sent[lo:hi])
        out.extend(t - first_sent for t in times)
    return out


async def phase(
    port: int,
    poll_id: str,
    options: list[str],
    listeners: int,
    args: argparse.Namespace,
    stats: ServerStats,
) -> dict[str, float]:
    out = Deliveries()
    transports: list[asyncio.BaseTransport] = []
    if listeners:
        t0 = time.perf_counter()
        transports = await open_listeners(port, poll_id, listeners, out)
        print(f"  {listeners} listeners open in {time.perf_counter() - t0:.1f} s", flush=True)
    idle_rss = stats.rss_mb()
    warm = VoteLog()
    await send_votes(port, poll_id, options, args.rate, args.warmup, warm)
    stats.max_rss_mb = 0.0
    stats.restart_cpu()
    sampling = asyncio.create_task(sampler(stats))
    log = VoteLog()
    out.recording = True
    duration = await send_votes(port, poll_id, options, args.rate, args.duration, log)
    await asyncio.sleep(1.0)  # the last tick's updates are still on their way
    out.recording = False
    cpu = stats.cpu_share()
    sampling.cancel()
    result = {
        "listeners": listeners,
        "votes_per_s": log.accepted / duration,
        "refused": sum(log.refused.values()),
        **{f"status_{k}": v for k, v in log.refused.items()},
        "vote_p50_ms": percentile(log.latencies, 50) * 1000,
        "vote_p99_ms": percentile(log.latencies, 99) * 1000,
        "server_cpu": cpu,
        "rss_idle_mb": idle_rss,
        "rss_max_mb": stats.max_rss_mb,
    }
    if listeners:
        measured = delays(out, log)
        result.update(
            updates=len(measured),
            updates_per_listener_s=len(measured) / listeners / (duration + 1.0),
            delay_p50_ms=percentile(measured, 50) * 1000,
            delay_p99_ms=percentile(measured, 99) * 1000,
            delay_max_ms=max(measured) * 1000 if measured else float("nan"),
            dropped_streams=out.closed,
        )
    for t in transports:
        t.close()
    return result


async def setup(base: str, database_url: str) -> tuple[str, list[str]]:
    con = await asyncpg.connect(database_url)
    try:
        await apply_schema(con)
        _, token = await create_token(
            con, SECRET.encode(), ["polls:write", "sites:admin", "polls:read"], None
        )
    finally:
        await con.close()
    async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {token}"}) as c:
        slug = "bench-" + secrets.token_hex(3)
        r = await c.post(
            "/v1/admin/sites",
            json={
                "slug": slug,
                "name": "Bench",
                "rate_per_ip_per_minute": 10_000,
                "burst_per_ip": 10_000,
                "rate_per_network_per_minute": 60_000,
                "burst_per_network": 100_000,
            },
        )
        r.raise_for_status()
        r = await c.post(
            "/v1/admin/polls",
            json={
                "site": slug,
                "question": "Bench?",
                "options": ["A", "B", "C", "D"],
            },
        )
        r.raise_for_status()
        poll = r.json()
        (await c.post(f"/v1/admin/polls/{poll['id']}/open")).raise_for_status()
    return poll["id"], [o["id"] for o in poll["options"]]


async def run(
    args: argparse.Namespace, database_url: str, redis_url: str
) -> list[dict[str, float]]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET,
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "warning",
        "MAX_STREAMS": str(args.listeners + 1000),
        "RECONCILE_SECONDS": "0",
    }
    # A fixed argument list: no shell, nothing from outside the script but numbers.
    server = subprocess.Popen(  # noqa: ASYNC220
        [
            "taskset",
            "-c",
            str(args.server_cpu),
            str(ROOT / ".venv/bin/uvicorn"),
            "service.app:app",
            "--http",
            "service.server:HttpToolsProtocol",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
            "--timeout-graceful-shutdown",
            "10",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base) as probe:
            for _ in range(300):
                try:
                    if (await probe.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.1)  # polling for a process to listen
        poll_id, options = await setup(base, database_url)
        stats = ServerStats(server.pid)
        results = []
        for n in [0, args.listeners] if args.compare else [args.listeners]:
            print(f"phase: {n} listeners, {args.rate} votes/s for {args.duration} s", flush=True)
            results.append(await phase(port, poll_id, options, n, args, stats))
            print("  " + json.dumps({k: round(v, 2) for k, v in results[-1].items()}), flush=True)
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextlib.contextmanager
def stores(
    database_url: str | None, redis_url: str | None, prefix: str
) -> Iterator[tuple[str, str]]:
    """The PostgreSQL and Redis a benchmark runs on: the ones named, else embedded ones in a
    scratch folder, stopped (and the folder removed) afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        started: list[EmbeddedPostgres | EmbeddedRedis] = []
        try:
            if not database_url:
                pg = EmbeddedPostgres(Path(tmp) / "pg", free_port())
                started.append(pg)
                pg.start()
                database_url = pg.dsn
            if not redis_url:
                redis = EmbeddedRedis(Path(tmp) / "redis", free_port(), appendonly=False)
                started.append(redis)
                redis.start()
                redis_url = redis.url
            yield database_url, redis_url
        finally:
            for server in reversed(started):
                server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listeners", type=int, default=5000)
    parser.add_argument("--rate", type=int, default=1000, help="votes a second")
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--server-cpu", type=int, default=1)
    parser.add_argument("--client-cpu", type=int, default=0)
    parser.add_argument(
        "--no-compare", dest="compare", action="store_false", help="skip the run without listeners"
    )
    parser.add_argument("--database-url", help="default: an embedded PostgreSQL")
    parser.add_argument("--redis-url", help="default: an embedded Redis")
    args = parser.parse_args()
    # The load generator and the embedded datastores it starts share one core; the
    # server gets the other to itself.
    os.sched_setaffinity(0, {args.client_cpu})
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    try:
        import uvloop  # the client must not be the bottleneck

        uvloop.install()
    except ImportError:
        pass
    with stores(args.database_url, args.redis_url, "civicpoll-streams-") as (
        database_url,
        redis_url,
    ):
        results = asyncio.run(run(args, database_url, redis_url))
    if args.compare and len(results) == 2:
        base, loaded = results
        drop = 1 - loaded["votes_per_s"] / base["votes_per_s"]
        print(
            f"vote throughput: {base['votes_per_s']:.0f}/s without listeners, "
            f"{loaded['votes_per_s']:.0f}/s with {args.listeners} ({drop:+.1%} drop)"
        )
    loaded = results[-1]
    print(
        f"update delay p50 {loaded.get('delay_p50_ms', float('nan')):.0f} ms, "
        f"p99 {loaded.get('delay_p99_ms', float('nan')):.0f} ms; "
        f"server RSS max {loaded['rss_max_mb']:.0f} MB; server CPU {loaded['server_cpu']:.0%}"
    )


if __name__ == "__main__":
    main()
