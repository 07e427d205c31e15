"""Real `civicpoll serve` processes for the scaling tests: a server with N workers under
uvicorn's supervisor, a vote flood over real sockets, and what the ledger holds."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from service.dev.services import free_port
from service.identity.keys import Hasher

ARTIFACTS = Path(__file__).parent / "artifacts"


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]

    def workers(self) -> set[int]:
        """The worker processes uvicorn's supervisor runs now (its spawned children)."""
        found: set[int] = set()
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        for pid in children.read_text().split():
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"spawn_main" in cmdline:
                    found.add(int(pid))
        return found


@contextlib.contextmanager
def civicpoll_serve(
    database_url: str, redis_url: str, secret: str, *, workers: int, log_name: str, **env: str
) -> Iterator[Server]:
    """`civicpoll serve --workers N` on a free port until the block ends (SIGTERM then)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret,
        "PUBLIC_URL": url,
        "TRUSTED_PROXIES": "127.0.0.1/32",
        "ACCESS_LOG": "false",
        "LOG_LEVEL": "warning",
        "RECONCILE_SECONDS": "0",
        **env,
    }
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / log_name).open("wb")
    command = [sys.executable, "-m", "service.cli", "serve", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--workers", str(workers)], env=environment, stdout=log, stderr=log
    )
    server = Server(url, proc)
    try:
        wait_ready(server, workers, log_name)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)
        log.close()


def wait_ready(server: Server, workers: int, log_name: str, bound: float = 60.0) -> None:
    """Until the supervisor runs `workers` workers and /readyz answers 200 (one worker:
    uvicorn serves in the process itself, without a supervisor)."""
    children = workers if workers > 1 else 0
    deadline = time.monotonic() + bound
    with httpx.Client(base_url=server.url) as client:
        while True:
            assert server.proc.poll() is None, f"the server exited; see tests/artifacts/{log_name}"
            try:
                if len(server.workers()) == children and client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"not ready in {bound:.0f} s; see {log_name}"
            time.sleep(0.1)  # polling for readiness: the server gives no other signal


@dataclass
class Flood:
    """Votes sent over real sockets: who was told "accepted", and how many went unanswered."""

    accepted: list[str] = field(default_factory=list)  # voter cookies answered 201
    unanswered: int = 0  # transport errors: the process died or restarted mid-request
    refused: dict[int, int] = field(default_factory=dict)  # other statuses -> how many


async def flood(
    url: str,
    poll: dict[str, Any],
    votes: int,
    concurrency: int = 16,
    during: Awaitable[Any] | None = None,
) -> Flood:
    """`votes` votes of fresh voters from `concurrency` connections; `during` runs
    alongside once the first votes were accepted (a kill, a restart)."""
    result = Flood()
    queue = iter(range(votes))
    started = asyncio.Event()

    async def voter(client: httpx.AsyncClient) -> None:
        for _ in queue:
            cookie = secrets.token_urlsafe(12)
            headers = {
                "Cookie": f"pv={cookie}",
                "X-Forwarded-For": f"198.51.{secrets.randbelow(250)}.{secrets.randbelow(250)}",
            }
            body = {"choices": [poll["options"][secrets.randbelow(len(poll["options"]))]["id"]]}
            try:
                r = await client.post(f"/v1/polls/{poll['id']}/votes", json=body, headers=headers)
            except httpx.TransportError:
                result.unanswered += 1
                continue
            if r.status_code == 201:
                result.accepted.append(cookie)
                started.set()
            else:
                result.refused[r.status_code] = result.refused.get(r.status_code, 0) + 1

    async def alongside() -> None:
        if during is not None:
            await started.wait()
            await during

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30) as client:
        await asyncio.gather(*(voter(client) for _ in range(concurrency)), alongside())
    return result


async def ledger_voters(database_url: str, poll_id: str) -> set[str]:
    con = await asyncpg.connect(database_url)
    try:
        rows = await con.fetch("SELECT voter_hash FROM votes WHERE poll_id = $1", poll_id)
    finally:
        await con.close()
    return {row["voter_hash"] for row in rows}


def voter_hashes(secret: str, poll_id: str, cookies: list[str]) -> set[str]:
    hasher = Hasher(secret.encode())
    return {hasher(poll_id, "voter", cookie) for cookie in cookies}


async def results_total(url: str, poll_id: str) -> int:
    async with httpx.AsyncClient(base_url=url) as client:
        r = await client.get(f"/v1/polls/{poll_id}/results")
        assert r.status_code == 200, r.text
        return int(r.json()["total"])


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any, bound: float) -> None:
    """Poll `probe` until it returns `expected`, for at most `bound` seconds."""
    deadline = time.monotonic() + bound
    while (value := await probe()) != expected:
        assert time.monotonic() < deadline, f"still {value!r} after {bound} s, not {expected!r}"
        await asyncio.sleep(0.05)


async def open_poll(url: str, token: str, **fields: Any) -> dict[str, Any]:
    """A new site (limits raised: the flood comes from a few addresses) and an open poll."""
    auth = {"Authorization": f"Bearer {token}"}
    slug = f"scale-{secrets.token_hex(4)}"
    async with httpx.AsyncClient(base_url=url, headers=auth) as admin:
        r = await admin.post(
            "/v1/admin/sites",
            json={
                "slug": slug,
                "name": "Scaling",
                "rate_per_ip_per_minute": 10000,
                "burst_per_ip": 10000,
                "rate_per_network_per_minute": 10000,
                "burst_per_network": 10000,
            },
        )
        assert r.status_code == 201, r.text
        body = {"site": slug, "question": "Có nên mở rộng?", "options": ["Có", "Không"], **fields}
        r = await admin.post("/v1/admin/polls", json=body)
        assert r.status_code == 201, r.text
        r = await admin.post(f"/v1/admin/polls/{r.json()['id']}/open")
        assert r.status_code == 200, r.text
        return dict(r.json())


class EventReader:
    """Server-sent events of a stream read over a real socket, one at a time."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._lines = response.aiter_lines()

    async def next(self, bound: float = 5.0) -> dict[str, str]:
        """The next event (comments and `retry:` lines skipped), within `bound` seconds."""
        event: dict[str, str] = {}
        async with asyncio.timeout(bound):
            async for line in self._lines:
                if not line:
                    if "event" in event:
                        return event
                    event = {}
                    continue
                name, _, value = line.partition(":")
                if name:
                    event[name] = value.removeprefix(" ")
        raise AssertionError(f"the stream ended; last event so far {event}")
