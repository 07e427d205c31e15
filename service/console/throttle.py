"""Sign-in throttling: failed attempts counted per account and per client address over a
window; past either limit, sign-in is refused for a while, whatever the password."""

from __future__ import annotations

import hashlib
import hmac
from datetime import timedelta

from service.storage.db import Conn

WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20


def _key(secret: bytes, kind: str, value: str) -> str:
    return hmac.new(secret, f"login.{kind}.{value}".encode(), hashlib.sha256).hexdigest()


def keys(secret: bytes, email: str, address: str) -> tuple[str, str]:
    """Keyed hashes of the e-mail as typed (known account or not: the limit must not tell)
    and of the client address."""
    return _key(secret, "account", email.strip().lower()), _key(secret, "address", address)


async def blocked(con: Conn, account_key: str, address_key: str) -> bool:
    row = await con.fetchrow(
        "SELECT count(*) FILTER (WHERE account_key = $1) AS account,"
        " count(*) FILTER (WHERE address_key = $2) AS address"
        " FROM login_failures WHERE (account_key = $1 OR address_key = $2)"
        " AND at > now() - $3::interval",
        account_key,
        address_key,
        WINDOW,
    )
    assert row is not None  # an aggregate always gives a row
    return bool(row["account"] >= PER_ACCOUNT or row["address"] >= PER_ADDRESS)


async def record_failure(con: Conn, account_key: str, address_key: str) -> None:
    await con.execute(
        "INSERT INTO login_failures (account_key, address_key) VALUES ($1, $2)",
        account_key,
        address_key,
    )
    # Old rows say nothing any more; dropping them here keeps the table small.
    await con.execute("DELETE FROM login_failures WHERE at < now() - $1::interval", WINDOW * 2)


async def clear_account(con: Conn, account_key: str) -> None:
    """After a good sign-in the account's failures are forgiven (the address's are not)."""
    await con.execute("DELETE FROM login_failures WHERE account_key = $1", account_key)
