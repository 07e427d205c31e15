"""The `civicpoll` command: serve, dev, migrate, token, user, rebuild-counts."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import signal
import sys
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import uvicorn

from service.core.settings import Settings, SettingsError
from service.server.protocol import HttpToolsProtocol

DATA_DIR = Path(os.environ.get("CIVICPOLL_DATA", ".data"))
DEV_ENV = DATA_DIR / "env"
DEMO_SITE = "hoan-kiem"
DEMO_ADMIN = "admin@civicpoll.local"
DEMO_QUESTION = "Theo bạn Hà Nội có nên xây dựng thành phố thông minh hay không?"


def _env() -> dict[str, str]:
    """The environment, completed by the dev data folder's env file when one exists, so
    `civicpoll token create` works beside `make run` without exporting anything."""
    env = dict(os.environ)
    if DEV_ENV.exists():
        for line in DEV_ENV.read_text().splitlines():
            key, _, value = line.partition("=")
            if key and key not in env:
                env[key] = value
    return env


def _settings(env: Mapping[str, str] | None = None) -> Settings:
    try:
        return Settings.from_env(_env() if env is None else env)
    except SettingsError as exc:
        sys.exit(f"civicpoll: {exc}")


# ---------------------------------------------------------------- commands


def _not_the_bind_address(record: logging.LogRecord) -> bool:
    # uvicorn announces the socket it binds ("running on http://127.0.0.1:8000"); readers
    # should use PUBLIC_URL, which the banner and every embed snippet print instead.
    return not str(record.msg).startswith("Uvicorn running on")


def _serve(env: Mapping[str, str], host: str, port: int, workers: int) -> None:
    """uvicorn with `workers` processes under its own supervisor (it restarts a worker
    that dies, replaces them one by one on SIGHUP, and stops them gracefully on SIGTERM).
    Each worker builds its app from the environment (service.app:from_environment), so
    that pools, engine, poll cache and live hub belong to one process."""
    os.environ.update(env)
    # Our own access log and client-address rules (TRUSTED_PROXIES) apply, not uvicorn's;
    # the protocol sends each connection's writes in one piece (service/server/).
    logging.getLogger("uvicorn.error").addFilter(_not_the_bind_address)
    uvicorn.run(
        "service.app:from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=HttpToolsProtocol,
        access_log=False,
        proxy_headers=False,
        log_config=None,
        # Bounds a stop: open streams hear goodbye at once (live/hub.py), votes in
        # flight finish within the engine's budgets, well inside this.
        timeout_graceful_shutdown=30,
    )


def _workers(value: str) -> int:
    """--workers: a count, or `auto` for one per core this process may run on."""
    if value == "auto":
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or auto, got {value!r}") from None
    if not 1 <= count <= 256:
        raise argparse.ArgumentTypeError(f"expected 1 to 256 workers, got {count}")
    return count


def _check_budget(settings: Settings, workers: int) -> None:
    """Stop with one line when the workers' pools cannot fit PostgreSQL's limit. A server
    that cannot be reached is not this check's to judge: the workers say so themselves."""
    from service.storage.budget import ConnectionBudgetError, check_connection_budget

    try:
        asyncio.run(check_connection_budget(settings.database_url, workers, settings.db_pool_size))
    except ConnectionBudgetError as exc:
        sys.exit(f"civicpoll: {exc}")
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        logging.getLogger("civicpoll").warning(
            "could not check the PostgreSQL connection budget: %s", type(exc).__name__
        )


def cmd_serve(args: argparse.Namespace) -> None:
    env = _env()
    settings = _settings(env)  # one clear error here rather than one per worker
    _check_budget(settings, args.workers)
    _serve(env, args.host, args.port, args.workers)


def cmd_migrate(args: argparse.Namespace) -> None:
    from service.storage.db import migrate

    version = asyncio.run(migrate(_settings().database_url))
    print(f"schema at version {version}")


def cmd_token(args: argparse.Namespace) -> None:
    settings = _settings()
    if args.action == "create":
        token_id, token = asyncio.run(_create_token(settings, args.scope, args.site, args.label))
        print(
            f"token {token_id} (scopes {', '.join(args.scope)}"
            f"{', site ' + args.site if args.site else ', all sites'}):"
        )
        print(token)
        print("It is shown once; the database keeps only a keyed hash.", file=sys.stderr)
    elif args.action == "revoke":
        asyncio.run(_revoke_token(settings, args.id))
        print(f"token {args.id} revoked")


async def _create_token(
    settings: Settings, scopes: list[str], site: str | None, label: str
) -> tuple[int, str]:
    from service.admin.auth import create_token

    con = await asyncpg.connect(settings.database_url)
    try:
        site_id = None
        if site:
            site_id = await con.fetchval("SELECT id FROM sites WHERE slug = $1", site)
            if site_id is None:
                sys.exit(f"civicpoll: no site {site!r}")
        try:
            return await create_token(con, settings.secret_key, scopes, site_id, label)
        except ValueError as exc:
            sys.exit(f"civicpoll: {exc}")
    finally:
        await con.close()


async def _revoke_token(settings: Settings, token_id: int) -> None:
    con = await asyncpg.connect(settings.database_url)
    try:
        done = await con.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL",
            token_id,
        )
        if done.endswith(" 0"):
            sys.exit(f"civicpoll: no active token {token_id}")
    finally:
        await con.close()


def _new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password to set, and whether it was made here (and must be printed once):
    read from standard input (--password-stdin), typed at a prompt, or made up."""
    import getpass

    from service.console.passwords import one_time_password

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    if sys.stdin.isatty():
        first = getpass.getpass("password (empty: make a one-time one): ")
        if first:
            if getpass.getpass("again: ") != first:
                sys.exit("civicpoll: the passwords differ")
            return first, False
    return one_time_password(), True


def cmd_user(args: argparse.Namespace) -> None:
    from service.core.errors import ServiceError

    settings = _settings()
    password, made = ("", False) if args.action == "disable" else _new_password(args)
    try:
        user_id = asyncio.run(_user(settings, args, password))
    except ServiceError as exc:
        sys.exit(f"civicpoll: {exc.message}")
    done = {"create": "created", "set-password": "has a new password", "disable": "disabled"}
    print(f"user {user_id} ({args.email.strip().lower()}) {done[args.action]}")
    if made:
        print(f"one-time password: {password}")
        print("It is shown once; the database keeps only its Argon2id hash.", file=sys.stderr)


async def _user(settings: Settings, args: argparse.Namespace, password: str) -> int:
    from service.console import users
    from service.storage.db import apply_schema, connect

    con = await connect(settings.database_url)
    try:
        await apply_schema(con)
        if args.action == "create":
            return await users.create_user(
                con,
                users.OPERATOR,
                email=args.email,
                role=args.role,
                password=password,
                sites=args.site or [],
            )
        if args.action == "set-password":
            return await users.set_password(con, users.OPERATOR, args.email, password)
        return await users.disable_user(con, users.OPERATOR, args.email)
    finally:
        await con.close()


def cmd_rebuild(args: argparse.Namespace) -> None:
    asyncio.run(_rebuild(_settings(), args.poll))


async def _rebuild(settings: Settings, poll_id: str | None) -> None:
    from service.storage.db import create_pool
    from service.storage.redis import connect_redis
    from service.voting.counts import rebuild_all, rebuild_poll

    pool = await create_pool(settings.database_url, 2)
    redis = connect_redis(settings.redis_url)
    try:
        if poll_id:
            counts = await rebuild_poll(pool, redis, poll_id)
            print(f"poll {poll_id}: {sum(counts.values())} votes across {len(counts)} options")
        else:
            print(f"rebuilt {await rebuild_all(pool, redis, 'cli')} poll(s)")
    finally:
        await redis.aclose()
        await pool.close()


def cmd_dev(args: argparse.Namespace) -> None:
    """Serve on a bare machine: embedded PostgreSQL and Redis under ./.data unless
    DATABASE_URL / REDIS_URL are set; a demo site, token and poll on first start."""
    try:
        from service.dev.services import EmbeddedPostgres, EmbeddedRedis
    except ModuleNotFoundError as exc:
        # The wheel leaves service.dev out (production never needs it); say so, not a traceback.
        if exc.name not in ("service.dev", "service.dev.services"):
            raise
        print("civicpoll dev needs a source checkout (make run)", file=sys.stderr)
        sys.exit(2)

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
        _write_dev_env({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")})
        settings = _settings(env)
        token, poll_id, origins, login = asyncio.run(_seed(settings))
        base = settings.public_url
        print("\ncivicpoll is starting:")
        print(f"  open                {base}/embed/{poll_id}  (also at 127.0.0.1)")
        print(f"  API docs (OpenAPI)  {base}/openapi.json")
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
        _serve(env, args.host, args.port, args.workers)
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


async def _seed(
    settings: Settings,
) -> tuple[str | None, str, list[str], tuple[str, str] | None]:
    """Demo data on first start: a site, an all-scopes token, the smart-city poll, and a
    console admin when there is nobody yet (with the login, to print once)."""
    from service.admin.auth import SCOPES, create_token
    from service.polls.store import insert_open_poll
    from service.storage.db import apply_schema, connect

    con = await connect(settings.database_url)
    try:
        await apply_schema(con)
        existing = await con.fetchval(
            "SELECT id FROM polls WHERE question = $1 ORDER BY created_at LIMIT 1", DEMO_QUESTION
        )
        origins: list[str] = list(
            await con.fetchval("SELECT allowed_origins FROM sites WHERE slug = $1", DEMO_SITE)
            or [settings.public_url]
        )
        login = await _demo_admin(con)
        if existing:
            return None, existing, origins, login
        async with con.transaction():
            site_id = await con.fetchval(
                "INSERT INTO sites (slug, name, allowed_origins, default_locale, voter_secret)"
                " VALUES ($3, 'Cổng thông tin quận Hoàn Kiếm', $1, 'vi', $2)"
                " ON CONFLICT (slug) DO UPDATE SET name = excluded.name RETURNING id",
                [settings.public_url],
                secrets.token_urlsafe(32),
                DEMO_SITE,
            )
            poll_id, _ = await insert_open_poll(
                con, site_id, DEMO_QUESTION, ["Có", "Không", "Ý kiến khác"]
            )
            # "Another opinion" takes the reader's own words, and readers may comment:
            # both wait for a moderator.
            await con.execute(
                "UPDATE poll_options SET other = true WHERE poll_id = $1 AND position = 2",
                poll_id,
            )
            await con.execute("UPDATE polls SET comments = 'premoderated' WHERE id = $1", poll_id)
            _, token = await create_token(con, settings.secret_key, list(SCOPES), None, "dev")
        return token, poll_id, origins, login
    finally:
        await con.close()


async def _demo_admin(con: asyncpg.Connection) -> tuple[str, str] | None:
    from service.console import users
    from service.console.passwords import one_time_password

    if await con.fetchval("SELECT EXISTS (SELECT 1 FROM users)"):
        return None
    password = one_time_password()
    await users.create_user(
        con, users.OPERATOR, email=DEMO_ADMIN, role="admin", password=password, sites=[]
    )
    return DEMO_ADMIN, password


# ---------------------------------------------------------------- entry point


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="civicpoll", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve with settings from the environment")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=_workers, default=1, help="server processes: a number, or auto (cores)"
    )
    serve.set_defaults(func=cmd_serve)

    dev = sub.add_parser("dev", help="serve for development (embedded PostgreSQL/Redis)")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--port", type=int, default=8000)
    dev.add_argument("--workers", type=_workers, default=1, help="server processes (or auto)")
    dev.set_defaults(func=cmd_dev)

    sub.add_parser("migrate", help="apply schema.sql").set_defaults(func=cmd_migrate)

    token = sub.add_parser("token", help="create or revoke admin API tokens")
    token_sub = token.add_subparsers(dest="action", required=True)
    create = token_sub.add_parser("create", help="print a new token once")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        help="polls:read, polls:write, sites:admin or comments:moderate (repeat for several)",
    )
    create.add_argument("--site", help="limit the token to one site (slug)")
    create.add_argument("--label", default="", help="a note on who holds the token")
    revoke = token_sub.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    token.set_defaults(func=cmd_token)

    user = sub.add_parser("user", help="console people: create, set-password, disable")
    user_sub = user.add_subparsers(dest="action", required=True)
    user_create = user_sub.add_parser("create", help="add a person who signs in at /console")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--role", required=True, choices=["admin", "editor", "moderator"])
    user_create.add_argument(
        "--site", action="append", help="a site the editor or moderator works on (repeat)"
    )
    user_password = user_sub.add_parser("set-password", help="a new password; sessions end")
    user_password.add_argument("--email", required=True)
    for command in (user_create, user_password):
        command.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )
    user_disable = user_sub.add_parser("disable", help="end the person's sessions and sign-in")
    user_disable.add_argument("--email", required=True)
    user.set_defaults(func=cmd_user)

    rebuild = sub.add_parser("rebuild-counts", help="rebuild Redis counts from the ledger")
    rebuild.add_argument("--poll", help="only this poll")
    rebuild.set_defaults(func=cmd_rebuild)

    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
