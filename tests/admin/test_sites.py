"""Admin API for sites: create, list, read, update; checked values; every change audited."""

from __future__ import annotations

from typing import Any

import httpx
import pytest


async def _audit_rows(state: dict[str, Any], object_type: str = "site") -> list[Any]:
    return list(
        await state.pool.fetch(
            "SELECT * FROM audit_log WHERE object_type = $1 ORDER BY id", object_type
        )
    )


async def test_create_with_defaults(admin: httpx.AsyncClient, state: dict[str, Any]) -> None:
    r = await admin.post("/v1/admin/sites", json={"slug": "ba-dinh", "name": "Quận Ba Đình"})
    assert r.status_code == 201, r.text
    site = r.json()
    assert site["slug"] == "ba-dinh"
    assert site["name"] == "Quận Ba Đình"
    assert site["default_locale"] == "vi"
    assert site["allowed_origins"] == []
    assert site["require_widget_token"] is False
    assert site["rate_per_ip_per_minute"] == 10
    assert len(site["voter_secret"]) >= 32
    assert "id" not in site


async def test_create_normalises_origins_networks_and_theme(admin: httpx.AsyncClient) -> None:
    r = await admin.post(
        "/v1/admin/sites",
        json={
            "slug": "hk",
            "name": "HK",
            "allowed_origins": ["https://Portal.Example.VN/", "https://portal.example.vn"],
            "allowlisted_networks": ["203.0.113.7/24", "2001:db8::1/64"],
            "theme": {"accent": "#c00", "font": "Inter, sans-serif", "radius": "8", "mode": "dark"},
        },
    )
    assert r.status_code == 201, r.text
    site = r.json()
    assert site["allowed_origins"] == ["https://portal.example.vn"]
    assert site["allowlisted_networks"] == ["2001:db8::/64", "203.0.113.0/24"]
    assert site["theme"]["accent"] == "#c00"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"slug": "Hoan Kiem", "name": "x"}, "slug"),
        ({"slug": "-x", "name": "x"}, "slug"),
        ({"slug": "a" * 64, "name": "x"}, "slug"),
        ({"slug": "x", "name": ""}, "name"),
        ({"slug": "x", "name": "a\x07b"}, "name"),
        ({"slug": "x", "name": "n" * 201}, "name"),
        ({"slug": "x"}, "name"),
        ({"slug": "x", "name": "x", "allowed_origins": ["javascript:alert(1)"]}, "allowed_origins"),
        ({"slug": "x", "name": "x", "allowed_origins": ["https://a.vn/path"]}, "allowed_origins"),
        ({"slug": "x", "name": "x", "allowed_origins": ["https://u@a.vn"]}, "allowed_origins"),
        ({"slug": "x", "name": "x", "allowed_origins": ["https://a\x00b.vn"]}, "allowed_origins"),
        ({"slug": "x", "name": "x", "allowed_origins": ["https://[::1"]}, "allowed_origins"),
        ({"slug": "x", "name": "x", "allowlisted_networks": ["10.0.0.0/99"]}, None),
        ({"slug": "x", "name": "x", "theme": {"accent": "red;}"}}, "theme"),
        ({"slug": "x", "name": "x", "theme": {"background": "#fff"}}, "theme"),
        ({"slug": "x", "name": "x", "theme": {"radius": "999"}}, "theme"),
        ({"slug": "x", "name": "x", "theme": {"radius": "²"}}, "theme"),
        ({"slug": "x", "name": "x", "rate_per_ip_per_minute": 0}, "rate_per_ip_per_minute"),
        ({"slug": "x", "name": "x", "burst_per_network": 10**9}, "burst_per_network"),
        ({"slug": "x", "name": "x", "default_locale": "fr"}, "default_locale"),
        ({"slug": "x", "name": "x", "voter_secret": "mine"}, "voter_secret"),
    ],
)
async def test_create_refuses_bad_values_naming_the_field(
    admin: httpx.AsyncClient, state: dict[str, Any], body: dict[str, Any], field: str | None
) -> None:
    r = await admin.post("/v1/admin/sites", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid"
    if field is None:
        assert error["field"] == "allowlisted_networks"
    else:
        assert error["field"] == field
    assert await state.pool.fetchval("SELECT count(*) FROM sites") == 0


async def test_duplicate_slug_is_409(admin: httpx.AsyncClient, site: dict[str, Any]) -> None:
    r = await admin.post("/v1/admin/sites", json={"slug": site["slug"], "name": "again"})
    assert r.status_code == 409
    assert r.json()["error"] == {
        "code": "exists",
        "message": "site 'hoan-kiem' exists already",
        "field": "slug",
    }


async def test_list_and_read(admin: httpx.AsyncClient, site: dict[str, Any]) -> None:
    await admin.post("/v1/admin/sites", json={"slug": "a-first", "name": "A"})
    listed = (await admin.get("/v1/admin/sites")).json()["items"]
    assert [s["slug"] for s in listed] == ["a-first", "hoan-kiem"]
    r = await admin.get("/v1/admin/sites/hoan-kiem")
    assert r.status_code == 200
    assert r.json() == site
    assert (await admin.get("/v1/admin/sites/nope")).status_code == 404


async def test_update_changes_only_given_fields_and_audits(
    admin: httpx.AsyncClient, site: dict[str, Any], state: dict[str, Any]
) -> None:
    r = await admin.patch(
        "/v1/admin/sites/hoan-kiem",
        json={"name": "Hoàn Kiếm mới", "allowed_origins": [], "require_widget_token": True},
    )
    assert r.status_code == 200, r.text
    updated = r.json()
    assert updated["name"] == "Hoàn Kiếm mới"
    assert updated["allowed_origins"] == []
    assert updated["require_widget_token"] is True
    assert updated["rate_per_ip_per_minute"] == site["rate_per_ip_per_minute"]
    assert updated["voter_secret"] == site["voter_secret"]
    assert (await admin.get("/v1/admin/sites/hoan-kiem")).json() == updated

    rows = await _audit_rows(state)
    assert [r["action"] for r in rows] == ["create", "update"]
    last = rows[-1]
    assert last["object_id"] == "hoan-kiem"
    assert last["actor"].startswith("token:")
    assert last["token_id"] is not None
    assert last["at"] is not None
    assert last["before"]["name"] == "Hoàn Kiếm"
    assert last["after"]["name"] == "Hoàn Kiếm mới"
    # The voter-signing secret never goes to the audit log.
    for row in rows:
        for side in (row["before"], row["after"]):
            assert side is None or "voter_secret" not in side
    assert site["voter_secret"] not in str([dict(r) for r in rows])


async def test_rotate_voter_secret(admin: httpx.AsyncClient, site: dict[str, Any]) -> None:
    r = await admin.patch("/v1/admin/sites/hoan-kiem", json={"rotate_voter_secret": True})
    assert r.status_code == 200
    assert r.json()["voter_secret"] != site["voter_secret"]
    assert r.json()["name"] == site["name"]


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "renamed"},
        {"name": None},
        {"name": "\u200b"},
        {"theme": {"mode": "neon"}},
        {"allowed_origins": "https://a.vn"},
        {"rotate_voter_secret": "yes"},
    ],
)
async def test_update_refuses_bad_bodies(
    admin: httpx.AsyncClient, site: dict[str, Any], body: dict[str, Any]
) -> None:
    r = await admin.patch("/v1/admin/sites/hoan-kiem", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] is not None
    assert (await admin.get("/v1/admin/sites/hoan-kiem")).json() == site


async def test_an_empty_site_update_is_refused(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.patch(f"/v1/admin/sites/{site['slug']}", json={})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == "the body changes nothing"


async def test_origins_are_added_and_removed_without_dropping_the_others(
    admin: httpx.AsyncClient, site: dict[str, Any], state: Any
) -> None:
    slug = site["slug"]
    first = await admin.patch(
        f"/v1/admin/sites/{slug}", json={"allowed_origins": ["https://a.example.vn"]}
    )
    assert first.json()["allowed_origins"] == ["https://a.example.vn"]
    added = await admin.patch(
        f"/v1/admin/sites/{slug}", json={"add_origins": ["https://B.example.vn/"]}
    )
    assert added.status_code == 200, added.text
    assert added.json()["allowed_origins"] == ["https://a.example.vn", "https://b.example.vn"]
    removed = await admin.patch(
        f"/v1/admin/sites/{slug}",
        json={"remove_origins": ["https://a.example.vn"], "add_origins": ["http://c.vn:8080"]},
    )
    assert removed.json()["allowed_origins"] == ["http://c.vn:8080", "https://b.example.vn"]
    both = await admin.patch(
        f"/v1/admin/sites/{slug}",
        json={"allowed_origins": [], "add_origins": ["https://d.vn"]},
    )
    assert both.status_code == 400 and both.json()["error"]["field"] == "allowed_origins"
    audited = await state.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE object_type = 'site' AND action = 'update'"
    )
    assert audited == 3


@pytest.mark.parametrize(
    "origin", ["https://*.vn", "https://*", "https://a b.vn", "https://[x", "https://a.vn:99999"]
)
async def test_origins_that_can_never_match_are_refused(
    admin: httpx.AsyncClient, site: dict[str, Any], origin: str
) -> None:
    r = await admin.patch(f"/v1/admin/sites/{site['slug']}", json={"add_origins": [origin]})
    assert r.status_code == 400, r.text
    assert r.json()["error"]["field"] == "allowed_origins"


async def test_an_international_origin_is_stored_as_browsers_send_it(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.patch(
        f"/v1/admin/sites/{site['slug']}", json={"allowed_origins": ["https://bü.vn"]}
    )
    assert r.status_code == 200, r.text
    assert r.json()["allowed_origins"] == ["https://xn--b-eha.vn"]


async def test_network_rates_stay_within_what_the_limiter_counts(
    admin: httpx.AsyncClient, site: dict[str, Any]
) -> None:
    r = await admin.patch(
        f"/v1/admin/sites/{site['slug']}", json={"rate_per_network_per_minute": 60_001}
    )
    assert r.status_code == 400
    assert r.json()["error"]["field"] == "rate_per_network_per_minute"
