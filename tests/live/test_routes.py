"""The live results route (service/live/routes.py): it obeys the results visibility (tokens,
signed keys, the voter's cookie) and is in the OpenAPI document."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from service.identity.links import view_key

from .sse import PollMaker, TokenMaker, open_stream, stream_path


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

    expired = view_key(b"x" * 40, f"poll:{poll['id']}", int(time.time()) + 60, 1)
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


async def test_routes_are_in_the_openapi_document(anon: httpx.AsyncClient) -> None:
    paths = (await anon.get("/openapi.json")).json()["paths"]
    for path in (
        "/v1/polls/{poll_id}/results/stream",
        "/dashboard/{poll_id}",
        "/v1/admin/polls/{poll_id}/dashboard-link",
    ):
        assert path in paths
