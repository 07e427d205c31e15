"""One stream (service/live/listener.py): the snapshot first, then each change; resuming
from Last-Event-ID; heartbeats."""

from __future__ import annotations

from typing import Any

import httpx

from service.live.hub import LiveHub

from .sse import PollMaker, open_stream, stream_path, vote


async def test_snapshot_first_then_results(
    app: Any, client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    stream = await open_stream(app, stream_path(poll))
    assert stream.headers["content-type"].startswith("text/event-stream")
    assert stream.headers["cache-control"] == "no-store"
    first = await stream.event()
    assert first.name == "snapshot" and first.id
    assert first.json["total"] == 0
    assert [o["label"] for o in first.json["options"]] == ["Có", "Không", "Ý kiến khác"]
    await vote(client, poll, option=1)
    update = await stream.event()
    assert update.name == "results" and update.id != first.id
    public = (await client.get(f"/v1/polls/{poll['id']}/results")).json()
    assert update.json == public
    assert update.json["options"][1]["votes"] == 1 and update.json["options"][1]["percent"] == 100
    await stream.close()


async def test_resume_with_last_event_id(
    app: Any, client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    stream = await open_stream(app, stream_path(poll))
    current = (await stream.event()).id
    await stream.close()

    # Up to date: nothing is re-sent; the next event is the next change.
    stream = await open_stream(app, stream_path(poll), {"Last-Event-ID": current})
    await vote(client, poll)
    first = await stream.event()
    assert first.name == "results" and first.json["total"] == 1
    await stream.close()

    # Behind (a vote happened while away): the missed state comes at once.
    stream = await open_stream(app, stream_path(poll), {"Last-Event-ID": current})
    first = await stream.event()
    assert first.name == "results" and first.json["total"] == 1 and first.id != current
    await stream.close()


async def test_heartbeat_comment(small_app: tuple[Any, LiveHub], make_poll: PollMaker) -> None:
    poll = await make_poll()
    stream = await open_stream(small_app[0], stream_path(poll))
    assert (await stream.event()).name == "snapshot"
    ping = await stream.event(comments=True)
    assert ping.comment == "ping" and ping.name == ""
    await stream.close()
