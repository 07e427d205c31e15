"""One watched poll (service/live/watcher.py): one watcher shared by its listeners, event ids
equal on every instance, the close announced, hidden results ending public streams."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from service.live.hub import LiveHub

from .sse import WAIT, PollMaker, TokenMaker, open_stream, stream_path, vote


async def test_one_watcher_per_poll_stops_with_the_last_listener(
    app: Any, state: dict[str, Any], client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    hub: LiveHub = state.live
    a = await open_stream(app, stream_path(poll))
    b = await open_stream(app, stream_path(poll))
    await a.event()
    await b.event()
    watcher = hub.watchers[poll["id"]]
    assert len(watcher.listeners) == 2
    await vote(client, poll)
    ea, eb = await a.event(), await b.event()
    assert (ea.name, ea.id, ea.data) == (eb.name, eb.id, eb.data)
    await a.close()
    assert poll["id"] in hub.watchers
    await b.close()
    assert poll["id"] not in hub.watchers
    await asyncio.wait({watcher.task}, timeout=WAIT)
    assert watcher.task.cancelled()


async def test_event_ids_agree_across_instances(
    app: Any, small_app: tuple[Any, LiveHub], client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    await vote(client, poll)
    here = await open_stream(app, stream_path(poll))
    there = await open_stream(small_app[0], stream_path(poll))
    assert (await here.event()).id == (await there.event()).id
    await here.close()
    await there.close()


async def test_closing_is_announced_then_the_stream_ends(
    app: Any, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    stream = await open_stream(app, stream_path(poll))
    await stream.event()
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/close")
    assert r.status_code == 200
    closed = await stream.event()
    assert closed.name == "closed"
    assert closed.json == {"poll_id": poll["id"], "status": "closed"}
    await stream.end()
    # A reconnect to a closed poll hears the final results and the close, then the end.
    again = await open_stream(app, stream_path(poll))
    assert [(await again.event()).name, (await again.event()).name] == ["snapshot", "closed"]
    await again.end()


async def test_hiding_results_ends_public_streams(
    app: Any, admin: httpx.AsyncClient, make_token: TokenMaker, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    public = await open_stream(app, stream_path(poll))
    token = await make_token(scopes=["polls:read"])
    private = await open_stream(app, stream_path(poll), {"Authorization": f"Bearer {token}"})
    await public.event()
    await private.event()
    r = await admin.patch(f"/v1/admin/polls/{poll['id']}", json={"results_visibility": "never"})
    assert r.status_code == 200
    await public.end()
    assert public.chunks.empty()  # ended without one more event
    await vote(admin, poll)
    assert (await private.event()).json["total"] == 1
    await private.close()
