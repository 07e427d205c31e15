"""The `civicpoll dev` command: embedded PostgreSQL and Redis under the data folder, demo
data on first start, a banner of where everything is, then the server.

Only in a source checkout with the dev extra (the wheel leaves service.dev out);
service/cli.py says so when it is missing."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys

# The cli's own helpers: one way to read settings and to serve, for every command.
from service.cli import DATA_DIR, DEV_ENV
from service.cli import _serve as serve
from service.cli import _settings as load_settings
from service.dev.seed import DEMO_ADMIN, DEMO_SITE, seed
from service.dev.services import EmbeddedPostgres, EmbeddedRedis


def run(args: argparse.Namespace) -> None:
    """Serve on a bare machine: embedded PostgreSQL and Redis under ./.data unless
    DATABASE_URL / REDIS_URL are set; a demo site, token and poll on first start."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    stored = _read_dev_env()
    started: list[EmbeddedPostgres | EmbeddedRedis] = []
    try:
        try:
            if not env.get("DATABASE_URL"):
                pg = EmbeddedPostgres(DATA_DIR / "pg", int(stored.get("PG_PORT", 54329)))
                started.append(pg)
                env["DATABASE_URL"] = pg.start()
            if not env.get("REDIS_URL"):
                rd = EmbeddedRedis(DATA_DIR / "redis", int(stored.get("REDIS_PORT", 56389)))
                started.append(rd)
                env["REDIS_URL"] = rd.start()
        except RuntimeError as exc:
            # Most often a port held by another process (an earlier `make run` still
            # running): one clear line, and the server already started is stopped below.
            print(f"civicpoll dev could not start its servers: {exc}", file=sys.stderr)
            print(
                "  (is another `make run` still running? stop it, or set DATABASE_URL /"
                " REDIS_URL to servers of your own)",
                file=sys.stderr,
            )
            raise SystemExit(1) from None
        env.setdefault("SECRET_KEY", stored.get("SECRET_KEY") or secrets.token_urlsafe(48))
        env.setdefault("PUBLIC_URL", f"http://localhost:{args.port}")
        # A line per request would bury the banner and the errors a developer looks
        # for; ACCESS_LOG=1 turns it back on (docs/operations/dev-server.md).
        env.setdefault("ACCESS_LOG", "false")
        _write_dev_env({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")})
        settings = load_settings(env)
        token, poll_id, origins, login = asyncio.run(seed(settings))
        base = settings.public_url
        print("\ncivicpoll is starting:")
        print(f"  open                {base}/embed/{poll_id}  (also at 127.0.0.1)")
        print(f"  API reference       {base}/docs  (OpenAPI: {base}/openapi.json)")
        print(f"  health              {base}/readyz")
        print(f"  demo poll (widget)  {base}/embed/{poll_id}")
        print(f"  demo poll (JSON)    {base}/v1/polls/{poll_id}")
        print(f"  live dashboard      {base}/dashboard/{poll_id}")
        if token:
            print(f"  admin token         {token}")
            print("                      (shown once; new ones: .venv/bin/civicpoll token create)")
        else:
            print("  admin token         printed at first start; make another with")
            print(
                "                      .venv/bin/civicpoll token create --scope polls:read"
                " --scope polls:write --scope sites:admin"
            )
        if login:
            print(f"  editor console      {base}/console")
            print(f"  console sign-in     {login[0]} / {login[1]}")
            print(
                "                      (shown once; more people: .venv/bin/civicpoll user create)"
            )
        else:
            print(f"  editor console      {base}/console  (demo admin: {DEMO_ADMIN})")
        print(f"  demo site           {DEMO_SITE}; may embed the widget: {', '.join(origins)}")
        print("                      (add a portal: PATCH /v1/admin/sites/hoan-kiem)")
        print(f"  data folder         {DATA_DIR.resolve()}\n", flush=True)
        # uvicorn raises the SIGTERM it caught again once it has stopped; under the
        # default handler that would end this process before the servers it started
        # are stopped (below), leaving them holding their ports.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        serve(env, args.host, args.port, args.workers)
    finally:
        for server in reversed(started):
            server.stop()


def _exit_on_sigterm(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _read_dev_env() -> dict[str, str]:
    if not DEV_ENV.exists():
        return {}
    return dict(line.partition("=")[::2] for line in DEV_ENV.read_text().splitlines() if line)


def _write_dev_env(values: dict[str, str]) -> None:
    DEV_ENV.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    DEV_ENV.chmod(0o600)
