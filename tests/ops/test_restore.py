"""The restore drill of docs/operations/backup.md: pg_dump of a live database, restored into
a new one, the service started on it with an empty Redis: counts, integrity figures,
comments and held votes are as before."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from pathlib import Path
from typing import Any

import httpx
from asgi_lifespan import LifespanManager
from redis import asyncio as aioredis

from service.app import create_app
from service.core.settings import Settings
from service.dev.processes import postgres_bin_dir
from service.voting.keys import EPOCH, EPOCH_REBUILDING
from tests.conftest import DatabaseMaker, PollMaker
from tests.voting.test_fair_limits import limit_site
from tests.voting.voter import vote
from tests.widget.embedding import form_vote


async def _picture(client: httpx.AsyncClient, poll: dict[str, Any]) -> dict[str, Any]:
    """What a reader and an editor see of the poll."""
    pid = poll["id"]
    results = (await client.get(f"/v1/polls/{pid}/results")).json()
    integrity = (await client.get(f"/v1/admin/polls/{pid}/integrity")).json()
    comments = (await client.get(f"/v1/admin/polls/{pid}/comments")).json()["items"]
    held = (await client.get(f"/v1/admin/polls/{pid}/held")).json()
    return {
        "results": {k: results[k] for k in ("total", "held", "options")},
        # What the ledger holds of the integrity figures (refusals such as duplicates
        # were never stored, so no restore can bring them back).
        "integrity": {
            k: integrity.get(k)
            for k in ("ledger_votes", "accepted", "held", "released", "discarded")
        },
        "comments": sorted((c["body"], c["state"]) for c in comments),
        "held": sum(g["count"] for g in held["groups"]),
    }


def _run(tool: str, *args: str) -> None:
    done = subprocess.run(
        [str(postgres_bin_dir() / tool), *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


async def test_a_dump_restored_with_an_empty_redis_serves_the_same_poll(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    make_poll: PollMaker,
    make_database: DatabaseMaker,
    settings: Settings,
    tmp_path: Path,
) -> None:
    await limit_site(admin)
    poll = await make_poll(dedupe_mode="none", comments="premoderated")
    options = [o["id"] for o in poll["options"]]
    for n in range(5):
        assert (await vote(client, poll, options[n % 2])).status_code == 201
    assert (await form_vote(client, poll["id"], [options[1]])).status_code == 303
    held = await form_vote(client, poll["id"], [options[1]])
    assert "state=held" in held.headers["location"]
    for n, body in enumerate(("Nên làm sớm.", "Cần công khai chi phí dự án.")):
        said = await client.post(
            f"/v1/polls/{poll['id']}/comments",
            json={"body": body},
            headers={"Origin": "https://portal.example.vn", "X-Forwarded-For": f"198.51.{n}.7"},
        )
        assert said.status_code == 202, said.text
    first = (await admin.get(f"/v1/admin/polls/{poll['id']}/comments")).json()["items"][0]
    assert (await admin.post(f"/v1/admin/comments/{first['id']}/approve")).status_code == 200
    before = await _picture(admin, poll)
    assert before["results"]["total"] == 6 and before["held"] == 1

    dump = tmp_path / "civicpoll.dump"
    _run("pg_dump", "-Fc", "-f", str(dump), settings.database_url)  # while it serves
    restored_url = await make_database()
    _run("pg_restore", "--no-owner", "-d", restored_url, str(dump))

    # Another Redis database of the same server: empty, as after losing Redis.
    empty_redis = settings.redis_url.rsplit("/", 1)[0] + "/9"
    restored = dataclasses.replace(settings, database_url=restored_url, redis_url=empty_redis)
    blank = aioredis.Redis.from_url(empty_redis)
    try:
        await blank.flushdb()
    finally:
        await blank.aclose()
    app = create_app(restored)
    async with LifespanManager(app) as manager:
        services = manager._state["services"]
        # The service finds Redis empty and rebuilds from the ledger by itself.
        for _ in range(600):
            if await services.redis.exists(EPOCH) and not await services.redis.exists(
                EPOCH_REBUILDING
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the restored service never rebuilt its counts")
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50002))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", headers=dict(admin.headers)
        ) as again:
            after = await _picture(again, poll)
        await services.redis.flushdb()
    assert after == before
