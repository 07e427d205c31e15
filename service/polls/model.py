"""Poll definitions as the vote path and the public see them, loaded from PostgreSQL."""

from __future__ import annotations

import ipaddress
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

import asyncpg

from service.core.settings import Network
from service.storage.db import Conn

_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)


def new_poll_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


_POLL_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def looks_like_poll_id(value: str) -> bool:
    """Could this be a poll id? Checked before any lookup, so junk never reaches SQL."""
    return _POLL_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Site:
    id: int
    slug: str
    name: str
    allowed_origins: tuple[str, ...]
    default_locale: str
    voter_secret: bytes
    rate_per_ip_per_minute: int
    burst_per_ip: int
    rate_per_network_per_minute: int
    burst_per_network: int
    allowlisted_networks: tuple[Network, ...]
    require_widget_token: bool
    theme: dict[str, str]


@dataclass(frozen=True)
class Option:
    id: str
    label: str


@dataclass(frozen=True)
class Poll:
    id: str
    site: Site
    question: str
    description: str
    kind: str
    min_choices: int
    max_choices: int
    locale: str
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    results_visibility: str
    dedupe_mode: str
    dedupe_window_hours: int
    options: tuple[Option, ...]
    created_at: datetime
    updated_at: datetime

    @cached_property
    def option_ids(self) -> frozenset[str]:
        return frozenset(o.id for o in self.options)

    def phase(self, now: datetime) -> str:
        """open / not_open / closed, taking the schedule into account."""
        if self.status in ("closed", "archived"):
            return "closed"
        if self.status != "open":
            return "not_open"
        if self.opens_at is not None and now < self.opens_at:
            return "not_open"
        if self.closes_at is not None and now >= self.closes_at:
            return "closed"
        return "open"

    def results_public(self, now: datetime, has_voted: bool) -> bool:
        vis = self.results_visibility
        if vis == "always":
            return True
        if vis == "after_vote":
            return has_voted or self.phase(now) == "closed"
        if vis == "after_close":
            return self.phase(now) == "closed"
        return False

    def public_view(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site.slug,
            "question": self.question,
            "description": self.description,
            "kind": self.kind,
            "min_choices": self.min_choices,
            "max_choices": self.max_choices,
            "locale": self.locale,
            "status": self.phase(now),
            "opens_at": self.opens_at,
            "closes_at": self.closes_at,
            "results_visibility": self.results_visibility,
            "options": [{"id": o.id, "label": o.label} for o in self.options],
        }


SITE_COLUMNS = (
    "id, slug, name, allowed_origins, default_locale, voter_secret, rate_per_ip_per_minute,"
    " burst_per_ip, rate_per_network_per_minute, burst_per_network, allowlisted_networks,"
    " require_widget_token, theme"
)


def site_from_row(row: asyncpg.Record) -> Site:
    return Site(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        allowed_origins=tuple(row["allowed_origins"]),
        default_locale=row["default_locale"],
        voter_secret=row["voter_secret"].encode(),
        rate_per_ip_per_minute=row["rate_per_ip_per_minute"],
        burst_per_ip=row["burst_per_ip"],
        rate_per_network_per_minute=row["rate_per_network_per_minute"],
        burst_per_network=row["burst_per_network"],
        allowlisted_networks=tuple(ipaddress.ip_network(n) for n in row["allowlisted_networks"]),
        require_widget_token=row["require_widget_token"],
        theme=dict(row["theme"]),
    )


async def load_poll(con: Conn | asyncpg.Pool, poll_id: str) -> Poll | None:
    row = await con.fetchrow("SELECT * FROM polls WHERE id = $1", poll_id)
    if row is None:
        return None
    site_row = await con.fetchrow(f"SELECT {SITE_COLUMNS} FROM sites WHERE id = $1", row["site_id"])
    options = await con.fetch(
        "SELECT id, label FROM poll_options WHERE poll_id = $1 ORDER BY position", poll_id
    )
    assert site_row is not None  # polls.site_id is a foreign key
    return Poll(
        id=row["id"],
        site=site_from_row(site_row),
        question=row["question"],
        description=row["description"],
        kind=row["kind"],
        min_choices=row["min_choices"],
        max_choices=row["max_choices"],
        locale=row["locale"],
        status=row["status"],
        opens_at=row["opens_at"],
        closes_at=row["closes_at"],
        results_visibility=row["results_visibility"],
        dedupe_mode=row["dedupe_mode"],
        dedupe_window_hours=row["dedupe_window_hours"],
        options=tuple(Option(str(o["id"]), o["label"]) for o in options),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_options(con: Conn, poll_id: str, labels: list[str]) -> list[str]:
    """Store a poll's options in order; their ids, as the API shows them."""
    rows = await con.fetch(
        "INSERT INTO poll_options (poll_id, position, label)"
        " SELECT $1, p - 1, l FROM unnest($2::text[]) WITH ORDINALITY AS o(l, p)"
        " RETURNING id, position",
        poll_id,
        labels,
    )
    return [str(r["id"]) for r in sorted(rows, key=lambda r: r["position"])]


async def insert_open_poll(
    con: Conn, site_id: int, question: str, labels: list[str]
) -> tuple[str, list[str]]:
    """An open poll with default rules (the dev demo, the benchmark): its id and option ids."""
    poll_id = new_poll_id()
    await con.execute(
        "INSERT INTO polls (id, site_id, question, status) VALUES ($1, $2, $3, 'open')",
        poll_id,
        site_id,
        question,
    )
    return poll_id, await insert_options(con, poll_id, labels)
