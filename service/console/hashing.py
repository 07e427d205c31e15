"""Where password hashes run, and how many a process may run: Argon2id costs tens of
milliseconds of CPU, so it never runs on the event loop (a small pool of threads of its
own; argon2-cffi releases the GIL while it hashes), and sign-in takes a token from a
per-process budget before it hashes, so a flood of sign-ins cannot buy more CPU than
the budget (docs/security/sign-in.md)."""

from __future__ import annotations

import asyncio
import math
import time
from concurrent.futures import ThreadPoolExecutor

from service.console import passwords
from service.ops.metrics import SIGNIN_HASHES

# One thread per process bounds hashing to one core, and its memory to one Argon2 block
# (19 MiB): the budget below keeps it far from that; more threads would only let a
# flood's queue of hashes compete harder with the event loop for the CPU.
THREADS = 1
_pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="argon2")


async def verify(stored: str | None, password: str) -> bool:
    """passwords.verify on the hashing thread (None: no such account, a dummy hash)."""
    SIGNIN_HASHES.inc()
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, passwords.verify, stored, password)


async def hash_password(password: str) -> str:
    """passwords.hash_password on the hashing thread (a bad password raises BadRequest)."""
    passwords.check_new(password)  # refused before it takes a thread
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_pool, passwords.hash_password, password)


class Budget:
    """A token bucket: `per_second` tokens a second, at most one second's worth (and at
    least one) saved up. One per process; it is read and changed on the event loop only."""

    def __init__(self, per_second: float) -> None:
        self.rate = per_second
        self.capacity = max(1.0, per_second)
        self._tokens = self.capacity
        self._at = time.monotonic()

    def take(self) -> int:
        """0 when a token was taken; else the whole seconds until one is due (Retry-After)."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0
        return max(1, math.ceil((1.0 - self._tokens) / self.rate))

    def give_back(self) -> None:
        """An attempt refused before it hashed (locked account) does not spend the budget."""
        self._tokens = min(self.capacity, self._tokens + 1.0)
