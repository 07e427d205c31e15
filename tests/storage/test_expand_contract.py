"""Expand/contract: the previous release's code serves and counts votes on a database
migrated to head, as it must while a rolling upgrade replaces its processes."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import asyncpg
import pytest

from service.storage.db import apply_schema
from tests.conftest import SECRET, DatabaseMaker
from tests.serving import admin_token, uvicorn_process
from tests.storage.test_migration_rules import PREVIOUS_RELEASE, REPO

pytestmark = pytest.mark.slow


def _checkout(commit: str, into: Path) -> Path:
    """The release's service package and schema file, as a plain tree (no git worktree)."""
    into.mkdir()
    archive = subprocess.run(
        ["git", "archive", commit, "service", "schema.sql"],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into


def _vote_on_the_old_code(database_url: str, redis_url: str, token: str, code: Path) -> int:
    with uvicorn_process(
        database_url, redis_url, SECRET, token, host="127.0.0.1", log_name="previous.log", code=code
    ) as (url, http):
        r = http.post(
            "/v1/admin/sites",
            json={
                "slug": "hoan-kiem",
                "name": "Hoàn Kiếm",
                "rate_per_ip_per_minute": 1000,
                "burst_per_ip": 1000,
            },
        )
        assert r.status_code == 201, r.text
        r = http.post(
            "/v1/admin/polls",
            json={"site": "hoan-kiem", "question": "Có nên?", "options": ["Có", "Không"]},
        )
        assert r.status_code == 201, r.text
        poll = r.json()
        assert http.post(f"/v1/admin/polls/{poll['id']}/open").status_code == 200
        yes, no = (o["id"] for o in poll["options"])
        for i, choice in enumerate([yes, yes, no, yes, no]):
            r = http.post(
                f"/v1/polls/{poll['id']}/votes",
                json={"choices": [choice]},
                headers={"Cookie": f"pv=reader-{i}", "Origin": url},
            )
            assert r.status_code == 201, r.text
        results = http.get(f"/v1/polls/{poll['id']}/results").json()
        assert [o["votes"] for o in results["options"]] == [3, 2]
        return int(results["total"])


async def test_the_previous_release_serves_and_counts_on_the_schema_at_head(
    make_database: DatabaseMaker, redis_url: str, tmp_path: Path
) -> None:
    url = await make_database()
    con = await asyncpg.connect(url)
    try:
        await apply_schema(con)
        head = await con.fetchval("SELECT max(version) FROM schema_version")
    finally:
        await con.close()
    token = await admin_token(url, SECRET)
    code = _checkout(PREVIOUS_RELEASE, tmp_path / PREVIOUS_RELEASE)
    own_redis = redis_url.rsplit("/", 1)[0] + "/13"
    total = await asyncio.to_thread(_vote_on_the_old_code, url, own_redis, token, code)
    con = await asyncpg.connect(url)
    try:
        assert (
            total == 5 == await con.fetchval("SELECT count(*) FROM votes WHERE state = 'counted'")
        )
        # The old code's start left the schema at head alone (it applies nothing newer).
        assert await con.fetchval("SELECT max(version) FROM schema_version") == head
    finally:
        await con.close()
