"""Password hashes: Argon2id through argon2-cffi, with costs chosen for this service.

These functions block for the hash's time; request paths call them through
service.console.hashing, which runs them off the event loop within a budget."""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from service.core.errors import BadRequest

MIN_LENGTH = 10
MAX_LENGTH = 256  # Argon2 takes any length; a bound keeps a huge body from costing memory

# OWASP's first Argon2id minimum (m=19 MiB, t=2, p=1): about 28 ms of one core here, a
# fifth of argon2-cffi's default (64 MiB, t=3, p=4: ~140 ms wall, ~200 ms CPU on four
# threads), so one hashing thread per process serves a useful sign-in budget without
# taking the cores from votes; m=47 MiB, t=1 is as strong by OWASP's table and costs
# more than twice the time and memory. Hashes made with the old default still verify
# (the parameters are in the hash) and are rehashed at their next good sign-in.
TIME_COST = 2
MEMORY_KIB = 19 * 1024
PARALLELISM = 1
_hasher = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_KIB, parallelism=PARALLELISM)
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
