"""A migration never queues votes behind itself for longer than its lock timeout: while a
long transaction holds the ledger, it gives up, retries, and finishes after the release."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from service.storage.migrate import (
    MIGRATION_LOCK,
    Migration,
    MigrationError,
    Policy,
    apply_pending,
    read_migrations,
)
from tests.conftest import PollMaker
from tests.voting.voter import ledger_total, vote

# A migration that needs the ledger's strongest lock, as a new column does (no rewrite).
PROBE = Migration(9001, "9001_probe_column", "ALTER TABLE votes ADD COLUMN probe text;\n")


async def test_votes_are_answered_while_a_migration_waits_for_the_ledger(
    client: httpx.AsyncClient, make_poll: PollMaker, state: Any, database_url: str
) -> None:
    poll = await make_poll()
    holder = await asyncpg.connect(database_url)
    migrator = await asyncpg.connect(database_url)
    retries: asyncio.Queue[int] = asyncio.Queue()
    try:
        # A reader's long transaction (an export, a report) that touched the ledger.
        transaction = holder.transaction()
        await transaction.start()
        await holder.fetchval("SELECT count(*) FROM votes")

        migrating = asyncio.create_task(
            apply_pending(
                migrator,
                [*read_migrations(), PROBE],
                Policy(lock_timeout=2.0, attempts=1000, first_pause=0.1, max_pause=0.2),
                on_retry=lambda _m, attempt: retries.put_nowait(attempt),
            )
        )
        assert await retries.get() == 1  # the lock timeout ended the first attempt
        answers = []
        for i in range(6):
            # Each vote may land while an attempt is queued for the lock: it waits behind
            # it for that attempt's 2 s at most, then is written.
            answers.append((await vote(client, poll, cookie=f"v{i}")).status_code)
        await retries.get()  # and the migration is still trying, and giving way
        assert answers == [201] * 6
        assert not migrating.done()

        await transaction.rollback()
        assert [m.name for m in await migrating] == [PROBE.name]
        assert await migrator.fetchval(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = 'votes' AND column_name = 'probe'"
        )
        results = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
        assert results["total"] == await ledger_total(state, poll["id"]) == 6
    finally:
        await holder.close()
        await migrator.execute("ALTER TABLE votes DROP COLUMN IF EXISTS probe")
        await migrator.execute("DELETE FROM schema_version WHERE version = $1", PROBE.version)
        await migrator.close()


async def test_an_index_build_cut_short_is_built_again_not_left_invalid(
    state: Any, database_url: str
) -> None:
    """CREATE INDEX CONCURRENTLY waits for every writer of the table; cut short by the lock
    timeout it leaves an invalid index, which the next attempt drops and builds again."""
    probe = Migration(
        9002,
        "9002_probe_index",
        "-- transactional: false\n"
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS votes_probe ON votes (cast_at);\n",
    )
    writer = await asyncpg.connect(database_url)
    migrator = await asyncpg.connect(database_url)
    retries: asyncio.Queue[int] = asyncio.Queue()
    valid = (
        "SELECT array_agg(indisvalid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
        " WHERE c.relname = 'votes_probe'"
    )
    try:
        transaction = writer.transaction()
        await transaction.start()
        # A vote writer's transaction, mid-way: the lock every INSERT into the ledger takes.
        await writer.execute("LOCK TABLE votes IN ROW EXCLUSIVE MODE")
        migrating = asyncio.create_task(
            apply_pending(
                migrator,
                [*read_migrations(), probe],
                Policy(lock_timeout=0.5, attempts=1000, first_pause=0.1, max_pause=0.2),
                on_retry=lambda _m, attempt: retries.put_nowait(attempt),
            )
        )
        await retries.get()
        # An attempt cut short left the index invalid (or the next one is rebuilding it).
        assert True not in (await state.pool.fetchval(valid) or [])
        await transaction.rollback()
        await migrating
        assert await state.pool.fetchval(valid) == [True]
    finally:
        await writer.close()
        await migrator.execute("DROP INDEX IF EXISTS votes_probe")
        await migrator.execute("DELETE FROM schema_version WHERE version = $1", probe.version)
        await migrator.close()


async def test_a_migration_that_never_gets_its_lock_fails_clearly_and_records_nothing(
    state: Any, database_url: str
) -> None:
    holder = await asyncpg.connect(database_url)
    migrator = await asyncpg.connect(database_url)
    try:
        async with holder.transaction():
            await holder.fetchval("SELECT count(*) FROM votes")
            with pytest.raises(MigrationError, match="locks still taken after 2 attempts"):
                await apply_pending(
                    migrator,
                    [*read_migrations(), PROBE],
                    Policy(lock_timeout=0.2, attempts=2, first_pause=0.05),
                )
        assert not await migrator.fetchval(
            "SELECT count(*) FROM schema_version WHERE version = $1", PROBE.version
        )
        # The advisory lock went with the failure: the next migrate gets it at once.
        assert await migrator.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK)
        await migrator.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
    finally:
        await holder.close()
        await migrator.close()
