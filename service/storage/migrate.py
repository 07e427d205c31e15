"""Numbered schema migrations: reading the files, what a database has, applying the rest.

Each file in migrations/ is `NNNN_name.sql`, applied once and recorded as version NNNN in
`schema_version` (the table the old apply-everything schema.sql kept, so a database made by
any earlier release is adopted as it is: the versions it recorded are the migrations it has).
A file whose first line is `-- transactional: false` (yoyo-migrations' spelling) runs
statement by statement outside a transaction, for CREATE INDEX CONCURRENTLY; any other
file runs in one transaction together with its record.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable

import asyncpg

from service.storage.db import Conn

log = logging.getLogger("civicpoll.migrate")

MIGRATIONS = files("service.storage").joinpath("migrations")
# Any constant works; it keeps two migrating processes apart. The releases before numbered
# migrations took the same key (as a transaction lock), so old and new code exclude each other.
MIGRATION_LOCK = 7_312_001

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_NOT_TRANSACTIONAL = "-- transactional: false"
# Statements of a non-transactional file end with ";" at the end of a line (the zero-downtime
# test keeps DO blocks and function bodies out of such files).
_STATEMENT_END = re.compile(r";[ \t]*$", re.MULTILINE)
_CONCURRENT_INDEX = re.compile(
    r"CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)", re.I
)
# The lock waits a migration gives up and retries instead of queueing votes behind itself.
_RETRIED = (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError)


class MigrationError(Exception):
    """A migration could not be applied (its locks stayed taken through every attempt)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def transactional(self) -> bool:
        return not self.sql.startswith(_NOT_TRANSACTIONAL)

    def statements(self) -> list[str]:
        """The file's statements, for running them one by one outside a transaction."""
        chunks = (c.strip() for c in _STATEMENT_END.split(self.sql))
        return [c for c in chunks if any(_is_code(line) for line in c.splitlines())]

    def concurrent_indexes(self) -> list[str]:
        return _CONCURRENT_INDEX.findall(self.sql)


def _is_code(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("--")


@dataclass(frozen=True, slots=True)
class Policy:
    """How a migration waits for a lock: at most `lock_timeout` seconds an attempt (so votes
    queued behind it wait no longer), then a pause that grows to `max_pause`, `attempts` times."""

    lock_timeout: float = 2.0
    attempts: int = 30
    first_pause: float = 0.5
    max_pause: float = 10.0


def read_migrations(folder: Traversable = MIGRATIONS) -> list[Migration]:
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        version = int(match[1])
        if version in found:
            raise MigrationError(f"two migrations numbered {version:04d}")
        found[version] = Migration(version, entry.name[:-4], entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def applied_versions(con: Conn) -> dict[int, str]:
    """Version -> when it was applied, for every version the database recorded."""
    if await con.fetchval("SELECT to_regclass('schema_version') IS NULL"):
        return {}
    rows = await con.fetch("SELECT version, applied_at FROM schema_version ORDER BY version")
    return {r["version"]: str(r["applied_at"]) for r in rows}


async def pending(con: Conn, migrations: list[Migration]) -> list[Migration]:
    applied = await applied_versions(con)
    return [m for m in migrations if m.version not in applied]


def render(migration: Migration, policy: Policy) -> str:
    """The SQL that applying `migration` runs, as `migrate --dry-run` prints it."""
    how = "in one transaction" if migration.transactional else "statement by statement"
    record = f"INSERT INTO schema_version (version) VALUES ({migration.version});"
    return "\n".join(
        [
            f"-- {migration.name} ({how})",
            f"SET lock_timeout = '{_ms(policy.lock_timeout)}ms';",
            migration.sql.rstrip(),
            record,
            "",
        ]
    )


async def apply_pending(
    con: Conn,
    migrations: list[Migration] | None = None,
    policy: Policy | None = None,
    on_retry: Callable[[Migration, int], None] | None = None,
) -> list[Migration]:
    """Apply what the database lacks, oldest first, under the migration lock; the applied.

    A database that lacks nothing is only read: no lock of any kind, so a process starting
    beside serving ones never waits for them nor they for it."""
    migrations = read_migrations() if migrations is None else migrations
    policy = policy or Policy()
    if not await pending(con, migrations):
        return []
    await _take_lock(con)
    try:
        await con.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        # Another process may have applied some while this one waited for the lock.
        todo = await pending(con, migrations)
        for migration in todo:
            await _apply_with_retries(con, migration, policy, on_retry)
        return todo
    finally:
        await con.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)


async def _take_lock(con: Conn) -> None:
    """The migration lock, asked for again and again rather than waited for: a statement
    waiting on an advisory lock keeps a snapshot open, and the other migrator's CREATE INDEX
    CONCURRENTLY waits for every open snapshot, so a plain pg_advisory_lock deadlocks
    against it (PostgreSQL then kills one of the two)."""
    while True:
        if await con.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK):
            return
        await asyncio.sleep(LOCK_POLL)  # another process is migrating; nothing to wake us


async def _apply_with_retries(
    con: Conn,
    migration: Migration,
    policy: Policy,
    on_retry: Callable[[Migration, int], None] | None,
) -> None:
    pause = policy.first_pause
    for attempt in range(1, policy.attempts + 1):
        try:
            await _apply_once(con, migration, policy)
            log.info("migration %s applied", migration.name)
            return
        except _RETRIED as exc:
            if attempt == policy.attempts:
                raise MigrationError(
                    f"migration {migration.name}: locks still taken after "
                    f"{policy.attempts} attempts ({exc})"
                ) from exc
            log.warning(
                "migration %s: %s; attempt %d of %d again in %.1f s",
                migration.name,
                exc,
                attempt + 1,
                policy.attempts,
                pause,
            )
            if on_retry is not None:
                on_retry(migration, attempt)
            # Jitter keeps several retrying migrators (of several databases) out of step.
            await asyncio.sleep(pause * random.uniform(0.8, 1.2))  # noqa: S311
            pause = min(pause * 2, policy.max_pause)


async def _apply_once(con: Conn, migration: Migration, policy: Policy) -> None:
    record = "INSERT INTO schema_version (version) VALUES ($1) ON CONFLICT DO NOTHING"
    await con.execute(f"SET lock_timeout = '{_ms(policy.lock_timeout)}ms'")
    try:
        if migration.transactional:
            async with con.transaction():
                await con.execute(migration.sql)
                await con.execute(record, migration.version)
            return
        # A CREATE INDEX CONCURRENTLY cut short by the lock timeout leaves an invalid index
        # that IF NOT EXISTS would then skip: drop it, so this attempt builds it again.
        for index in migration.concurrent_indexes():
            if await con.fetchval(_INVALID_INDEX, index):
                await con.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{index}"')
        for statement in migration.statements():
            await con.execute(statement)
        await con.execute(record, migration.version)
    finally:
        await con.execute("RESET lock_timeout")


_INVALID_INDEX = """
SELECT true FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace AND NOT i.indisvalid
"""


# How often a waiting migrator asks for the lock again.
LOCK_POLL = 0.2


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
