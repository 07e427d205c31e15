"""Signed, expiring tokens: the widget's form token and the voter ids a host portal signs."""

from __future__ import annotations

import os
import random
import time

from service.core.errors import BadRequest, Forbidden
from service.identity.keys import SITE_SIGNED_VOTER, WIDGET_TOKEN, digest, matches

WIDGET_TOKEN_TTL = 6 * 3600


# ---------------------------------------------------------------- host-signed voter ids


def sign_voter(site_secret: bytes, voter_id: str, expires_at: int) -> str:
    """What a host portal computes: `<voter_id>.<expiry unix>.<hex HMAC-SHA256>`."""
    mac = digest(site_secret, SITE_SIGNED_VOTER, f"{voter_id}.{expires_at}")
    return f"{voter_id}.{expires_at}.{mac}"


def verify_voter(site_secret: bytes, signed: str | None, now: float | None = None) -> str:
    if not signed:
        raise BadRequest(
            "this poll needs a voter id signed by the site", field="voter", code="voter_required"
        )
    parts = signed.rsplit(".", 2)
    if (
        len(parts) != 3
        or not 1 <= len(parts[0]) <= 128
        or not (parts[1].isascii() and parts[1].isdigit() and len(parts[1]) <= 12)
        or not parts[2].isascii()
    ):
        raise BadRequest(
            "voter must look like <id>.<expiry>.<signature>", field="voter", code="bad_voter"
        )
    voter_id, expiry, mac = parts
    if not matches(site_secret, SITE_SIGNED_VOTER, f"{voter_id}.{expiry}", mac):
        raise Forbidden("the voter signature does not match", field="voter", code="bad_voter")
    if int(expiry) < (time.time() if now is None else now):
        raise Forbidden("the signed voter id has expired", field="voter", code="voter_expired")
    return voter_id


# ---------------------------------------------------------------- widget form tokens


# A nonce must be unique, not secret: the MAC is what makes a token unforgeable. Fresh
# kernel randomness per embed page cost about 8% of the page's CPU.
_nonces = random.Random()  # noqa: S311 -- seeded from os.urandom; see above
# A forked worker must not repeat its parent's sequence.
os.register_at_fork(after_in_child=_nonces.seed)


def widget_token(secret_key: bytes, poll_id: str, now: float | None = None) -> str:
    """A signed, expiring, single-use token the embed form carries: `<ts>.<nonce>.<mac>`."""
    issued = int(time.time() if now is None else now)
    nonce = f"{_nonces.getrandbits(96):024x}"
    mac = digest(secret_key, WIDGET_TOKEN, f"{poll_id}.{issued}.{nonce}")
    return f"{issued}.{nonce}.{mac}"


def check_widget_token(
    secret_key: bytes, poll_id: str, token: str, now: float | None = None
) -> str:
    """The token's nonce when the token is genuine and fresh; the caller makes it single-use."""
    parts = token.split(".")
    # ASCII first: "²" passes isdigit() but not int(), and compare_digest refuses non-ASCII.
    if len(token) > 100 or not token.isascii() or len(parts) != 3 or not parts[0].isdigit():
        raise Forbidden(
            "the form token is malformed; reload the poll", field="token", code="bad_token"
        )
    issued, nonce, mac = parts
    if not matches(secret_key, WIDGET_TOKEN, f"{poll_id}.{issued}.{nonce}", mac):
        raise Forbidden(
            "the form token is not valid; reload the poll", field="token", code="bad_token"
        )
    if int(issued) + WIDGET_TOKEN_TTL < (time.time() if now is None else now):
        raise Forbidden(
            "the form has expired; reload the poll", field="token", code="token_expired"
        )
    return nonce
