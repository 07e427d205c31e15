"""The live hub (service/live/hub.py): caps per address, per network and in all, stalled
readers dropped,
the goodbye on shutdown and on an exit signal."""

from __future__ import annotations

import asyncio
import json
import signal
from typing import Any

import httpx
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.live.hub import LiveHub

from .sse import OPEN, WAIT, PollMaker, open_stream, stream_path, vote


async def test_caps_per_ip_and_global(small_app: tuple[Any, LiveHub], make_poll: PollMaker) -> None:
    app, hub = small_app
    poll = await make_poll()
    a = [
        await open_stream(app, stream_path(poll), {"X-Forwarded-For": "203.0.113.7"})
        for _ in range(2)
    ]
    third = await open_stream(app, stream_path(poll), {"X-Forwarded-For": "203.0.113.7"})
    assert third.status == 429
    assert json.loads(third.body)["error"]["code"] == "too_many_streams"
    b = await open_stream(app, stream_path(poll), {"X-Forwarded-For": "198.51.100.9"})
    assert b.status == 200
    full = await open_stream(app, stream_path(poll), {"X-Forwarded-For": "192.0.2.1"})
    assert full.status == 503 and "retry-after" in full.headers
    assert json.loads(full.body)["error"]["code"] == "too_many_streams"
    await a[0].close()
    again = await open_stream(app, stream_path(poll), {"X-Forwarded-For": "203.0.113.7"})
    assert again.status == 200
    for s in (a[1], b, again):
        await s.close()
    assert hub.per_ip == {} and not hub.listeners


async def test_cap_per_network(
    settings: Settings, state: dict[str, Any], make_poll: PollMaker
) -> None:
    """Many addresses of one /24 share one cap; the refusal names it. An IPv6 client is
    its /64 for the address cap too (identity.budget_address), as for votes and comments."""
    poll = await make_poll()
    capped = settings.with_changes(max_streams=20, max_streams_per_ip=2, max_streams_per_network=3)
    async with LifespanManager(create_app(capped)) as manager:
        app, hub = manager.app, manager._state["services"].live

        async def from_(ip: str) -> Any:
            return await open_stream(app, stream_path(poll), {"X-Forwarded-For": ip})

        for first, neighbour, stranger in (("203.0.113.", "203.0.113.", "203.0.114.1"),):
            same = [await from_(f"{first}1"), await from_(f"{first}2"), await from_(f"{first}3")]
            assert {s.status for s in same} == {200}
            refused = await from_(f"{neighbour}4")
            assert refused.status == 429 and "retry-after" in refused.headers
            error = json.loads(refused.body)["error"]
            assert error["code"] == "too_many_streams" and "network" in error["message"]
            assert (await from_(stranger)).status == 200
            await same[0].close()
            assert (await from_(f"{neighbour}4")).status == 200
        v6 = await from_("2001:db8:1:2::1"), await from_("2001:db8:1:2:ffff::2")
        assert all(s.status == 200 for s in v6)
        refused = await from_("2001:db8:1:2::3")
        assert refused.status == 429
        assert "address" in json.loads(refused.body)["error"]["message"]
        assert (await from_("2001:db8:1:3::1")).status == 200
        address = await from_("198.51.100.1"), await from_("198.51.100.1")
        refused = await from_("198.51.100.1")
        assert refused.status == 429
        assert "address" in json.loads(refused.body)["error"]["message"]
        assert all(s.status == 200 for s in address)
        for stream in OPEN:
            if not stream.ended.is_set():
                await stream.close()
        assert hub.per_network == {} and hub.per_ip == {} and not hub.listeners


async def test_stalled_reader_is_dropped(
    small_app: tuple[Any, LiveHub], client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    app, hub = small_app
    poll = await make_poll()
    # retry line and snapshot go through, then every send blocks.
    stalled = await open_stream(app, stream_path(poll), stall_after=2)
    healthy = await open_stream(app, stream_path(poll))
    await stalled.event()
    await healthy.event()
    await vote(client, poll)
    assert (await healthy.event()).json["total"] == 1
    assert stalled.task is not None
    await asyncio.wait_for(stalled.task, WAIT)  # the hub gave up on it; the task ended
    assert len(hub.listeners) == 1
    await vote(client, poll)
    assert (await healthy.event()).json["total"] == 2
    await healthy.close()


async def test_shutdown_says_goodbye(
    settings: Settings, state: dict[str, Any], make_poll: PollMaker
) -> None:
    poll = await make_poll()
    async with LifespanManager(create_app(settings)) as manager:
        stream = await open_stream(manager.app, stream_path(poll))
        await stream.event()
        hub: LiveHub = manager._state["services"].live
        hub.drain()
        bye = await stream.event()
        assert bye.name == "goodbye" and 1000 <= int(bye.retry) <= 5000
        await stream.end()
        late = await open_stream(manager.app, stream_path(poll))
        assert late.status == 503
        assert not hub.listeners


async def test_exit_signal_reaches_streams_before_the_server_handler(
    settings: Settings, state: dict[str, Any], make_poll: PollMaker
) -> None:
    poll = await make_poll()
    received: list[int] = []
    # Stands in for uvicorn's handler, which is installed before the lifespan starts.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: received.append(signum))
    try:
        async with LifespanManager(create_app(settings)) as manager:
            stream = await open_stream(manager.app, stream_path(poll))
            await stream.event()
            signal.raise_signal(signal.SIGTERM)
            assert (await stream.event()).name == "goodbye"
            await stream.end()
        assert received == [signal.SIGTERM]
        assert signal.getsignal(signal.SIGTERM) is not None
    finally:
        signal.signal(signal.SIGTERM, previous)
