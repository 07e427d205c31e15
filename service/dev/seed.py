"""Demo data for `civicpoll dev`: a site, an all-scopes token, the smart-city poll, and a
console admin on first start."""

from __future__ import annotations

import secrets

import asyncpg

from service.core.settings import Settings

DEMO_SITE = "hoan-kiem"
DEMO_ADMIN = "admin@civicpoll.local"
DEMO_QUESTION = "Theo bạn Hà Nội có nên xây dựng thành phố thông minh hay không?"


async def seed(
    settings: Settings,
) -> tuple[str | None, str, list[str], tuple[str, str] | None]:
    """Demo data on first start: a site, an all-scopes token, the smart-city poll, and a
    console admin when there is nobody yet (with the login, to print once)."""
    from service.identity.principal import SCOPES, create_token
    from service.polls.store import insert_open_poll
    from service.storage.db import apply_schema, connect

    con = await connect(settings.database_url)
    try:
        await apply_schema(con)
        existing = await con.fetchval(
            "SELECT id FROM polls WHERE question = $1 ORDER BY created_at LIMIT 1", DEMO_QUESTION
        )
        origins: list[str] = list(
            await con.fetchval("SELECT allowed_origins FROM sites WHERE slug = $1", DEMO_SITE)
            or [settings.public_url]
        )
        login = await demo_admin(con)
        if existing:
            return None, existing, origins, login
        async with con.transaction():
            site_id = await con.fetchval(
                "INSERT INTO sites (slug, name, allowed_origins, default_locale, voter_secret)"
                " VALUES ($3, 'Cổng thông tin quận Hoàn Kiếm', $1, 'vi', $2)"
                " ON CONFLICT (slug) DO UPDATE SET name = excluded.name RETURNING id",
                [settings.public_url],
                secrets.token_urlsafe(32),
                DEMO_SITE,
            )
            poll_id, _ = await insert_open_poll(
                con, site_id, DEMO_QUESTION, ["Có", "Không", "Ý kiến khác"]
            )
            # "Another opinion" takes the reader's own words, and readers may comment:
            # both wait for a moderator.
            await con.execute(
                "UPDATE poll_options SET other = true WHERE poll_id = $1 AND position = 2",
                poll_id,
            )
            await con.execute("UPDATE polls SET comments = 'premoderated' WHERE id = $1", poll_id)
            _, token = await create_token(con, settings.secret_key, list(SCOPES), None, "dev")
        return token, poll_id, origins, login
    finally:
        await con.close()


async def demo_admin(con: asyncpg.Connection) -> tuple[str, str] | None:
    from service.console import users
    from service.console.passwords import one_time_password

    if await con.fetchval("SELECT EXISTS (SELECT 1 FROM users)"):
        return None
    password = one_time_password()
    await users.create_user(
        con, users.OPERATOR, email=DEMO_ADMIN, role="admin", password=password, sites=[]
    )
    return DEMO_ADMIN, password
