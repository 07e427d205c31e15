"""The cycle collector and the allocator on a clock.

The app raises the collector's thresholds at start-up (thousands of streams allocate
steadily; with the defaults young collections run hundreds of times a second). But
CPython counts *net* allocations: almost everything a request makes is freed by
reference counting, so with a gen-0 threshold of 50,000 the count sits below it and the
collector never runs. Garbage in reference cycles (an exception and its traceback's
frames, futures and their callbacks) then piles up: the soak measured a steady
~0.6 MB a minute of it, never flattening. So the collector runs on time instead of
on counts: a young pass (generations 0 and 1, a few ms) every `YOUNG_SECONDS`, a full
pass every `FULL_EVERY` young ones, each followed by glibc's `malloc_trim` to give the
freed pages back to the system.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import gc
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)

YOUNG_SECONDS = 10.0
FULL_EVERY = 30  # young passes a full one: every 5 minutes


def _malloc_trim() -> Callable[[], object]:
    """glibc's malloc_trim(0), or nothing on another C library (musl, macOS)."""
    name = ctypes.util.find_library("c")
    try:
        trim = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):
        trim = None
    if trim is None:
        return lambda: None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class MemoryTender:
    """Runs the collector every `young_seconds`; `passes` counts the passes made."""

    def __init__(self, young_seconds: float = YOUNG_SECONDS, full_every: int = FULL_EVERY) -> None:
        self.young_seconds = young_seconds
        self.full_every = full_every
        self.passes = 0
        self._trim = _malloc_trim()
        self._passed = asyncio.Event()

    def sweep(self) -> int:
        """One pass; the number of unreachable objects it found."""
        self.passes += 1
        full = self.passes % self.full_every == 0
        found = gc.collect(2 if full else 1)
        self._trim()
        self._passed.set()
        return found

    async def next_pass(self) -> None:
        """Wait for the next pass of `run` (tests synchronise on it)."""
        self._passed.clear()
        await self._passed.wait()

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.young_seconds)  # a period, not a synchronisation
            self.sweep()
