"""Admin authentication: Bearer tokens, scopes, site isolation, stored as keyed hashes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from service.core.errors import Forbidden, NotFound
from service.core.settings import Settings
from service.identity.principal import Principal, hash_token

TokenMaker = Callable[..., Awaitable[str]]
PollMaker = Callable[..., Awaitable[dict[str, Any]]]

# Every admin route with a body good enough to get past parsing once authorised.
ADMIN_ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/admin/sites", {"slug": "x", "name": "X"}),
    ("GET", "/v1/admin/sites", None),
    ("GET", "/v1/admin/sites/hoan-kiem", None),
    ("PATCH", "/v1/admin/sites/hoan-kiem", {"name": "X"}),
    ("POST", "/v1/admin/polls", {"site": "hoan-kiem", "question": "Q", "options": ["a", "b"]}),
    ("GET", "/v1/admin/polls", None),
    ("GET", "/v1/admin/polls/{id}", None),
    ("PATCH", "/v1/admin/polls/{id}", {"question": "Q2"}),
    ("DELETE", "/v1/admin/polls/{id}", None),
    ("POST", "/v1/admin/polls/{id}/open", None),
    ("POST", "/v1/admin/polls/{id}/close", None),
    ("POST", "/v1/admin/polls/{id}/archive", None),
    ("GET", "/v1/admin/polls/{id}/results", None),
    ("GET", "/v1/admin/polls/{id}/integrity", None),
    ("GET", "/v1/admin/polls/{id}/audit", None),
    ("GET", "/v1/admin/polls/{id}/export", None),
]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    headers: dict[str, str],
) -> httpx.Response:
    return await client.request(method, path, json=body, headers=headers)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "cp_abc",
        "Bearer cp_not-a-real-token",
        "Bearer cp_" + "x" * 5000,
        "Bearer not-our-prefix",
    ],
)
async def test_missing_or_bad_token_is_401(
    client: httpx.AsyncClient, poll_id_any: str, header: str | None
) -> None:
    client.headers.pop("Authorization", None)
    headers = {} if header is None else {"Authorization": header}
    for method, path, body in ADMIN_ROUTES:
        r = await _call(client, method, path.format(id=poll_id_any), body, headers)
        assert r.status_code == 401, (method, path, r.text)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["error"]["code"] in ("unauthorized", "invalid_token")


@pytest.fixture
async def poll_id_any(make_poll: PollMaker) -> str:
    """The id of an open poll on site hoan-kiem."""
    return str((await make_poll())["id"])


async def test_revoked_token_is_401(
    client: httpx.AsyncClient, make_token: TokenMaker, state: dict[str, Any]
) -> None:
    token = await make_token(["sites:admin"])
    assert (await client.get("/v1/admin/sites", headers=_auth(token))).status_code == 200
    await state.pool.execute("UPDATE api_tokens SET revoked_at = now()")
    r = await client.get("/v1/admin/sites", headers=_auth(token))
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "invalid_token"


async def test_token_from_another_secret_key_is_401(
    client: httpx.AsyncClient, make_token: TokenMaker, state: dict[str, Any], settings: Settings
) -> None:
    token = await make_token(["sites:admin"])
    # Rewrite the stored hash as if another deployment (another SECRET_KEY) made it.
    await state.pool.execute(
        "UPDATE api_tokens SET token_hash = $1", hash_token(b"another-key" * 4, token)
    )
    assert (await client.get("/v1/admin/sites", headers=_auth(token))).status_code == 401


async def test_scheme_is_case_insensitive(
    client: httpx.AsyncClient, make_token: TokenMaker
) -> None:
    token = await make_token(["sites:admin"])
    r = await client.get("/v1/admin/sites", headers={"Authorization": f"bearer {token}"})
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("scopes", "allowed"),
    [
        (["polls:read"], {"GET /v1/admin/polls", "GET /v1/admin/polls/{id}"}),
        (
            ["polls:write"],
            {
                "POST /v1/admin/polls",
                "PATCH /v1/admin/polls/{id}",
                "DELETE /v1/admin/polls/{id}",
                "POST /v1/admin/polls/{id}/open",
                "POST /v1/admin/polls/{id}/close",
                "POST /v1/admin/polls/{id}/archive",
            },
        ),
        (
            ["sites:admin"],
            {
                "POST /v1/admin/sites",
                "GET /v1/admin/sites",
                "GET /v1/admin/sites/hoan-kiem",
                "PATCH /v1/admin/sites/hoan-kiem",
            },
        ),
    ],
)
async def test_a_missing_scope_is_403(
    client: httpx.AsyncClient,
    make_token: TokenMaker,
    poll_id_any: str,
    scopes: list[str],
    allowed: set[str],
) -> None:
    client.headers.pop("Authorization", None)
    token = await make_token(scopes)
    reports = {"results", "integrity", "audit", "export"}
    for method, path, body in ADMIN_ROUTES:
        key = f"{method} {path}"
        r = await _call(client, method, path.format(id=poll_id_any), body, _auth(token))
        permitted = key in allowed or (
            scopes == ["polls:read"] and path.rsplit("/", 1)[-1] in reports
        )
        if permitted:
            assert r.status_code not in (401, 403), (key, r.text)
        else:
            assert r.status_code == 403, (key, r.text)
            error = r.json()["error"]
            assert error["code"] == "missing_scope"
            assert ":" in error["message"]


async def test_site_token_sees_only_its_site(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    make_token: TokenMaker,
    make_poll: PollMaker,
) -> None:
    r = await admin.post("/v1/admin/sites", json={"slug": "ba-dinh", "name": "Ba Đình"})
    assert r.status_code == 201
    mine = await make_poll()
    theirs_r = await admin.post(
        "/v1/admin/polls", json={"site": "ba-dinh", "question": "Q?", "options": ["a", "b"]}
    )
    theirs = theirs_r.json()
    token = await make_token(["polls:read", "polls:write", "sites:admin"], site="hoan-kiem")
    # `client` may share its headers with `admin`: drop the admin token, keep its value.
    admin_header = {"Authorization": admin.headers["Authorization"]}
    client.headers.pop("Authorization", None)
    h = _auth(token)

    assert (await client.get(f"/v1/admin/polls/{mine['id']}", headers=h)).status_code == 200
    listed = (await client.get("/v1/admin/polls", headers=h)).json()["items"]
    assert [p["id"] for p in listed] == [mine["id"]]
    sites = (await client.get("/v1/admin/sites", headers=h)).json()["items"]
    assert [s["slug"] for s in sites] == ["hoan-kiem"]

    # Another site's poll answers exactly like a poll that does not exist.
    missing = await client.get("/v1/admin/polls/nosuchpoll", headers=h)
    assert missing.status_code == 404
    for method, path, body in ADMIN_ROUTES:
        if "{id}" not in path:
            continue
        r = await _call(client, method, path.format(id=theirs["id"]), body, h)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json() == missing.json()
        assert theirs["question"] not in r.text
    for method, path in (("GET", "/v1/admin/sites/ba-dinh"), ("PATCH", "/v1/admin/sites/ba-dinh")):
        r = await _call(client, method, path, {"name": "x"} if method == "PATCH" else None, h)
        assert r.status_code == 404
    r = await client.post(
        "/v1/admin/polls",
        headers=h,
        json={"site": "ba-dinh", "question": "Q", "options": ["a", "b"]},
    )
    assert r.status_code == 404
    assert r.json()["error"]["field"] == "site"
    r = await client.get("/v1/admin/polls?site=ba-dinh", headers=h)
    assert r.status_code == 404
    # A site token cannot make new sites.
    r = await client.post("/v1/admin/sites", headers=h, json={"slug": "new", "name": "New"})
    assert r.status_code == 404
    # Nothing changed on the other site.
    after = await admin.get(f"/v1/admin/polls/{theirs['id']}", headers=admin_header)
    assert after.json()["status"] == "draft"


async def test_token_use_is_recorded_and_only_a_hash_is_kept(
    client: httpx.AsyncClient, make_token: TokenMaker, state: dict[str, Any], settings: Settings
) -> None:
    token = await make_token(["sites:admin"])
    row = await state.pool.fetchrow("SELECT * FROM api_tokens")
    assert row["last_used_at"] is None
    assert token not in [str(v) for v in row.values()]
    assert row["token_hash"] == hash_token(settings.secret_key, token)
    await client.get("/v1/admin/sites", headers=_auth(token))
    assert await state.pool.fetchval("SELECT last_used_at FROM api_tokens") is not None


def test_principal_rules() -> None:
    everywhere = Principal(1, frozenset({"polls:read"}), None)
    everywhere.require("polls:read")
    everywhere.check_site(42)
    with pytest.raises(Forbidden):
        everywhere.require("polls:write")
    one_site = Principal.for_token(2, frozenset({"polls:read"}), 7)
    one_site.check_site(7)
    with pytest.raises(NotFound):
        one_site.check_site(8)
    assert one_site.actor == "token:2"
    assert one_site.site_id == 7 and one_site.site_list == [7] and not one_site.all_sites


def test_a_person_acts_on_their_sites_as_themselves() -> None:
    person = Principal(None, frozenset({"polls:read"}), frozenset({3, 5}), user_id=9)
    assert person.actor == "user:9" and person.site_list == [3, 5]
    assert person.sees(5) and not person.sees(4)
    with pytest.raises(TypeError):  # several sites: code asking for one must not guess
        _ = person.site_id
    assert Principal(None, frozenset(), None).actor == "cli"
