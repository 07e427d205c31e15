"""The hot lane (votes, embed page, results) answers exactly as the router would, and
leaves every other method and shape of path to the router."""

from __future__ import annotations

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Router
from starlette.types import Receive, Scope, Send

from service.server.hotlane import HotRoute
from tests.conftest import PollMaker


async def test_hot_routes_keep_the_common_headers(client: httpx.AsyncClient, make_poll: PollMaker):
    poll = await make_poll()
    results = await client.get(f"/v1/polls/{poll['id']}/results")
    assert results.status_code == 200
    assert results.headers["x-content-type-options"] == "nosniff"
    assert "frame-ancestors 'none'" in results.headers["content-security-policy"]
    assert len(results.headers["x-request-id"]) >= 8
    page = await client.get(f"/embed/{poll['id']}")
    assert page.status_code == 200
    assert "frame-ancestors" in page.headers["content-security-policy"]
    assert "'none'" not in page.headers["content-security-policy"].split("frame-ancestors")[1]


async def test_other_methods_and_paths_go_to_the_router(
    client: httpx.AsyncClient, make_poll: PollMaker
):
    poll = await make_poll()
    head = await client.head(f"/v1/polls/{poll['id']}/results")
    assert head.status_code == 200
    assert head.headers["etag"]
    wrong = await client.post(f"/v1/polls/{poll['id']}/results")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"
    get_votes = await client.get(f"/v1/polls/{poll['id']}/votes")
    assert get_votes.status_code == 405
    # "results" is a poll id here, not the results route: an unknown poll.
    assert (await client.get("/v1/polls/results")).json()["error"]["code"] == "not_found"
    for path in ("/embed/", "/v1/polls//results", f"/v1/polls/{poll['id']}/x/results"):
        answer = await client.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["error"]["code"] == "not_found"


async def test_errors_on_the_hot_lane_are_json(client: httpx.AsyncClient):
    missing = await client.get("/v1/polls/nosuchpoll/results")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    bad = await client.post("/v1/polls/nosuchpoll/votes", content=b"{", headers={})
    assert bad.status_code == 404
    assert bad.headers["content-type"] == "application/json"


async def test_hot_routes_never_reach_the_router(
    client: httpx.AsyncClient, make_poll: PollMaker, monkeypatch: pytest.MonkeyPatch
):
    poll = await make_poll()
    routed: list[str] = []
    dispatch = Router.__call__

    async def counting(self: Router, scope: Scope, receive: Receive, send: Send) -> None:
        routed.append(f"{scope['method']} {scope['path']}")
        await dispatch(self, scope, receive, send)

    monkeypatch.setattr(Router, "__call__", counting)
    option = poll["options"][0]["id"]
    assert (await client.get(f"/v1/polls/{poll['id']}/results")).status_code == 200
    assert (await client.get(f"/embed/{poll['id']}")).status_code == 200
    vote = await client.post(f"/v1/polls/{poll['id']}/votes", json={"choices": [option]})
    assert vote.status_code == 201
    assert routed == []
    # The same paths with other methods, and other routes, go through the router.
    assert (await client.head(f"/v1/polls/{poll['id']}/results")).status_code == 200
    assert (await client.get(f"/v1/polls/{poll['id']}")).status_code == 200
    assert routed == [f"HEAD /v1/polls/{poll['id']}/results", f"GET /v1/polls/{poll['id']}"]


def test_a_hot_route_takes_exactly_one_poll_id() -> None:
    async def endpoint(request: Request) -> Response:
        raise AssertionError("never called")

    for path in ("/v1/polls", "/v1/{site}/{poll_id}"):
        with pytest.raises(ValueError, match="exactly one"):
            HotRoute(path, endpoint, method="GET")
