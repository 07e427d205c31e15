"""Shared fixtures: real PostgreSQL and Redis (embedded unless TEST_DATABASE_URL /
TEST_REDIS_URL are given), one app per session, clean state per test."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.dev.services import EmbeddedPostgres, EmbeddedRedis, free_port
from service.identity.principal import SCOPES, create_token
from service.polls.cache import ALL
from service.voting.keys import EPOCH
from tests.rediscluster import LocalCluster, cluster_binaries

SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="session")
def scratch_dir() -> Iterator[Path]:
    """A private folder for this session's servers. Not pytest's tmp_path: pytest prunes
    old numbered folders, which would pull the data directory from under a server that a
    concurrent pytest run still uses."""
    path = Path(tempfile.mkdtemp(prefix="civicpoll-test-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(scratch_dir: Path) -> Iterator[EmbeddedPostgres | None]:
    """An embedded PostgreSQL, or None when TEST_DATABASE_URL points at one."""
    if os.environ.get("TEST_DATABASE_URL"):
        yield None
        return
    server = EmbeddedPostgres(scratch_dir / "pg", free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server(scratch_dir: Path) -> Iterator[EmbeddedRedis | None]:
    """An embedded Redis, or None when TEST_REDIS_URL points at one."""
    if os.environ.get("TEST_REDIS_URL"):
        yield None
        return
    server = EmbeddedRedis(scratch_dir / "redis", free_port(), appendonly=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_cluster(scratch_dir: Path) -> Iterator[LocalCluster]:
    """A real local Redis Cluster of three primaries (Redis 7: sharded pub/sub), or the
    test is skipped when no such redis-server is installed."""
    binaries = cluster_binaries()
    if binaries is None:
        pytest.skip("no redis-server >= 7 for a local cluster (apt-get install redis-server)")
    cluster = LocalCluster(scratch_dir / "cluster", *binaries)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
async def database_url(pg_server: EmbeddedPostgres | None) -> str:
    """A freshly created, empty database for this test session."""
    base = os.environ.get("TEST_DATABASE_URL") or (pg_server.dsn if pg_server else "")
    admin = await asyncpg.connect(base)
    name = f"civicpoll_test_{os.getpid()}"
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return base.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedRedis | None) -> str:
    url = os.environ.get("TEST_REDIS_URL") or (redis_server.url if redis_server else "")
    return url.rsplit("/", 1)[0] + "/15" if os.environ.get("TEST_REDIS_URL") else url


@pytest.fixture(scope="session")
def settings(database_url: str, redis_url: str) -> Settings:
    """Settings for the test app: 127.0.0.1 is a trusted proxy, so tests may set clients."""
    return Settings.from_env(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "SECRET_KEY": SECRET,
            "TRUSTED_PROXIES": "127.0.0.1/32",
            "PUBLIC_URL": "http://testserver",
            "ACCESS_LOG": "false",
            "RECONCILE_SECONDS": "0",
            # Tests sign in faster than people do; tests/console/test_signin.py checks
            # the production budget on an app of its own.
            "SIGNIN_HASHES_PER_SECOND": "1000",
        }
    )


@pytest.fixture(scope="session")
async def app_state(settings: Settings) -> AsyncIterator[tuple[Any, dict[str, Any]]]:
    """The app with its lifespan running, and the lifespan state (pool, redis, ...)."""
    app = create_app(settings)
    async with LifespanManager(app) as manager:
        yield manager.app, manager._state["services"]


@pytest.fixture
async def state(app_state: tuple[Any, dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """The lifespan state, on an empty database and an empty Redis."""
    _, st = app_state
    await st.pool.execute(
        "TRUNCATE votes, audit_log, api_tokens, poll_options, polls, sites RESTART IDENTITY CASCADE"
    )
    await st.redis.flushdb()
    await st.redis.set(EPOCH, 1)
    st.polls.drop(ALL)
    st.placements.drop(ALL)
    st.counts._entries.clear()
    yield st


@pytest.fixture
async def client(
    app_state: tuple[Any, dict[str, Any]], state: dict[str, Any]
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the app; requests come from 127.0.0.1 (a trusted proxy)."""
    transport = httpx.ASGITransport(app=app_state[0], client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


TokenMaker = Callable[..., Awaitable[str]]


@pytest.fixture
def make_token(state: dict[str, Any], settings: Settings) -> TokenMaker:
    """make_token(scopes=[...], site=slug|None) -> a new bearer token."""

    async def make(scopes: list[str] | None = None, site: str | None = None) -> str:
        async with state.pool.acquire() as con:
            site_id = None
            if site:
                site_id = await con.fetchval("SELECT id FROM sites WHERE slug = $1", site)
            _, token = await create_token(con, settings.secret_key, scopes or list(SCOPES), site_id)
        return token

    return make


@pytest.fixture
async def admin(
    app_state: tuple[Any, dict[str, Any]], state: dict[str, Any], make_token: TokenMaker
) -> AsyncIterator[httpx.AsyncClient]:
    """A second client carrying an all-scopes, all-sites admin token (`client` stays
    anonymous, so tests see what the public sees)."""
    transport = httpx.ASGITransport(app=app_state[0], client=("127.0.0.1", 50001))
    headers = {"Authorization": f"Bearer {await make_token()}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as c:
        yield c


@pytest.fixture
async def site(admin: httpx.AsyncClient) -> dict[str, Any]:
    """A site 'hoan-kiem' allowing https://portal.example.vn to embed its polls."""
    r = await admin.post(
        "/v1/admin/sites",
        json={
            "slug": "hoan-kiem",
            "name": "Hoàn Kiếm",
            "allowed_origins": ["https://portal.example.vn"],
            "rate_per_ip_per_minute": 1000,
            "burst_per_ip": 1000,
            "rate_per_network_per_minute": 10000,
            "burst_per_network": 10000,
        },
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


PollMaker = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def make_poll(admin: httpx.AsyncClient, site: dict[str, Any]) -> PollMaker:
    """make_poll(open=True, **fields) -> the created poll (admin view)."""

    async def make(open: bool = True, **fields: Any) -> dict[str, Any]:
        body = {
            "site": site["slug"],
            "question": "Có nên xây dựng thành phố thông minh?",
            "options": ["Có", "Không", "Ý kiến khác"],
            **fields,
        }
        r = await admin.post("/v1/admin/polls", json=body)
        assert r.status_code == 201, r.text
        poll = dict(r.json())
        if open:
            r = await admin.post(f"/v1/admin/polls/{poll['id']}/open")
            assert r.status_code == 200, r.text
            poll = dict(r.json())
        return poll

    return make


DatabaseMaker = Callable[[], Awaitable[str]]


@pytest.fixture
async def make_database(database_url: str) -> AsyncIterator[DatabaseMaker]:
    """make_database() -> the URL of a new, empty database (dropped after the test)."""
    maintenance = database_url.rsplit("/", 1)[0] + "/postgres"
    made: list[str] = []

    async def make() -> str:
        name = f"civicpoll_scratch_{os.getpid()}_{len(made)}"
        con = await asyncpg.connect(maintenance)
        try:
            await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await con.execute(f'CREATE DATABASE "{name}"')
        finally:
            await con.close()
        made.append(name)
        return database_url.rsplit("/", 1)[0] + "/" + name

    yield make
    con = await asyncpg.connect(maintenance)
    try:
        for name in made:
            await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await con.close()


# Whole files whose tests start servers, processes, wheels or a browser: `make test-fast`
# (pytest -m "not slow") leaves them out to keep the loop near a minute; .ci/run runs all.
SLOW_FILES = frozenset(
    {
        "tests/test_workers.py",
        "tests/test_instances.py",
        "tests/test_packaging.py",
        "tests/storage/test_cluster.py",
        "tests/storage/test_sentinel.py",
        "tests/ops/test_conformance.py",
        "tests/ops/test_restore.py",
        "tests/voting/test_vote_faults.py",
    }
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        if where in SLOW_FILES or where.startswith("tests/browser/"):
            item.add_marker(pytest.mark.slow)
