"""The reader cookie (`pv`): a random id that keeps one browser from voting, commenting
or reporting as many."""

from __future__ import annotations

import secrets

VOTER_COOKIE = "pv"
# Two years; the id carries no personal data and only keeps a browser from voting twice.
VOTER_COOKIE_MAX_AGE = 2 * 365 * 24 * 3600
_COOKIE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def voter_cookie(raw: str | None) -> str | None:
    """The voter id from the cookie when it has the shape we hand out, else None."""
    if raw and 8 <= len(raw) <= 64 and _COOKIE_CHARS.issuperset(raw):
        return raw
    return None


def new_voter_id() -> str:
    return secrets.token_urlsafe(16)


def voter_cookie_header(voter_id: str) -> str:
    # Partitioned (CHIPS) keeps the cookie working inside third-party iframes where
    # browsers block unpartitioned third-party cookies.
    return (
        f"{VOTER_COOKIE}={voter_id}; Max-Age={VOTER_COOKIE_MAX_AGE}; Path=/; Secure; HttpOnly;"
        " SameSite=None; Partitioned"
    )
