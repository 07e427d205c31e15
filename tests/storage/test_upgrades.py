"""Upgrades from every released schema: a database made by each release's schema.sql, with
rows in every table it has, migrated to head, then served by the code at head."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from argon2 import PasswordHasher
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.console import sessions
from service.core.settings import Settings
from service.storage.db import apply_schema, create_pool
from service.storage.redis import connect_redis
from service.voting.counts import ensure_epoch
from tests.conftest import SECRET, DatabaseMaker
from tests.storage.test_db import CURRENT_VERSION, SCHEMA_V1

REPO = Path(__file__).parent.parent.parent
# Every schema.sql that main has had (first-parent history), and the versions it recorded.
# Version 1 alone was never on main; its file is the first block of the first release.
RELEASES = {
    "v1": (None, [1]),
    # sites, tokens, polls, options, audit log; the vote ledger.
    "b14f74a": ("b14f74a", [1, 2]),
    # the console's people landed before the feedback kinds: version 4 without 3.
    "f5926ee": ("f5926ee", [1, 2, 4]),
    # version 3 as first released: comments with an author column and index, later edited.
    "587dafd": ("587dafd", [1, 2, 3, 4]),
    "7a14c07": ("7a14c07", [1, 2, 3, 4]),
    # the previous release: fair limits (held votes).
    "a4c86ca": ("a4c86ca", [1, 2, 3, 4, 5]),
}
PASSWORD = "một mật khẩu dài đủ"
SESSION_ID = "session-made-before-the-upgrade"


def released_schema(commit: str | None) -> str:
    if commit is None:
        return SCHEMA_V1.read_text(encoding="utf-8")
    return subprocess.run(
        ["git", "show", f"{commit}:schema.sql"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


async def _has(con: asyncpg.Connection, table: str, column: str | None = None) -> bool:
    if column is None:
        return bool(await con.fetchval("SELECT to_regclass($1) IS NOT NULL", table))
    return bool(
        await con.fetchval(
            "SELECT count(*) FROM information_schema.columns"
            " WHERE table_name = $1 AND column_name = $2",
            table,
            column,
        )
    )


async def fill(con: asyncpg.Connection) -> None:
    """Rows in every table this database has, as that release's code wrote them."""
    site = await con.fetchval(
        "INSERT INTO sites (slug, name, voter_secret) VALUES ('hoan-kiem', 'Hoàn Kiếm', 's')"
        " RETURNING id"
    )
    await con.execute(
        "INSERT INTO api_tokens (token_hash, scopes, site_id) VALUES ('h', '{polls:read}', $1)",
        site,
    )
    await con.execute(
        "INSERT INTO polls (id, site_id, question, status) VALUES ('p1', $1, 'Có nên?', 'open')",
        site,
    )
    if await _has(con, "polls", "comments"):
        await con.execute("UPDATE polls SET comments = 'postmoderated'")
    yes, no = [
        r["id"]
        for r in await con.fetch(
            "INSERT INTO poll_options (poll_id, position, label)"
            " VALUES ('p1', 0, 'Có'), ('p1', 1, 'Không') RETURNING id"
        )
    ]
    await con.execute(
        "INSERT INTO audit_log (actor, action, object_type, object_id)"
        " VALUES ('cli', 'create', 'poll', 'p1')"
    )
    if await _has(con, "votes"):
        for option in [yes, yes, yes, no, no]:
            await con.execute(
                "INSERT INTO votes (id, poll_id, option_ids, voter_key) VALUES ($1, 'p1', $2, $3)",
                uuid.uuid4(),
                [option],
                uuid.uuid4().hex,
            )
    if await _has(con, "votes", "state"):
        for _ in range(2):
            await con.execute(
                "INSERT INTO votes (id, poll_id, option_ids, state, hold_reason)"
                " VALUES ($1, 'p1', $2, 'held', 'flood')",
                uuid.uuid4(),
                [yes],
            )
    if await _has(con, "comments"):
        for state, body in [("published", "Nên làm sớm."), ("pending", "Chờ duyệt")]:
            comment = uuid.uuid4()
            await con.execute(
                "INSERT INTO comments (id, poll_id, body, state, fingerprint, voter_hash)"
                " VALUES ($1, 'p1', $2, $3, 'f', 'author')",
                comment,
                body,
                state,
            )
        await con.execute(
            "INSERT INTO comment_reports (comment_id, voter_hash, reason)"
            " VALUES ($1, 'reader', 'spam')",
            comment,
        )
    if await _has(con, "users"):
        user = await con.fetchval(
            "INSERT INTO users (email, password_hash, role) VALUES ('bt@example.vn', $1, 'editor')"
            " RETURNING id",
            PasswordHasher().hash(PASSWORD),
        )
        await con.execute("INSERT INTO user_sites (user_id, site_id) VALUES ($1, $2)", user, site)
        await con.execute(
            "INSERT INTO console_sessions (id_hash, user_id, csrf_token) VALUES ($1, $2, 'c')",
            sessions._id_hash(SECRET.encode(), SESSION_ID),
            user,
        )
        await con.execute("INSERT INTO login_failures (account_key, address_key) VALUES ('a', 'b')")
        await con.execute("UPDATE audit_log SET user_id = $1", user)


async def snapshot(con: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted (column order aside). Nulls are left out:
    a column a later migration adds (nullable, no default) reads null on old rows."""
    tables = await con.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        " AND tablename <> 'schema_version'"
    )
    rows = {}
    for t in tables:
        name = t["tablename"]
        found = await con.fetch(f'SELECT jsonb_strip_nulls(to_jsonb(t)) AS row FROM "{name}" t')
        rows[name] = sorted(str(r["row"]) for r in found)
    return rows


async def shape(con: asyncpg.Connection) -> dict[str, set[tuple[Any, ...]]]:
    """The schema as the catalog describes it: columns, constraints, indexes."""
    columns = await con.fetch(
        "SELECT table_name, column_name, data_type, is_nullable, column_default"
        " FROM information_schema.columns WHERE table_schema = 'public'"
    )
    constraints = await con.fetch(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE connamespace = 'public'::regnamespace"
    )
    indexes = await con.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'"
    )
    return {
        "columns": {tuple(r) for r in columns},
        "constraints": {tuple(r) for r in constraints},
        "indexes": {tuple(r) for r in indexes},
    }


@pytest.fixture
async def head_shape(make_database: DatabaseMaker) -> dict[str, set[tuple[Any, ...]]]:
    con = await asyncpg.connect(await make_database())
    try:
        await apply_schema(con)
        return await shape(con)
    finally:
        await con.close()


@pytest.fixture
async def serve(redis_url: str) -> AsyncIterator[Any]:
    """serve(database_url) -> a client of the app at head on that database, with a Redis
    of its own that starts empty."""
    own_redis = redis_url.rsplit("/", 1)[0] + "/14"
    managers: list[LifespanManager] = []
    clients: list[httpx.AsyncClient] = []

    async def start(database_url: str) -> httpx.AsyncClient:
        settings = Settings.from_env(
            {
                "DATABASE_URL": database_url,
                "REDIS_URL": own_redis,
                "SECRET_KEY": SECRET,
                "PUBLIC_URL": "http://testserver",
                "ACCESS_LOG": "false",
                "RECONCILE_SECONDS": "0",
            }
        )
        # Counts from the ledger into an empty Redis, as a process finding Redis empty
        # does, here before the app starts so that its first answers already have them.
        pool, redis = await create_pool(database_url, 2), connect_redis(own_redis)
        try:
            await redis.flushdb()
            assert await ensure_epoch(pool, redis, grace=0)
        finally:
            await pool.close()
            await redis.aclose()
        manager = LifespanManager(create_app(settings))
        await manager.__aenter__()
        managers.append(manager)
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver"
        )
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.aclose()
    for manager in managers:
        await manager.__aexit__(None, None, None)


@pytest.mark.parametrize("release", RELEASES, ids=str)
async def test_a_database_of_every_release_migrates_to_head_and_is_served(
    release: str,
    make_database: DatabaseMaker,
    head_shape: dict[str, set[tuple[Any, ...]]],
    serve: Any,
) -> None:
    commit, versions = RELEASES[release]
    url = await make_database()
    con = await asyncpg.connect(url)
    try:
        # Made as that release made it: its whole schema.sql, in one go.
        await con.execute(released_schema(commit))
        recorded = await con.fetch("SELECT version FROM schema_version ORDER BY version")
        assert [r["version"] for r in recorded] == versions
        await fill(con)
        before = await snapshot(con)
        had_votes, had_comments = "votes" in before, "comments" in before

        assert await apply_schema(con) == CURRENT_VERSION

        # What it had is kept (rows of older tables gain only the new columns' defaults)...
        after = await snapshot(con)
        for table, rows in before.items():
            assert len(after[table]) == len(rows), table
        if "users" in before:
            assert before["users"] == after["users"]
            assert before["console_sessions"] == after["console_sessions"]
        if had_comments:
            assert before["comment_reports"] == after["comment_reports"]
        # ...and it has the very schema a fresh database gets.
        assert await shape(con) == head_shape
        counted = await con.fetchval(
            "SELECT count(*) FROM votes WHERE state IN ('counted', 'released')"
        )
        held = await con.fetchval("SELECT count(*) FROM votes WHERE state = 'held'")
        user = await con.fetchrow("SELECT * FROM users")
        session = await sessions.find(con, SECRET.encode(), SESSION_ID)
    finally:
        await con.close()

    if user is not None:
        assert PasswordHasher().verify(user["password_hash"], PASSWORD)
        assert session is not None and session.user_id == user["id"]
    client = await serve(url)
    results = (await client.get("/v1/polls/p1/results")).json()
    assert results["total"] == counted == (5 if had_votes else 0)
    assert [o["votes"] for o in results["options"]] == ([3, 2] if had_votes else [0, 0])
    assert held == (2 if 5 in versions else 0)
    if had_comments:
        listed = (await client.get("/v1/polls/p1/comments")).json()
        assert [c["body"] for c in listed["items"]] == ["Nên làm sớm."]
    # The upgraded database takes new votes.
    vote = await client.post(
        "/v1/polls/p1/votes",
        json={"choices": [results["options"][1]["id"]]},
        headers={"Cookie": "pv=new-reader", "Origin": "http://testserver"},
    )
    assert vote.status_code == 201, vote.text
    assert (await client.get("/v1/polls/p1/results")).json()["total"] == counted + 1
