"""A real `uvicorn service.app:app` in its own process, for the tests that need a socket
(browser tests, the OpenAPI conformance run), and the admin token they drive it with."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx

from service.dev.services import free_port
from service.identity.principal import SCOPES, create_token
from service.storage.db import apply_schema

ARTIFACTS = Path(__file__).parent / "artifacts"


async def admin_token(database_url: str, secret: str) -> str:
    """An all-scopes admin token in that database (the schema applied first)."""
    con = await asyncpg.connect(database_url)
    try:
        await apply_schema(con)
        _, token = await create_token(con, secret.encode(), list(SCOPES), None)
    finally:
        await con.close()
    return str(token)


@contextlib.contextmanager
def uvicorn_process(
    database_url: str,
    redis_url: str,
    secret: str,
    token: str,
    *,
    host: str,
    log_name: str,
    code: Path | None = None,
) -> Iterator[tuple[str, httpx.Client]]:
    """The service on a free port until the block ends: its URL (PUBLIC_URL too, with
    `host`) and an HTTP client carrying `token`, once /readyz answers 200. `code` is
    another tree whose `service` package to serve (an earlier release's)."""
    port = free_port()
    url = f"http://{host}:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secret,
        "PUBLIC_URL": url,
        "ACCESS_LOG": "false",
        "RECONCILE_SECONDS": "0",
        "LOG_LEVEL": "warning",
    }
    env.pop("TRUSTED_PROXIES", None)
    if code is not None:
        env["PYTHONPATH"] = str(code)
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / log_name).open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "service.app:app",
            "--http",
            "service.server:HttpToolsProtocol",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        cwd=code,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"uvicorn exited; see tests/artifacts/{log_name}"
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not become ready in 30 s"
            time.sleep(0.1)  # polling for readiness: the server gives no other signal
        yield url, client
    finally:
        client.close()
        proc.terminate()
        proc.wait(timeout=10)
        log.close()
