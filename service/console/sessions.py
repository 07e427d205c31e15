"""Console sessions: a random id in an HttpOnly cookie, the row (under the id's keyed hash)
in PostgreSQL with its CSRF token; ended by idle time, by age, by signing out, by a new
password and by disabling the person."""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from service.console.users import principal_of
from service.identity.keys import SESSION, digest
from service.identity.principal import Principal
from service.storage.db import Conn

COOKIE = "cp_console"
IDLE = timedelta(hours=2)
LIFETIME = timedelta(hours=12)
# last_seen_at is written at most this often: reading a page should not always write.
_TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Session:
    id_hash: str
    user_id: int
    email: str
    role: str
    csrf: str
    principal: Principal


def _id_hash(secret: bytes, session_id: str) -> str:
    return digest(secret, SESSION, session_id)


async def start(con: Conn, secret: bytes, user_id: int) -> str:
    """A new session for the person; the cookie value is returned and never stored."""
    session_id = secrets.token_urlsafe(32)
    await con.execute(
        "INSERT INTO console_sessions (id_hash, user_id, csrf_token) VALUES ($1, $2, $3)",
        _id_hash(secret, session_id),
        user_id,
        secrets.token_urlsafe(32),
    )
    return session_id


async def find(con: Conn, secret: bytes, session_id: str | None) -> Session | None:
    """The live session behind a cookie value, or None (an expired one is deleted)."""
    if not session_id or len(session_id) > 64 or not session_id.isascii():
        return None
    id_hash = _id_hash(secret, session_id)
    row = await con.fetchrow(
        "SELECT s.user_id, s.csrf_token, u.email, u.role, u.disabled_at,"
        " now() - s.last_seen_at > $2::interval OR now() - s.created_at > $3::interval AS expired,"
        " now() - s.last_seen_at > $4::interval AS stale"
        " FROM console_sessions s JOIN users u ON u.id = s.user_id WHERE s.id_hash = $1",
        id_hash,
        IDLE,
        LIFETIME,
        _TOUCH_EVERY,
    )
    if row is None:
        return None
    if row["expired"] or row["disabled_at"] is not None:
        await con.execute("DELETE FROM console_sessions WHERE id_hash = $1", id_hash)
        return None
    if row["stale"]:
        await con.execute(
            "UPDATE console_sessions SET last_seen_at = now() WHERE id_hash = $1", id_hash
        )
    principal = await principal_of(con, row["user_id"], row["role"])
    return Session(id_hash, row["user_id"], row["email"], row["role"], row["csrf_token"], principal)


async def end(con: Conn, session: Session) -> None:
    await con.execute("DELETE FROM console_sessions WHERE id_hash = $1", session.id_hash)


def csrf_matches(session: Session, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(session.csrf.encode(), sent.encode())
