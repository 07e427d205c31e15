"""Votes on one server process with and without a flood of console sign-ins.

    .venv/bin/python bench/signin_flood.py [--rounds 3] [--seconds 8] [--rate 10]

Starts embedded PostgreSQL and Redis, one uvicorn process pinned to cpu 1 (as
bench/local.py does), and measures vote throughput from a keep-alive HTTP/1.1 load
generator (32 connections, random X-Forwarded-For and voter cookie per vote, pinned to
cpu 0) in interleaved rounds: without a flood, then with `--rate` sign-ins a second from
50 addresses on 50 different /24s (X-Forwarded-For; 127.0.0.1 is the trusted proxy),
half with random unknown e-mails, half with wrong passwords for one real account.
Prints each round, then the medians, the flood/no-flood ratio, the 5xx and 429 counts and
the server's CPU per vote. Figures: docs/security/sign-in.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port  # noqa: E402

CONNECTIONS = 32
FLOOD_ADDRESSES = [f"10.{n}.{n}.7" for n in range(1, 51)]
_CSRF = re.compile(rb'name="csrf" value="([^"]+)"')


async def _request(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> tuple[int, bytes, bytes]:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    return status, head, await reader.readexactly(length)


async def votes(port: int, poll: str, options: list[str], seconds: float) -> Counter[int]:
    """Votes from CONNECTIONS keep-alive connections for `seconds`: statuses counted."""
    statuses: Counter[int] = Counter()
    end = time.monotonic() + seconds

    async def one() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.monotonic() < end:
            body = json.dumps({"choices": [random.choice(options)]}).encode()
            xff = ".".join(str(random.randint(1, 254)) for _ in range(4))
            raw = (
                f"POST /v1/polls/{poll}/votes HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"X-Forwarded-For: {xff}\r\nCookie: pv={random.getrandbits(64):016x}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            status, _, _ = await _request(reader, writer, raw)
            statuses[status] += 1
        writer.close()

    await asyncio.gather(*(one() for _ in range(CONNECTIONS)))
    return statuses


async def flood(port: int, rate: float, seconds: float, email: str) -> Counter[int]:
    """`rate` sign-ins a second, round-robin over FLOOD_ADDRESSES; statuses counted."""
    statuses: Counter[int] = Counter()
    forms: dict[str, tuple[str, str]] = {}  # address -> (cookie, csrf)

    async def attempt(n: int) -> None:
        address = FLOOD_ADDRESSES[n % len(FLOOD_ADDRESSES)]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            if address not in forms:
                get = f"GET /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {address}\r\n\r\n"  # noqa: E501
                _, head, body = await _request(reader, writer, get.encode())
                cookie = re.search(rb"cp_signin=([^;]+)", head).group(1).decode()  # type: ignore[union-attr]
                forms[address] = (cookie, _CSRF.search(body).group(1).decode())  # type: ignore[union-attr]
            cookie, csrf = forms[address]
            who = email if n % 2 else f"guess{random.getrandbits(48):x}@example.vn"
            form = f"csrf={csrf}&email={who}&password=wrong+password+{n}&next=%2Fconsole".encode()
            raw = (
                f"POST /console/login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-For: {address}\r\n"
                f"Cookie: cp_signin={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(form)}\r\n\r\n"
            ).encode() + form
            status, _, _ = await _request(reader, writer, raw)
            statuses[status] += 1
        finally:
            writer.close()

    tasks = []
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < seconds:
        tasks.append(asyncio.create_task(attempt(n)))
        n += 1
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
    await asyncio.gather(*tasks)
    return statuses


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def round_(port: int, spec: str, seconds: float, rate: float, pid: int) -> dict[str, float]:
    poll, options = spec.split(":")
    cpu = cpu_seconds(pid)
    jobs = [votes(port, poll, options.split(","), seconds)]
    if rate:
        jobs.append(flood(port, rate, seconds, "editor@example.vn"))
    results = await asyncio.gather(*jobs)
    voted = results[0]
    signins = results[1] if rate else Counter()
    accepted = sum(c for s, c in voted.items() if 200 <= s < 300)
    return {
        "votes_per_s": accepted / seconds,
        "vote_5xx": sum(c for s, c in voted.items() if s >= 500),
        "signin_5xx": sum(c for s, c in signins.items() if s >= 500),
        "signin_429": signins[429],
        "signin_401": signins[401],
        "cpu_ms_per_vote": (cpu_seconds(pid) - cpu) * 1000 / max(1, accepted),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=10.0)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="civicpoll-signin-bench-"))
    pg = EmbeddedPostgres(work / "pg", free_port())
    rd = EmbeddedRedis(work / "redis", free_port(), appendonly=False)
    server = None
    try:
        env = {
            **os.environ,
            "DATABASE_URL": pg.start(),
            "REDIS_URL": rd.start(),
            "SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "ACCESS_LOG": "false",
        }
        py = str(ROOT / ".venv" / "bin" / "python")
        spec = subprocess.run(
            [py, str(ROOT / "bench" / "make_poll.py")],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stderr.strip()
        subprocess.run(
            [
                py,
                "-m",
                "service.cli",
                "user",
                "create",
                "--email",
                "editor@example.vn",
                "--role",
                "admin",
                "--password-stdin",
            ],
            env=env,
            cwd=ROOT,
            input=b"the editor's right password\n",
            capture_output=True,
            check=True,
        )
        port = free_port()
        server = subprocess.Popen(
            [
                "taskset",
                "-c",
                "1",
                str(ROOT / ".venv" / "bin" / "uvicorn"),
                "--factory",
                "service.app:from_environment",
                "--port",
                str(port),
                "--http",
                "service.server:HttpToolsProtocol",
                "--loop",
                "uvloop",
                "--no-access-log",
                "--no-proxy-headers",
                "--log-level",
                "warning",
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        os.sched_setaffinity(0, {0})  # the load generator beside the databases, not the server
        asyncio.run(round_(port, spec, 2, 0, server.pid))  # warm-up
        rows: dict[str, list[dict[str, float]]] = {"quiet": [], "flood": []}
        for n in range(args.rounds):
            for name, rate in (("quiet", 0.0), ("flood", args.rate)):
                row = asyncio.run(round_(port, spec, args.seconds, rate, server.pid))
                rows[name].append(row)
                print(
                    f"round {n + 1} {name:5s} " + "  ".join(f"{k} {v:.2f}" for k, v in row.items())
                )
        med = {k: {f: statistics.median(r[f] for r in v) for f in v[0]} for k, v in rows.items()}
        ratio = med["flood"]["votes_per_s"] / med["quiet"]["votes_per_s"]
        print(
            f"median votes/s quiet {med['quiet']['votes_per_s']:.0f}"
            f"  flood {med['flood']['votes_per_s']:.0f}  ratio {ratio:.2f}"
            f"  (cpu ms/vote {med['quiet']['cpu_ms_per_vote']:.3f} vs"
            f" {med['flood']['cpu_ms_per_vote']:.3f})"
        )
        total = {f: sum(r[f] for v in rows.values() for r in v) for f in rows["flood"][0]}
        print(
            f"total vote 5xx {total['vote_5xx']:.0f}  sign-in 5xx {total['signin_5xx']:.0f}"
            f"  sign-in 429 {total['signin_429']:.0f}  sign-in 401 {total['signin_401']:.0f}"
        )
    finally:
        if server is not None:
            server.terminate()
            server.wait()
        rd.stop()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
