"""REDIS_URL=redis+sentinel://...: the primary Sentinel names, followed through a failover.
A real primary, replica and three sentinels; the primary is killed under a steady load of
votes: every acknowledged vote is in the ledger, counts equal the ledger afterwards, and no
voter is locked out."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings, SettingsError
from service.ops import metrics
from service.storage.redis import sentinel_target
from service.voting.keys import counts_key, rebuilding_key
from tests.conftest import PollMaker
from tests.rediscluster import cluster_binaries
from tests.redissentinel import LocalSentinel

MAX_VOTERS = 5000
CONCURRENCY = 16
AFTER_REBUILD = 200  # votes counted after the failover's rebuild before the load stops


def test_the_url_names_sentinels_master_and_database() -> None:
    assert sentinel_target("redis+sentinel://a:26380,b/polls") == (
        [("a", 26380), ("b", 26379)],
        "polls",
        0,
    )
    assert sentinel_target("rediss+sentinel://u:p@[::1]:5/m/3") == ([("::1", 5)], "m", 3)
    env = {"DATABASE_URL": "postgresql://x/y", "SECRET_KEY": "k" * 40}
    with pytest.raises(SettingsError, match="must name the Sentinel master"):
        Settings.from_env({**env, "REDIS_URL": "redis+sentinel://a:26379"})
    assert Settings.from_env({**env, "REDIS_URL": "redis+sentinel://a/m"}).redis_url


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[LocalSentinel]:
    binaries = cluster_binaries()
    if binaries is None:
        if os.environ.get("CI"):
            pytest.fail("no redis-server >= 7 in CI: make test runs scripts/cluster-deps.sh")
        pytest.skip("no redis-server >= 7 (apt-get install redis-server)")
    local = LocalSentinel(tmp_path, *binaries)
    try:
        local.start()
        yield local
    finally:
        local.stop()


async def test_votes_survive_a_failover_exactly(
    sentinel: LocalSentinel,
    settings: Settings,
    make_poll: PollMaker,
) -> None:
    poll = await make_poll()
    first = sentinel.primary()
    app = create_app(dataclasses.replace(settings, redis_url=sentinel.url))
    answers: dict[str, list[tuple[float, int]]] = {}
    killed_at: list[float] = []
    async with LifespanManager(app) as manager:
        services = manager._state["services"]
        transport = httpx.ASGITransport(app=manager.app, client=("127.0.0.1", 50003))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:

            def failover_rebuilds() -> float:
                found = metrics.REGISTRY.get_sample_value(
                    "civicpoll_count_rebuilds_total", {"reason": "failover"}
                )
                return found or 0.0

            rebuilds_before = failover_rebuilds()
            counted_after: list[float] = []

            async def one_voter(cookie: str) -> None:
                """Votes until the vote is counted (201) or known (409): a 503 is retried
                as the same voter, as the widget does."""
                ip = f"203.0.{secrets.randbelow(250)}.{secrets.randbelow(250)}"
                said = answers.setdefault(cookie, [])
                for _ in range(2000):
                    r = await c.post(
                        f"/v1/polls/{poll['id']}/votes",
                        json={"choices": [poll["options"][len(answers) % 2]["id"]]},
                        headers={"Cookie": f"pv={cookie}", "X-Forwarded-For": ip},
                    )
                    said.append((time.monotonic(), r.status_code))
                    if r.status_code in (201, 409):
                        if failover_rebuilds() > rebuilds_before:
                            counted_after.append(time.monotonic())
                        return
                    assert r.status_code == 503, r.text
                    await asyncio.sleep(0.02)
                raise AssertionError(f"voter {cookie} never got an answer")

            async def worker() -> None:
                # Steady load until the service has rebuilt after the failover and counted
                # AFTER_REBUILD more votes (bounded by MAX_VOTERS).
                while len(counted_after) < AFTER_REBUILD and len(answers) < MAX_VOTERS:
                    await one_voter(secrets.token_urlsafe(12))
                    if len(answers) >= 300 and not killed_at:
                        killed_at.append(time.monotonic())
                        sentinel.kill(first)

            await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
        assert killed_at, "the primary was never killed"
        assert sentinel.primary() != first
        assert len(counted_after) >= AFTER_REBUILD, "no rebuild after the failover"
        assert not await services.redis.exists(rebuilding_key(poll["id"]))
        ledger = await services.pool.fetchval(
            "SELECT count(*) FROM votes WHERE poll_id = $1", poll["id"]
        )
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            results = (await c.get(f"/v1/polls/{poll['id']}/results")).json()
        live = await services.redis.hgetall(counts_key(poll["id"]))

    # Every voter was counted exactly once (dedupe by cookie): none was locked out.
    assert ledger == len(answers)
    assert sum(int(v) for v in live.values()) == ledger, live
    assert results["total"] == ledger
    # Voting is back once the last 503 has been answered.
    refusals = [t for a in answers.values() for t, s in a if s == 503]
    outage = (max(refusals) - killed_at[0]) if refusals else 0.0
    print(f"\nfailover: votes answered 503 for {outage:.2f} s ({len(refusals)} answers)")
    _record(outage_seconds=round(outage, 2), refusals=len(refusals))


def _record(**figures: Any) -> None:
    """The figures of the last run, for docs/operations/redis.md (tests/artifacts)."""
    out = Path(__file__).resolve().parents[1] / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "sentinel-failover.txt").write_text("".join(f"{k}={v}\n" for k, v in figures.items()))
