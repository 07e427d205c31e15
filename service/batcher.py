"""Group work that arrives together: callers await one item, a task flushes many at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

log = logging.getLogger("civicpoll.batcher")


class Batcher(Generic[T, R]):
    """While one flush is in flight, new items queue up and go out together in the next.

    `flush` gets the items in arrival order and returns one result (or exception) per
    item. `linger` waits a little for company when the queue is short: the price of a
    few milliseconds of latency buys far fewer commits under load.
    """

    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], Awaitable[list[R | BaseException]]],
        *,
        max_items: int = 500,
        linger: float = 0.0,
    ) -> None:
        self.name = name
        self._flush = flush
        self._max_items = max_items
        self._linger = linger
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"batcher-{self.name}")

    async def stop(self) -> None:
        """Flush what is queued, then stop."""
        if self._task is None:
            return
        while self._queue:
            await self._flush_some()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None

    async def submit(self, item: T) -> R:
        if self._task is None:
            raise RuntimeError(f"batcher {self.name} is not running")
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._wakeup.set()
        return await future

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            if self._linger and len(self._queue) < self._max_items:
                await asyncio.sleep(self._linger)
            await self._flush_some()
            if not self._queue:
                self._wakeup.clear()

    async def _flush_some(self) -> None:
        batch = self._queue[: self._max_items]
        del self._queue[: self._max_items]
        if not batch:
            return
        try:
            results = await self._flush([item for item, _ in batch])
        except Exception as exc:
            results = [exc] * len(batch)
        for (_, future), result in zip(batch, results, strict=True):
            if future.done():  # the caller went away (client disconnected)
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)
