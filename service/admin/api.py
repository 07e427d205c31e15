"""Admin API: sites and polls, behind scoped Bearer tokens, every change audited."""

from __future__ import annotations

import base64
import ipaddress
import re
import secrets
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import asyncpg
import msgspec
from msgspec import UNSET, UnsetType
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from service.admin.auth import Principal, require_scope
from service.core.errors import BadRequest, Conflict, NotFound
from service.core.http import json_response
from service.core.validation import clean_text, read_json
from service.polls.access import checked_poll_id as _checked_poll_id
from service.polls.access import poll_for
from service.polls.cache import ALL
from service.polls.model import Poll, looks_like_poll_id, new_poll_id
from service.polls.store import SITE_COLUMNS, insert_options, load_poll
from service.services import services
from service.storage.db import Conn, audit
from service.voting.keys import drop_poll_keys
from service.widget.theme import check_theme

Locale = Literal["vi", "en"]
Kind = Literal["single", "multiple"]
Visibility = Literal["always", "after_vote", "after_close", "never"]
DedupeMode = Literal["none", "cookie", "ip", "cookie_ip", "verified"]

MAX_OPTIONS = 20
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


# ---------------------------------------------------------------- bodies


class SiteCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: str
    name: str
    allowed_origins: list[str] = []
    default_locale: Locale = "vi"
    rate_per_ip_per_minute: int = 10
    burst_per_ip: int = 5
    rate_per_network_per_minute: int = 300
    burst_per_network: int = 100
    allowlisted_networks: list[str] = []
    require_widget_token: bool = False
    theme: dict[str, str] = {}


class SiteUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    allowed_origins: list[str] | UnsetType = UNSET
    default_locale: Locale | UnsetType = UNSET
    rate_per_ip_per_minute: int | UnsetType = UNSET
    burst_per_ip: int | UnsetType = UNSET
    rate_per_network_per_minute: int | UnsetType = UNSET
    burst_per_network: int | UnsetType = UNSET
    allowlisted_networks: list[str] | UnsetType = UNSET
    require_widget_token: bool | UnsetType = UNSET
    theme: dict[str, str] | UnsetType = UNSET
    rotate_voter_secret: bool = False


class PollCreate(msgspec.Struct, forbid_unknown_fields=True):
    site: str
    question: str
    options: list[str]
    description: str = ""
    kind: Kind = "single"
    min_choices: int | None = None
    max_choices: int | None = None
    locale: Locale | None = None
    results_visibility: Visibility = "always"
    dedupe_mode: DedupeMode = "cookie"
    dedupe_window_hours: int = 24
    opens_at: datetime | None = None
    closes_at: datetime | None = None


class PollUpdate(msgspec.Struct, forbid_unknown_fields=True):
    question: str | UnsetType = UNSET
    options: list[str] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    kind: Kind | UnsetType = UNSET
    min_choices: int | UnsetType | None = UNSET
    max_choices: int | UnsetType | None = UNSET
    locale: Locale | UnsetType = UNSET
    results_visibility: Visibility | UnsetType = UNSET
    dedupe_mode: DedupeMode | UnsetType = UNSET
    dedupe_window_hours: int | UnsetType = UNSET
    opens_at: datetime | UnsetType | None = UNSET
    closes_at: datetime | UnsetType | None = UNSET


# Fields an editor may still change once people have voted: none of them changes
# what a voter answered or how a vote was counted.
SAFE_AFTER_VOTES = frozenset({"description", "closes_at", "results_visibility", "locale"})


# ---------------------------------------------------------------- checks


def _int_in(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise BadRequest(f"{field} must be between {low} and {high}", field=field)
    return value


def _origins(values: list[str]) -> list[str]:
    if len(values) > 50:
        raise BadRequest("at most 50 allowed origins", field="allowed_origins")
    out = []
    for value in values:
        try:
            parts = urlsplit(value)
        except ValueError:  # an unclosed IPv6 bracket
            parts = urlsplit("")
        if (
            not value.isprintable()
            or " " in value
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username
            or len(value) > 200
        ):
            raise BadRequest(
                f"{value!r} is not an origin like https://news.example.vn",
                field="allowed_origins",
            )
        out.append(f"{parts.scheme}://{parts.netloc.lower()}")
    return sorted(set(out))


def _networks(values: list[str]) -> list[str]:
    if len(values) > 100:
        raise BadRequest("at most 100 allowlisted networks", field="allowlisted_networks")
    try:
        return sorted({str(ipaddress.ip_network(v, strict=False)) for v in values})
    except ValueError:
        raise BadRequest(
            "allowlisted_networks must hold CIDR networks like 203.0.113.0/24",
            field="allowlisted_networks",
        ) from None


def _options(labels: list[str]) -> list[str]:
    if not 2 <= len(labels) <= MAX_OPTIONS:
        raise BadRequest(f"a poll needs 2 to {MAX_OPTIONS} options", field="options")
    cleaned = [clean_text(label, "options", max_len=200) for label in labels]
    if len(set(cleaned)) != len(cleaned):
        raise BadRequest("options must differ from one another", field="options")
    return cleaned


def _choice_bounds(kind: str, low: int | None, high: int | None, n_options: int) -> tuple[int, int]:
    if kind == "single":
        if low not in (None, 1) or high not in (None, 1):
            raise BadRequest("a single-choice poll takes exactly one choice", field="max_choices")
        return 1, 1
    low = 1 if low is None else low
    high = n_options if high is None else high
    if not 1 <= low <= n_options:
        raise BadRequest(f"min_choices must be between 1 and {n_options}", field="min_choices")
    if not low <= high <= n_options:
        raise BadRequest(f"max_choices must be between {low} and {n_options}", field="max_choices")
    return low, high


def _window(opens_at: datetime | None, closes_at: datetime | None) -> None:
    for name, value in (("opens_at", opens_at), ("closes_at", closes_at)):
        if value is None:
            continue
        if value.tzinfo is None:
            raise BadRequest(
                f"{name} needs a time zone, e.g. 2026-12-01T08:00:00+07:00", field=name
            )
        try:
            # 0001-01-01T00:00+14:00 is a valid datetime but has no UTC equivalent.
            value.astimezone(UTC)
        except OverflowError:
            raise BadRequest(f"{name} is out of range", field=name) from None
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise BadRequest("closes_at must be after opens_at", field="closes_at")


# ---------------------------------------------------------------- views


def site_view(row: asyncpg.Record) -> dict[str, Any]:
    view = {key: row[key] for key in SITE_COLUMNS.replace(" ", "").split(",")}
    view["allowlisted_networks"] = [str(n) for n in row["allowlisted_networks"]]
    view.pop("id")
    return view


def poll_view(poll: Poll, public_url: str) -> dict[str, Any]:
    view = poll.public_view(datetime.now(UTC))
    view.update(
        status=poll.status,
        phase=view["status"],
        dedupe_mode=poll.dedupe_mode,
        dedupe_window_hours=poll.dedupe_window_hours,
        created_at=poll.created_at,
        updated_at=poll.updated_at,
        embed={
            "url": f"{public_url}/embed/{poll.id}",
            "snippet": (
                f'<div data-civicpoll="{poll.id}"></div>'
                f'<script async src="{public_url}/widget.js"></script>'
            ),
            "iframe": (
                f'<iframe src="{public_url}/embed/{poll.id}" title="{_attr(poll.question)}"'
                ' loading="lazy" style="width:100%;border:0;min-height:320px"></iframe>'
            ),
        },
    )
    return view


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


# ---------------------------------------------------------------- helpers


async def _site_row(con: Conn, slug: str, principal: Principal) -> asyncpg.Record:
    # A slug that cannot exist never reaches PostgreSQL (which refuses NUL bytes).
    row = None
    if _SLUG.match(slug):
        row = await con.fetchrow(f"SELECT {SITE_COLUMNS} FROM sites WHERE slug = $1", slug)
    # Another site's answer must be word for word that of a missing one.
    if row is None or not principal.sees(row["id"]):
        raise NotFound(f"no site {slug!r}", field="site")
    return row


async def _has_votes(con: Conn, poll_id: str) -> bool:
    found: bool = await con.fetchval(
        "SELECT EXISTS (SELECT 1 FROM votes WHERE poll_id = $1)", poll_id
    )
    return found


async def _forget_poll(request: Request, poll_id: str) -> None:
    await services(request).polls.announce(poll_id)


# ---------------------------------------------------------------- sites


async def create_site(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    if principal.site_id is not None:
        raise NotFound("no such route for a site-scoped token")
    body = await read_json(request, SiteCreate)
    if not _SLUG.match(body.slug):
        raise BadRequest("slug must be lowercase letters, digits and dashes (max 63)", field="slug")
    values = _site_values(body)
    async with services(request).pool.acquire() as con, con.transaction():
        try:
            row = await con.fetchrow(
                "INSERT INTO sites (slug, name, allowed_origins, default_locale, voter_secret,"
                " rate_per_ip_per_minute, burst_per_ip, rate_per_network_per_minute,"
                " burst_per_network, allowlisted_networks, require_widget_token, theme)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::cidr[], $11, $12)"
                f" RETURNING {SITE_COLUMNS}",
                body.slug,
                values["name"],
                values["allowed_origins"],
                values["default_locale"],
                secrets.token_urlsafe(32),
                values["rate_per_ip_per_minute"],
                values["burst_per_ip"],
                values["rate_per_network_per_minute"],
                values["burst_per_network"],
                values["allowlisted_networks"],
                values["require_widget_token"],
                values["theme"],
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(
                f"site {body.slug!r} exists already", field="slug", code="exists"
            ) from None
        assert row is not None  # INSERT ... RETURNING gives the row
        view = site_view(row)
        await audit(
            con,
            token_id=principal.token_id,
            actor=principal.actor,
            action="create",
            object_type="site",
            object_id=body.slug,
            after=_no_secret(view),
        )
    return json_response(view, 201)


def _site_values(body: SiteCreate | SiteUpdate) -> dict[str, Any]:
    """The checked values of every field the body sets."""
    out: dict[str, Any] = {}
    if body.name is not UNSET:
        out["name"] = clean_text(body.name, "name", max_len=200)
    if body.allowed_origins is not UNSET:
        out["allowed_origins"] = _origins(body.allowed_origins)
    if body.default_locale is not UNSET:
        out["default_locale"] = body.default_locale
    for field, high in (
        ("rate_per_ip_per_minute", 10_000),
        ("burst_per_ip", 10_000),
        ("rate_per_network_per_minute", 100_000),
        ("burst_per_network", 100_000),
    ):
        value = getattr(body, field)
        if value is not UNSET:
            out[field] = _int_in(value, field, 1, high)
    if body.allowlisted_networks is not UNSET:
        out["allowlisted_networks"] = _networks(body.allowlisted_networks)
    if body.require_widget_token is not UNSET:
        out["require_widget_token"] = body.require_widget_token
    if body.theme is not UNSET:
        out["theme"] = check_theme(body.theme)
    return out


def _no_secret(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "voter_secret"}


async def list_sites(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    rows = await services(request).pool.fetch(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE $1::bigint IS NULL OR id = $1 ORDER BY slug",
        principal.site_id,
    )
    return json_response({"items": [site_view(r) for r in rows]})


async def get_site(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    async with services(request).pool.acquire() as con:
        row = await _site_row(con, request.path_params["slug"], principal)
    return json_response(site_view(row))


async def update_site(request: Request) -> Response:
    principal = await require_scope(request, "sites:admin")
    body = await read_json(request, SiteUpdate)
    values = _site_values(body)
    if not values and not body.rotate_voter_secret:
        raise BadRequest("the body changes nothing")
    async with services(request).pool.acquire() as con, con.transaction():
        before = await _site_row(con, request.path_params["slug"], principal)
        if body.rotate_voter_secret:
            values["voter_secret"] = secrets.token_urlsafe(32)
        row = before
        if values:
            sets = ", ".join(
                f"{k} = ${i}::cidr[]" if k == "allowlisted_networks" else f"{k} = ${i}"
                for i, k in enumerate(values, start=2)
            )
            updated = await con.fetchrow(
                f"UPDATE sites SET {sets}, updated_at = now() WHERE id = $1"
                f" RETURNING {SITE_COLUMNS}",
                before["id"],
                *values.values(),
            )
            assert updated is not None  # the row is locked by this transaction's read
            row = updated
        view = site_view(row)
        await audit(
            con,
            token_id=principal.token_id,
            actor=principal.actor,
            action="update",
            object_type="site",
            object_id=before["slug"],
            before=_no_secret(site_view(before)),
            after=_no_secret(view),
        )
    await services(request).polls.announce(ALL)
    return json_response(view)


# ---------------------------------------------------------------- polls


async def create_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    body = await read_json(request, PollCreate)
    question = clean_text(body.question, "question", max_len=500)
    description = clean_text(
        body.description, "description", max_len=2000, min_len=0, multiline=True
    )
    options = _options(body.options)
    low, high = _choice_bounds(body.kind, body.min_choices, body.max_choices, len(options))
    _int_in(body.dedupe_window_hours, "dedupe_window_hours", 1, 8760)
    _window(body.opens_at, body.closes_at)
    async with services(request).pool.acquire() as con, con.transaction():
        site = await _site_row(con, body.site, principal)
        poll_id = new_poll_id()
        await con.execute(
            "INSERT INTO polls (id, site_id, question, description, kind, min_choices,"
            " max_choices, locale, results_visibility, dedupe_mode, dedupe_window_hours,"
            " opens_at, closes_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            poll_id,
            site["id"],
            question,
            description,
            body.kind,
            low,
            high,
            body.locale or site["default_locale"],
            body.results_visibility,
            body.dedupe_mode,
            body.dedupe_window_hours,
            body.opens_at,
            body.closes_at,
        )
        await insert_options(con, poll_id, options)
        poll = await load_poll(con, poll_id)
        assert poll is not None
        view = poll_view(poll, services(request).settings.public_url)
        await audit(
            con,
            token_id=principal.token_id,
            actor=principal.actor,
            action="create",
            object_type="poll",
            object_id=poll_id,
            after=_audit_view(view),
        )
    await _forget_poll(request, poll_id)
    return json_response(view, 201, headers={"Location": f"/v1/admin/polls/{poll_id}"})


def _audit_view(view: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in view.items() if k != "embed"}


async def list_polls(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    query = request.query_params
    unknown = set(query) - {"site", "status", "limit", "cursor"}
    if unknown:
        raise BadRequest(
            f"unknown query parameter {sorted(unknown)[0]!r}", field=sorted(unknown)[0]
        )
    limit = _query_int(query.get("limit"), "limit", 20, 1, 100)
    status = query.get("status")
    if status is not None and status not in ("draft", "open", "closed", "archived"):
        raise BadRequest("status must be draft, open, closed or archived", field="status")
    cursor_at, cursor_id = _decode_cursor(query.get("cursor"))
    async with services(request).pool.acquire() as con:
        site_id = None
        if "site" in query:
            site_id = (await _site_row(con, query["site"], principal))["id"]
        ids = await con.fetch(
            "SELECT id, created_at FROM polls"
            " WHERE ($1::bigint IS NULL OR site_id = $1) AND ($2::bigint IS NULL OR site_id = $2)"
            " AND ($3::text IS NULL OR status = $3)"
            " AND ($4::timestamptz IS NULL OR (created_at, id) < ($4, $5))"
            " ORDER BY created_at DESC, id DESC LIMIT $6",
            principal.site_id,
            site_id,
            status,
            cursor_at,
            cursor_id,
            limit + 1,
        )
        items = []
        for row in ids[:limit]:
            poll = await load_poll(con, row["id"])
            if poll is not None:
                items.append(poll_view(poll, services(request).settings.public_url))
    next_cursor = None
    if len(ids) > limit:
        last = ids[limit - 1]
        raw = f"{last['created_at'].isoformat()}|{last['id']}".encode()
        next_cursor = base64.urlsafe_b64encode(raw).decode()
    return json_response({"items": items, "next_cursor": next_cursor})


def _query_int(raw: str | None, field: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    # isdigit() alone lets "²" through, and int() refuses digit strings over 4300 long.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadRequest(f"{field} must be a whole number", field=field)
    return _int_in(int(raw), field, low, high)


def _decode_cursor(raw: str | None) -> tuple[datetime | None, str | None]:
    if raw is None:
        return None, None
    poll_id = ""
    try:
        at, _, poll_id = base64.urlsafe_b64decode(raw.encode()).decode().partition("|")
        created_at = datetime.fromisoformat(at)
    except ValueError:
        created_at = None
    # A forged cursor must not reach PostgreSQL with a NUL byte or a naive time.
    if created_at is None or created_at.tzinfo is None or not looks_like_poll_id(poll_id):
        raise BadRequest("cursor is not one this API gave out", field="cursor")
    return created_at, poll_id


async def get_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:read")
    async with services(request).pool.acquire() as con:
        poll = await poll_for(con, request.path_params["poll_id"], principal)
    return json_response(poll_view(poll, services(request).settings.public_url))


async def update_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    body = await read_json(request, PollUpdate)
    given = {f: getattr(body, f) for f in body.__struct_fields__ if getattr(body, f) is not UNSET}
    if not given:
        raise BadRequest("the body changes nothing")
    poll_id = _checked_poll_id(request.path_params["poll_id"])
    async with services(request).pool.acquire() as con, con.transaction():
        await con.execute("SELECT 1 FROM polls WHERE id = $1 FOR UPDATE", poll_id)
        poll = await poll_for(con, poll_id, principal)
        if poll.status == "archived":
            raise Conflict("an archived poll cannot change", code="archived")
        if await _has_votes(con, poll_id):
            # Sending a field's current value back (a client that PATCHes its whole form)
            # changes nothing, so only real changes count against the lock.
            current = {
                "kind": poll.kind,
                "min_choices": poll.min_choices,
                "max_choices": poll.max_choices,
                "question": poll.question,
                "dedupe_mode": poll.dedupe_mode,
                "dedupe_window_hours": poll.dedupe_window_hours,
                "opens_at": poll.opens_at,
                "options": [o.label for o in poll.options],
            }
            for field in [f for f in given if f in current and given[f] == current[f]]:
                del given[field]  # rewriting an equal value (options!) must not happen
            locked = sorted(set(given) - SAFE_AFTER_VOTES)
            if locked:
                raise Conflict(
                    f"{locked[0]} cannot change once votes exist"
                    f" (still editable: {', '.join(sorted(SAFE_AFTER_VOTES))})",
                    field=locked[0],
                    code="has_votes",
                )
            if not given:  # nothing differs: nothing to write, nothing to audit
                return json_response(poll_view(poll, services(request).settings.public_url))
        before = poll_view(poll, services(request).settings.public_url)
        values = _poll_values(given, poll)
        options = values.pop("options", None)
        if values:
            sets = ", ".join(f"{k} = ${i}" for i, k in enumerate(values, start=2))
            await con.execute(
                f"UPDATE polls SET {sets}, updated_at = now() WHERE id = $1",
                poll_id,
                *values.values(),
            )
        if options is not None:
            await con.execute("DELETE FROM poll_options WHERE poll_id = $1", poll_id)
            await insert_options(con, poll_id, options)
            await con.execute("UPDATE polls SET updated_at = now() WHERE id = $1", poll_id)
        updated = await load_poll(con, poll_id)
        assert updated is not None
        view = poll_view(updated, services(request).settings.public_url)
        await audit(
            con,
            token_id=principal.token_id,
            actor=principal.actor,
            action="update",
            object_type="poll",
            object_id=poll_id,
            before=_audit_view(before),
            after=_audit_view(view),
        )
    await _forget_poll(request, poll_id)
    return json_response(view)


def _poll_values(given: dict[str, Any], poll: Poll) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if "question" in given:
        values["question"] = clean_text(given["question"], "question", max_len=500)
    if "description" in given:
        values["description"] = clean_text(
            given["description"], "description", max_len=2000, min_len=0, multiline=True
        )
    if "options" in given:
        values["options"] = _options(given["options"])
    for key in ("locale", "results_visibility", "dedupe_mode"):
        if key in given:
            values[key] = given[key]
    if "dedupe_window_hours" in given:
        values["dedupe_window_hours"] = _int_in(
            given["dedupe_window_hours"], "dedupe_window_hours", 1, 8760
        )
    kind = given.get("kind", poll.kind)
    n_options = len(values.get("options", poll.options))
    if {"kind", "min_choices", "max_choices", "options"} & set(given):
        # Bounds carry over only from a poll that was multiple-choice already: a single
        # choice poll's 1..1 would make the new multiple-choice poll single in all but name.
        keep = kind == "multiple" and poll.kind == "multiple"
        low = given.get("min_choices", poll.min_choices if keep else None)
        high = given.get("max_choices", poll.max_choices if keep else None)
        if kind == "multiple" and "options" in given and "max_choices" not in given:
            high = min(high or n_options, n_options)
        values["kind"] = kind
        values["min_choices"], values["max_choices"] = _choice_bounds(kind, low, high, n_options)
    opens_at = given.get("opens_at", poll.opens_at)
    closes_at = given.get("closes_at", poll.closes_at)
    _window(opens_at, closes_at)
    for key in ("opens_at", "closes_at"):
        if key in given:
            values[key] = given[key]
    return values


# Which status each action leads to, and from which statuses it may start.
_TRANSITIONS = {
    "open": ("open", ("draft", "closed")),
    "close": ("closed", ("open",)),
    "archive": ("archived", ("draft", "open", "closed")),
}


async def change_status(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    action = request.path_params["action"]
    if action not in _TRANSITIONS:
        raise NotFound(f"no action {action!r}; use open, close or archive")
    target, sources = _TRANSITIONS[action]
    poll_id = _checked_poll_id(request.path_params["poll_id"])
    async with services(request).pool.acquire() as con, con.transaction():
        await con.execute("SELECT 1 FROM polls WHERE id = $1 FOR UPDATE", poll_id)
        poll = await poll_for(con, poll_id, principal)
        if poll.status not in sources:
            raise Conflict(
                f"a {poll.status} poll cannot be {target}",
                code="invalid_transition",
                field="status",
            )
        await con.execute(
            "UPDATE polls SET status = $2, updated_at = now() WHERE id = $1", poll_id, target
        )
        updated = await load_poll(con, poll_id)
        assert updated is not None
        await audit(
            con,
            token_id=principal.token_id,
            actor=principal.actor,
            action=action,
            object_type="poll",
            object_id=poll_id,
            before={"status": poll.status},
            after={"status": target},
        )
    await _forget_poll(request, poll_id)
    return json_response(poll_view(updated, services(request).settings.public_url))


async def delete_poll(request: Request) -> Response:
    principal = await require_scope(request, "polls:write")
    force = request.query_params.get("force", "").lower() in ("1", "true", "yes")
    poll_id = _checked_poll_id(request.path_params["poll_id"])
    async with services(request).pool.acquire() as con, con.transaction():
        await con.execute("SELECT 1 FROM polls WHERE id = $1 FOR UPDATE", poll_id)
        poll = await poll_for(con, poll_id, principal)
        if poll.status != "draft" and not force:
            raise Conflict(
                f"only drafts can be deleted; this poll is {poll.status}. Archive it, or"
                " delete with ?force=true to erase it and its votes",
                code="not_draft",
                field="force",
            )
        votes = await con.fetchval("SELECT count(*) FROM votes WHERE poll_id = $1", poll_id)
        await con.execute("DELETE FROM polls WHERE id = $1", poll_id)
        await audit(
            con,
            token_id=principal.token_id,
            actor=principal.actor,
            action="delete",
            object_type="poll",
            object_id=poll_id,
            before=_audit_view(poll_view(poll, services(request).settings.public_url))
            | {"votes": votes},
        )
    await _forget_poll(request, poll_id)
    await drop_poll_keys(services(request).redis, poll_id)
    return Response(status_code=204)


routes = [
    Route("/v1/admin/sites", create_site, methods=["POST"]),
    Route("/v1/admin/sites", list_sites, methods=["GET"]),
    Route("/v1/admin/sites/{slug}", get_site, methods=["GET"]),
    Route("/v1/admin/sites/{slug}", update_site, methods=["PATCH"]),
    Route("/v1/admin/polls", create_poll, methods=["POST"]),
    Route("/v1/admin/polls", list_polls, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}", get_poll, methods=["GET"]),
    Route("/v1/admin/polls/{poll_id}", update_poll, methods=["PATCH"]),
    Route("/v1/admin/polls/{poll_id}", delete_poll, methods=["DELETE"]),
    Route("/v1/admin/polls/{poll_id}/{action}", change_status, methods=["POST"]),
]
