"""core/http.py: JSON answers, the status of each error kind, and their shape."""

from __future__ import annotations

import httpx

from service.core import errors
from service.core.http import status_of
from tests.conftest import PollMaker


async def test_json_answers_end_with_a_newline(
    client: httpx.AsyncClient, admin: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll()
    option = poll["options"][0]["id"]
    answers = [
        await client.get("/healthz"),
        await client.get("/v1/polls/nosuchpoll"),  # an error answer
        await client.get(f"/v1/polls/{poll['id']}"),
        await client.post(f"/v1/polls/{poll['id']}/votes", json={"choices": [option]}),
        await client.get(f"/v1/polls/{poll['id']}/results"),
        await admin.get("/v1/admin/polls"),
    ]
    for answer in answers:
        assert answer.headers["content-type"].startswith("application/json"), answer.url
        assert answer.content.endswith(b"}\n"), answer.url


def test_every_error_kind_has_its_status() -> None:
    expected = {
        errors.BadRequest: 400,
        errors.Unauthorized: 401,
        errors.Forbidden: 403,
        errors.NotFound: 404,
        errors.Conflict: 409,
        errors.PayloadTooLarge: 413,
        errors.UnsupportedMediaType: 415,
        errors.RateLimited: 429,
        errors.Internal: 500,
        errors.NotSupported: 501,
        errors.Unavailable: 503,
    }
    for kind, status in expected.items():
        assert status_of(kind("x")) == status
    assert status_of(errors.ServiceError("x")) == 400
