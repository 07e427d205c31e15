"""Loading and storing poll definitions in PostgreSQL."""

from __future__ import annotations

import ipaddress

import asyncpg

from service.polls.model import Limits, Option, Poll, Site, new_poll_id
from service.storage.db import Conn

SITE_COLUMNS = (
    "id, slug, name, allowed_origins, default_locale, voter_secret, rate_per_ip_per_minute,"
    " burst_per_ip, rate_per_network_per_minute, burst_per_network, allowlisted_networks,"
    " require_widget_token, theme, limits"
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
        limits=Limits.from_json(dict(row["limits"])),
    )


async def load_poll(con: Conn | asyncpg.Pool, poll_id: str) -> Poll | None:
    found = await load_polls(con, [poll_id])
    return found[0] if found else None


async def insert_options(
    con: Conn,
    poll_id: str,
    labels: list[str],
    *,
    values: list[int] | None = None,
    other: int | None = None,
) -> list[str]:
    """Store a poll's options in order; their ids, as the API shows them. `values` are
    the scale values of a rating poll's options; `other` the position of the option that
    takes the voter's own words."""
    rows = await con.fetch(
        "INSERT INTO poll_options (poll_id, position, label, value, other)"
        " SELECT $1, p - 1, l, ($3::int[])[p], p - 1 = $4"
        " FROM unnest($2::text[]) WITH ORDINALITY AS o(l, p)"
        " RETURNING id, position",
        poll_id,
        labels,
        values,
        -1 if other is None else other,
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


async def load_polls(con: Conn | asyncpg.Pool, ids: list[str]) -> list[Poll]:
    """The polls with these ids, in the order given (missing ones left out), in three
    queries whatever their number: the polls, their sites, their options."""
    rows = await con.fetch("SELECT * FROM polls WHERE id = ANY($1::text[])", ids)
    if not rows:
        return []
    site_ids = sorted({row["site_id"] for row in rows})
    site_rows = await con.fetch(
        f"SELECT {SITE_COLUMNS} FROM sites WHERE id = ANY($1::bigint[])", site_ids
    )
    option_rows = await con.fetch(
        "SELECT poll_id, id, label, value, other FROM poll_options WHERE poll_id = ANY($1::text[])"
        " ORDER BY poll_id, position",
        [row["id"] for row in rows],
    )
    sites = {r["id"]: site_from_row(r) for r in site_rows}
    options: dict[str, list[Option]] = {}
    for o in option_rows:
        options.setdefault(o["poll_id"], []).append(
            Option(str(o["id"]), o["label"], o["value"], o["other"])
        )
    by_id = {
        row["id"]: Poll(
            id=row["id"],
            site=sites[row["site_id"]],  # polls.site_id is a foreign key
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
            options=tuple(options.get(row["id"], ())),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            scale=row["scale"],
            scale_range=row["scale_range"],
            low_label=row["low_label"],
            high_label=row["high_label"],
            comments=row["comments"],
            max_comments_per_voter=row["max_comments_per_voter"],
        )
        for row in rows
    }
    return [by_id[poll_id] for poll_id in ids if poll_id in by_id]
