"""Live results (service/live.py) and dashboards (service/dashboard.py): the SSE protocol,
fan-out, caps, stalled readers, shutdown, signed links and the dashboard's data."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from service.app import create_app
from service.core.settings import Settings
from service.live.hub import LiveHub
from service.live.links import view_key
from service.voting.keys import minutes_key

PollMaker = Callable[..., Awaitable[dict[str, Any]]]
TokenMaker = Callable[..., Awaitable[str]]
WAIT = 5.0  # an upper bound for things that happen within a tick or two, never a pause


@dataclass
class Event:
    name: str = ""
    data: str = ""
    id: str = ""
    retry: str = ""
    comment: str = ""

    @property
    def json(self) -> Any:
        return json.loads(self.data)


@dataclass
class Stream:
    """A response of the ASGI app read message by message, parsed into SSE events."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    chunks: asyncio.Queue[bytes] = field(default_factory=asyncio.Queue)
    disconnect: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    _buffer: bytes = b""

    async def event(self, *, comments: bool = False) -> Event:
        """The next event; heartbeat comments only when asked for."""
        while True:
            while b"\n\n" not in self._buffer:
                get = asyncio.ensure_future(self.chunks.get())
                end = asyncio.ensure_future(self.ended.wait())
                done, _ = await asyncio.wait(
                    {get, end}, timeout=WAIT, return_when=asyncio.FIRST_COMPLETED
                )
                if get in done:
                    end.cancel()
                    self._buffer += get.result()
                    continue
                get.cancel()
                end.cancel()
                raise AssertionError("stream ended" if end in done else "no event in time")
            block, self._buffer = self._buffer.split(b"\n\n", 1)
            ev = Event()
            for line in block.decode().split("\n"):
                key, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if key == "":
                    ev.comment = value
                elif key == "event":
                    ev.name = value
                else:
                    setattr(ev, key, value)
            if not ev.name and not (comments and ev.comment):
                continue
            return ev

    async def end(self) -> None:
        """Wait for the server to finish the response (it must, within WAIT)."""
        await asyncio.wait_for(self.ended.wait(), WAIT)

    async def close(self) -> None:
        self.disconnect.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, WAIT)


async def open_stream(
    app: Any,
    path: str,
    headers: dict[str, str] | None = None,
    ip: str = "127.0.0.1",
    stall_after: int | None = None,
) -> Stream:
    """Start a GET on the app; returns once the response has started."""
    raw_path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
        + [(b"host", b"testserver")],
        "client": (ip, 50000),
        "server": ("testserver", 80),
    }
    stream = Stream()
    started = asyncio.Event()
    never = asyncio.Event()
    bodies = 0
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await stream.disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal bodies
        if message["type"] == "http.response.start":
            stream.status = message["status"]
            stream.headers = {k.decode(): v.decode() for k, v in message["headers"]}
            started.set()
            return
        bodies += 1
        if stall_after is not None and bodies > stall_after:
            await never.wait()  # a reader that stopped reading: the send never completes
        if stream.status != 200:
            stream.body += message.get("body", b"")
        elif message.get("body"):
            stream.chunks.put_nowait(message["body"])
        if not message.get("more_body"):
            stream.ended.set()

    async def run() -> None:
        try:
            await app(scope, receive, send)
        finally:
            stream.ended.set()
            started.set()

    stream.task = asyncio.create_task(run())
    _OPEN.append(stream)
    await asyncio.wait_for(started.wait(), WAIT)
    if stream.status != 200:
        await stream.end()
    return stream


_OPEN: list[Stream] = []


@pytest.fixture(autouse=True)
async def _close_streams() -> AsyncIterator[None]:
    """Streams a failing test left open are closed, so the next test starts with none."""
    yield
    while _OPEN:
        stream = _OPEN.pop()
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


async def vote(
    client: httpx.AsyncClient, poll: dict[str, Any], option: int = 0, page: str | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"choices": [poll["options"][option]["id"]]}
    if page:
        body["page"] = page
    r = await client.post(f"/v1/polls/{poll['id']}/votes", json=body)
    assert r.status_code == 201, r.text
    return dict(r.json())


def stream_path(poll: dict[str, Any]) -> str:
    return f"/v1/polls/{poll['id']}/results/stream"


# ---------------------------------------------------------------- protocol


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


async def test_heartbeat_comment(small_app: tuple[Any, LiveHub], make_poll: PollMaker) -> None:
    poll = await make_poll()
    stream = await open_stream(small_app[0], stream_path(poll))
    assert (await stream.event()).name == "snapshot"
    ping = await stream.event(comments=True)
    assert ping.comment == "ping" and ping.name == ""
    await stream.close()


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


# ---------------------------------------------------------------- visibility


async def test_hidden_results_are_not_streamed(
    app: Any, admin: httpx.AsyncClient, make_token: TokenMaker, make_poll: PollMaker
) -> None:
    poll = await make_poll(results_visibility="never")
    refused = await open_stream(app, stream_path(poll))
    assert refused.status == 403
    assert json.loads(refused.body)["error"]["code"] == "results_hidden"
    assert refused.chunks.empty()

    token = await make_token(scopes=["polls:read"])
    allowed = await open_stream(app, stream_path(poll), {"Authorization": f"Bearer {token}"})
    assert (await allowed.event()).name == "snapshot"
    await allowed.close()

    r = await admin.post(f"/v1/admin/polls/{poll['id']}/dashboard-link")
    assert r.status_code == 201
    key = r.json()["url"].split("key=")[1]
    keyed = await open_stream(app, f"{stream_path(poll)}?key={key}")
    assert (await keyed.event()).name == "snapshot"
    await keyed.close()

    expired = view_key(b"x" * 40, f"poll:{poll['id']}", int(time.time()) + 60)
    bad = await open_stream(app, f"{stream_path(poll)}?key={expired}")
    assert bad.status == 403 and json.loads(bad.body)["error"]["code"] == "bad_key"


async def test_after_vote_streams_only_to_voters(
    app: Any, anon: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(results_visibility="after_vote")
    assert (await open_stream(app, stream_path(poll))).status == 403
    r = await anon.post(
        f"/v1/polls/{poll['id']}/votes", json={"choices": [poll["options"][0]["id"]]}
    )
    assert r.status_code == 201
    cookie = r.headers["set-cookie"].split(";")[0]
    stream = await open_stream(app, stream_path(poll), {"Cookie": cookie})
    assert (await stream.event()).json["total"] == 1
    await stream.close()


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


# ---------------------------------------------------------------- protection


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


# ---------------------------------------------------------------- dashboards


async def test_dashboard_access(
    anon: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    public = await make_poll()
    page = await anon.get(f"/dashboard/{public['id']}")
    assert page.status_code == 200
    assert public["question"] in page.text and "data-integrity" not in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]

    hidden = await make_poll(results_visibility="never")
    locked = await anon.get(f"/dashboard/{hidden['id']}")
    assert locked.status_code == 403 and "data-unlock" in locked.text
    assert "data-option" not in locked.text

    r = await admin.post(f"/v1/admin/polls/{hidden['id']}/dashboard-link?hours=2")
    assert r.status_code == 201
    link = r.json()
    assert link["url"].startswith(f"http://testserver/dashboard/{hidden['id']}?key=")
    opened = await anon.get(link["url"])
    assert opened.status_code == 200 and "data-integrity" in opened.text
    # The language link keeps the key.
    assert "key=" in opened.text.split('class="dash-lang" href="')[1].split('"')[0]
    other = await make_poll(open=True)
    wrong = await anon.get(f"/dashboard/{other['id']}?key={link['url'].split('key=')[1]}")
    assert wrong.status_code == 403


async def test_dashboard_data(
    anon: httpx.AsyncClient, admin: httpx.AsyncClient, state: dict[str, Any], make_poll: PollMaker
) -> None:
    poll = await make_poll()
    for page in (
        "https://news.example.vn/a",
        "https://news.example.vn/a",
        "https://news.example.vn/b?utm=x",
    ):
        await vote(admin, poll, page=page)
    now_minute = int(time.time()) // 60
    redis = state.redis
    await redis.hset(minutes_key(poll["id"]), str(now_minute - 7 * 60), 5)  # past six hours
    async with state.pool.acquire() as con:
        await con.execute(
            "INSERT INTO votes (id, poll_id, option_ids, cast_at)"
            " VALUES ($1, $2, $3, now() - interval '10 hours')",
            uuid.uuid4(),
            poll["id"],
            [int(poll["options"][0]["id"])],
        )

    r = await anon.get(f"/dashboard/{poll['id']}/data?hours=12")
    assert r.status_code == 200
    data = r.json()
    minutes = dict(data["minutes"])
    assert sum(v for m, v in minutes.items() if m > now_minute - 5) == 3
    assert 1 in {v for m, v in minutes.items() if m < now_minute - 6 * 60}  # from the ledger
    assert data["articles"][:2] == [
        {"url": "https://news.example.vn/a", "votes": 2},
        {"url": "https://news.example.vn/b", "votes": 1},
    ]
    assert data["integrity"] is None
    # Minutes older than six hours are trimmed from Redis when read.
    assert await redis.hexists(minutes_key(poll["id"]), str(now_minute - 7 * 60)) == 0

    link = (await admin.post(f"/v1/admin/polls/{poll['id']}/dashboard-link")).json()
    key = link["url"].split("key=")[1]
    data = (await anon.get(f"/dashboard/{poll['id']}/data?key={key}")).json()
    assert data["integrity"]["accepted"] == 3
    assert (await anon.get(f"/dashboard/{poll['id']}/data?hours=99")).status_code == 400


async def test_site_dashboard_streams_every_open_poll(
    app: Any,
    anon: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    site: dict[str, Any],
    make_poll: PollMaker,
) -> None:
    first = await make_poll()
    second = await make_poll(question="Bạn có ủng hộ phố đi bộ?")
    hidden = await make_poll(question="Hidden question", results_visibility="never")
    await make_poll(open=False, question="Draft question")
    page = await anon.get(f"/dashboard/site/{site['slug']}?lang=en")
    assert page.status_code == 200 and 'lang="en"' in page.text
    assert first["question"] in page.text and second["question"] in page.text
    assert "Hidden question" not in page.text and "Draft question" not in page.text

    stream = await open_stream(app, f"/dashboard/site/{site['slug']}/stream")
    snaps = {(await stream.event()).json["poll_id"] for _ in range(2)}
    assert snaps == {first["id"], second["id"]}
    await vote(admin, second)
    update = await stream.event()
    assert update.name == "results" and update.json["poll_id"] == second["id"]
    await stream.close()

    r = await admin.post(f"/v1/admin/sites/{site['slug']}/dashboard-link")
    key = r.json()["url"].split("key=")[1]
    page = await anon.get(f"/dashboard/site/{site['slug']}?key={key}")
    assert "Hidden question" in page.text and "data-integrity" in page.text
    assert hidden["id"] in page.text


async def test_dashboard_assets(anon: httpx.AsyncClient) -> None:
    js = await anon.get("/dashboard/static/dashboard.js")
    assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
    assert "EventSource" in js.text
    assert (await anon.get("/dashboard/static/app.py")).status_code == 404


async def test_routes_are_in_the_openapi_document(anon: httpx.AsyncClient) -> None:
    paths = (await anon.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/polls/{poll_id}/results/stream",
        "/dashboard/{poll_id}",
        "/v1/admin/polls/{poll_id}/dashboard-link",
    ):
        assert path in paths
