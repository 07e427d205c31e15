"""Password hashes: Argon2id through argon2-cffi, with its current recommended costs."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.core.errors import BadRequest

MIN_LENGTH = 10
MAX_LENGTH = 256  # Argon2 takes any length; a bound keeps a huge body from costing memory

_hasher = PasswordHasher()  # Argon2id, RFC 9106's low-memory profile
# Verified against when the e-mail is unknown, so that a wrong address costs the same
# time as a wrong password and the answer's timing names no account.
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


def check_new(password: str) -> str:
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise BadRequest(
            f"a password must be {MIN_LENGTH} to {MAX_LENGTH} characters", field="password"
        )
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_new(password))


def verify(stored: str | None, password: str) -> bool:
    """Whether `password` matches `stored` (None: no such account; still costs a hash)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


def one_time_password() -> str:
    return secrets.token_urlsafe(12)
