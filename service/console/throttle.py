"""Sign-in throttling: failed attempts counted per account, per client address and per
client network (/24, /64) over a window; past any limit, sign-in is refused for a while,
whatever the password.

An attempt reserves its failure row BEFORE the password is hashed, under a lock per key,
so that concurrent attempts cannot all pass the check and then all be verified: at most
PER_ACCOUNT passwords are ever checked per account and window. A good sign-in then takes
its account's rows back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from service.identity.keys import SIGN_IN_THROTTLE, digest
from service.storage.db import Conn

WINDOW = timedelta(minutes=15)
PER_ACCOUNT = 5
PER_ADDRESS = 20
# A /24 or /64 holds many people (an office, a newsroom behind one NAT, a phone carrier's
# customer's devices): more than one address's worth, still a bound for a guesser who
# rotates addresses inside a network.
PER_NETWORK = 60

# Advisory lock classes (the two-int form; apply_schema's single-bigint lock is apart).
# Taken in this order by every attempt, so two attempts never wait on each other in a circle.
_LOCKS = (
    "SELECT pg_advisory_xact_lock(61, hashtext($1)), pg_advisory_xact_lock(62, hashtext($2)),"
    " pg_advisory_xact_lock(63, hashtext($3))"
)


@dataclass(frozen=True, slots=True)
class Keys:
    """Keyed hashes of the e-mail as typed (known account or not: the limit must not tell),
    of the client address and of its network."""

    account: str
    address: str
    network: str


def _key(secret: bytes, kind: str, value: str) -> str:
    return digest(secret, SIGN_IN_THROTTLE, f"{kind}.{value}")


def keys(secret: bytes, email: str, address: str, network: str) -> Keys:
    return Keys(
        _key(secret, "account", email.strip().lower()),
        _key(secret, "address", address),
        _key(secret, "network", network),
    )


async def reserve(con: Conn, k: Keys) -> int | None:
    """The id of this attempt's failure row, or None when a limit is reached already."""
    async with con.transaction():
        await con.execute(_LOCKS, k.account, k.network, k.address)
        # A statement of its own after the locks: its snapshot sees every row that the
        # attempts which held the locks before us committed.
        reserved: int | None = await con.fetchval(
            "INSERT INTO login_failures (account_key, address_key, network_key)"
            " SELECT $1, $2, $3 FROM ("
            "  SELECT count(*) FILTER (WHERE account_key = $1) AS account,"
            "   count(*) FILTER (WHERE address_key = $2) AS address,"
            "   count(*) FILTER (WHERE network_key = $3) AS network"
            "  FROM login_failures"
            "  WHERE (account_key = $1 OR address_key = $2 OR network_key = $3)"
            "   AND at > now() - $4::interval) AS seen"
            " WHERE account < $5 AND address < $6 AND network < $7"
            " RETURNING id",
            k.account,
            k.address,
            k.network,
            WINDOW,
            PER_ACCOUNT,
            PER_ADDRESS,
            PER_NETWORK,
        )
    if reserved is not None:
        # Old rows say nothing any more; dropping them here keeps the table small.
        await con.execute("DELETE FROM login_failures WHERE at < now() - $1::interval", WINDOW * 2)
    return reserved


async def clear_account(con: Conn, k: Keys) -> None:
    """After a good sign-in the account's failures are forgiven, this attempt's reservation
    with them (the address's and network's other failures are not)."""
    await con.execute("DELETE FROM login_failures WHERE account_key = $1", k.account)


async def release(con: Conn, reserved: int) -> None:
    """An attempt that was reserved but did not check a password (over the hash budget)."""
    await con.execute("DELETE FROM login_failures WHERE id = $1", reserved)
