"""Signed, expiring view keys: the dashboard links an admin shares with a newsroom."""

from __future__ import annotations

import hashlib
import hmac
import time


def view_key(secret: bytes, subject: str, expires_at: int) -> str:
    """`<expiry>.<mac>` opening the live view of `subject` ("poll:ID" or "site:SLUG")."""
    mac = hmac.new(secret, f"view.{subject}.{expires_at}".encode(), hashlib.sha256)
    return f"{expires_at}.{mac.hexdigest()[:32]}"


def key_opens(secret: bytes, key: str, *subjects: str, now: float | None = None) -> bool:
    """True when `key` is a live, genuine view key for one of `subjects`."""
    expires, _, mac = key.partition(".")
    # ASCII first: "²" passes isdigit() but not int(), and compare_digest refuses non-ASCII.
    if len(key) > 64 or not key.isascii() or not expires.isdigit():
        return False
    if int(expires) < (time.time() if now is None else now):
        return False
    return any(
        hmac.compare_digest(view_key(secret, s, int(expires)).partition(".")[2], mac)
        for s in subjects
    )
