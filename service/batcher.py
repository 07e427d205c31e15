"""A queue drained in batches by one task: work that arrives together goes out together."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("civicpoll.batcher")


class Batcher(Generic[T]):
    """While one flush is in flight, new items queue up and go out together in the next.

    `flush` gets up to `max_items` items in arrival order and must settle each one
    itself (items carry their own futures). `linger` waits a little for company when the
    queue is short: a few milliseconds of latency buy far fewer commits under load.
    """

    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], Awaitable[None]],
        *,
        max_items: int = 500,
        linger: float = 0.0,
        concurrency: int = 1,
    ) -> None:
        self.name = name
        self._flush = flush
        self._max_items = max_items
        self._linger = linger
        # Several flushes may be in flight: while one waits on the network, the next
        # batch is already going out, so the event loop is never idle under load.
        self._concurrency = concurrency
        self._queue: list[T] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Flush what is queued, then stop. Never cancelled mid-flush: a batch half
        written is exactly what this class exists to avoid."""
        if self._task is None:
            return
        self._stopping = True
        self._wakeup.set()
        await self._task
        self._task = None

    def put(self, item: T) -> None:
        self._queue.append(item)
        self._wakeup.set()

    async def _run(self) -> None:
        in_flight: set[asyncio.Task[None]] = set()
        slots = asyncio.Semaphore(self._concurrency)
        while True:
            await self._wakeup.wait()
            if self._linger and not self._stopping and len(self._queue) < self._max_items:
                await asyncio.sleep(self._linger)
            await slots.acquire()
            batch = self._queue[: self._max_items]
            del self._queue[: self._max_items]
            if batch:
                task = asyncio.create_task(self._flush_one(batch, slots))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            else:
                slots.release()
            if not self._queue:
                if self._stopping:
                    await asyncio.gather(*in_flight)
                    return
                self._wakeup.clear()

    async def _flush_one(self, batch: list[T], slots: asyncio.Semaphore) -> None:
        try:
            await self._flush(batch)
        except Exception:
            # flush settles its own items; this only keeps the stage alive.
            log.exception("batch flush of %s failed", self.name)
        finally:
            slots.release()
