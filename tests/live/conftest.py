"""Live-test fixtures: the session app, an anonymous client, a second app with fast
heartbeats and small caps; streams a test left open are closed after it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.live.hub import LiveHub

from .sse import OPEN, WAIT


@pytest.fixture(autouse=True)
async def _close_streams() -> AsyncIterator[None]:
    """Streams a failing test left open are closed, so the next test starts with none."""
    yield
    while OPEN:
        stream = OPEN.pop()
        stream.disconnect.set()
        if stream.task is not None:
            await asyncio.wait({stream.task}, timeout=WAIT)


@pytest.fixture
def app(app_state: tuple[Any, dict[str, Any]], state: dict[str, Any]) -> Any:
    """The session app (lifespan running) on clean storage."""
    return app_state[0]


@pytest.fixture
def anon(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client that never carries a token (`client` is anonymous; `admin` has the token)."""
    return client


@pytest.fixture
async def small_app(
    settings: Settings, state: dict[str, Any]
) -> AsyncIterator[tuple[Any, LiveHub]]:
    """A second app with fast heartbeats, a short send timeout and small caps."""
    quick = settings.with_changes(
        stream_heartbeat_seconds=0.2,
        stream_send_timeout_seconds=0.3,
        max_streams=3,
        max_streams_per_ip=2,
    )
    async with LifespanManager(create_app(quick)) as manager:
        yield manager.app, manager._state["services"].live
