"""Console people: e-mail, Argon2id password, a role and the sites they work on; what a
role may do (its scopes), created, changed and disabled with every change audited."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from service.console import hashing
from service.core.errors import BadRequest, Conflict, NotFound
from service.identity.audit import audit
from service.identity.principal import SCOPES, Principal
from service.storage.db import Conn

ROLES = ("admin", "editor", "moderator")
# What each role may do. An admin works on every site; the others on their own sites.
ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "editor": frozenset({"polls:read", "polls:write"}),
    "moderator": frozenset({"polls:read", "comments:moderate"}),
}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s.]{1,63}$")
OPERATOR = Principal(None, frozenset(SCOPES), None)  # the command line acts as itself


def check_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email) or not email.isprintable():
        raise BadRequest("an e-mail address like ten@toasoan.vn", field="email")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise BadRequest(f"role must be one of {', '.join(ROLES)}", field="role")
    return role


async def _site_ids(con: Conn, slugs: list[str]) -> list[int]:
    ids = []
    for slug in slugs:
        site_id = await con.fetchval("SELECT id FROM sites WHERE slug = $1", slug)
        if site_id is None:
            raise NotFound(f"no site {slug!r}", field="site")
        ids.append(site_id)
    return ids


async def principal_of(con: Conn, user_id: int, role: str) -> Principal:
    """What the person may do: their role's scopes, on every site (admin) or theirs."""
    sites = None
    if role != "admin":
        rows = await con.fetch("SELECT site_id FROM user_sites WHERE user_id = $1", user_id)
        sites = frozenset(r["site_id"] for r in rows)
    return Principal(None, ROLE_SCOPES[role], sites, user_id)


async def create_user(
    con: Conn, actor: Principal, *, email: str, role: str, password: str, sites: list[str]
) -> int:
    email = check_email(email)
    role = check_role(role)
    if role != "admin" and not sites:
        raise BadRequest(f"an {role} works on at least one site", field="site")
    password_hash = await hashing.hash_password(password)
    async with con.transaction():
        site_ids = await _site_ids(con, sites if role != "admin" else [])
        try:
            user_id: int = await con.fetchval(
                "INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3) RETURNING id",
                email,
                password_hash,
                role,
            )
        except asyncpg.UniqueViolationError:
            raise Conflict(f"{email} has an account already", field="email") from None
        await con.executemany(
            "INSERT INTO user_sites (user_id, site_id) VALUES ($1, $2)",
            [(user_id, s) for s in site_ids],
        )
        await audit(
            con,
            actor,
            action="create",
            object_type="user",
            object_id=str(user_id),
            after={"email": email, "role": role, "sites": sorted(sites) if site_ids else []},
        )
    return user_id


async def _user_id(con: Conn, email: str) -> int:
    user_id: int | None = await con.fetchval(
        "SELECT id FROM users WHERE email = $1", check_email(email)
    )
    if user_id is None:
        raise NotFound(f"no account {email.strip().lower()!r}", field="email")
    return user_id


async def set_password(con: Conn, actor: Principal, email: str, password: str) -> int:
    """A new password; every session of the person ends (whoever held one is out)."""
    password_hash = await hashing.hash_password(password)
    async with con.transaction():
        user_id = await _user_id(con, email)
        await con.execute(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
            user_id,
            password_hash,
        )
        await con.execute("DELETE FROM console_sessions WHERE user_id = $1", user_id)
        await audit(con, actor, action="set_password", object_type="user", object_id=str(user_id))
    return user_id


async def disable_user(con: Conn, actor: Principal, email: str) -> int:
    """The person can no longer sign in; their sessions and dashboard-link tokens end."""
    async with con.transaction():
        user_id = await _user_id(con, email)
        await con.execute(
            "UPDATE users SET disabled_at = coalesce(disabled_at, now()), updated_at = now()"
            " WHERE id = $1",
            user_id,
        )
        await con.execute("DELETE FROM console_sessions WHERE user_id = $1", user_id)
        await con.execute(
            "UPDATE api_tokens SET revoked_at = now() WHERE label = $1 AND revoked_at IS NULL",
            link_token_label(user_id),
        )
        await audit(con, actor, action="disable", object_type="user", object_id=str(user_id))
    return user_id


async def change_role(
    con: Conn, actor: Principal, *, email: str, role: str, sites: list[str]
) -> int:
    """A new role and set of sites; it applies to the person's next request (a session
    reads both afresh each time)."""
    role = check_role(role)
    if role != "admin" and not sites:
        raise BadRequest(f"an {role} works on at least one site", field="site")
    async with con.transaction():
        user_id = await _user_id(con, email)
        before = await con.fetchval("SELECT role FROM users WHERE id = $1 FOR UPDATE", user_id)
        site_ids = await _site_ids(con, sites if role != "admin" else [])
        await con.execute(
            "UPDATE users SET role = $2, updated_at = now() WHERE id = $1", user_id, role
        )
        await con.execute("DELETE FROM user_sites WHERE user_id = $1", user_id)
        await con.executemany(
            "INSERT INTO user_sites (user_id, site_id) VALUES ($1, $2)",
            [(user_id, s) for s in site_ids],
        )
        await audit(
            con,
            actor,
            action="change_role",
            object_type="user",
            object_id=str(user_id),
            before={"role": before},
            after={"role": role, "sites": sorted(sites) if site_ids else []},
        )
    return user_id


def link_token_label(user_id: int) -> str:
    """The label of the read-only tokens the console mints dashboard links with."""
    return f"console links of user:{user_id}"


async def list_users(con: Conn) -> list[dict[str, Any]]:
    rows = await con.fetch(
        "SELECT u.id, u.email, u.role, u.created_at, u.disabled_at,"
        " coalesce(array_agg(s.slug ORDER BY s.slug) FILTER (WHERE s.slug IS NOT NULL), '{}')"
        " AS sites FROM users u LEFT JOIN user_sites us ON us.user_id = u.id"
        " LEFT JOIN sites s ON s.id = us.site_id GROUP BY u.id ORDER BY u.email"
    )
    return [dict(r) for r in rows]


async def password_hash_of(con: Conn, user_id: int) -> str | None:
    found: str | None = await con.fetchval(
        "SELECT password_hash FROM users WHERE id = $1 AND disabled_at IS NULL", user_id
    )
    return found


async def change_own_password(
    con: Conn, actor: Principal, user_id: int, password_hash: str, keep_session: str
) -> None:
    """The person's own new password (already checked and hashed): their other sessions
    end, the one they asked from goes on."""
    async with con.transaction():
        await con.execute(
            "UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1",
            user_id,
            password_hash,
        )
        await con.execute(
            "DELETE FROM console_sessions WHERE user_id = $1 AND id_hash <> $2",
            user_id,
            keep_session,
        )
        await audit(
            con, actor, action="change_password", object_type="user", object_id=str(user_id)
        )
