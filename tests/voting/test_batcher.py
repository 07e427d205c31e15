"""The batcher behind both vote stages: batches bounded, flushes bounded, nothing lost."""

from __future__ import annotations

import asyncio

from service.voting.batcher import Batcher


async def test_items_arriving_together_go_out_together_within_bounds() -> None:
    batches: list[list[int]] = []
    in_flight = 0
    most_in_flight = 0
    release = asyncio.Event()
    two_started = asyncio.Event()

    async def flush(items: list[int]) -> None:
        nonlocal in_flight, most_in_flight
        in_flight += 1
        most_in_flight = max(most_in_flight, in_flight)
        batches.append(items)
        if len(batches) == 2:
            two_started.set()
        await release.wait()
        in_flight -= 1

    batcher: Batcher[int] = Batcher("test", flush, max_items=4, concurrency=2)
    batcher.start()
    for i in range(20):
        batcher.put(i)
    await two_started.wait()
    # Two flushes in flight, each with a full batch; the rest waits for a free slot.
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    release.set()
    await batcher.stop()
    assert most_in_flight == 2
    assert [i for batch in batches for i in batch] == list(range(20))
    assert all(len(batch) <= 4 for batch in batches)
    assert not batcher.running


async def test_a_failing_flush_does_not_stop_the_stage() -> None:
    seen: list[int] = []

    async def flush(items: list[int]) -> None:
        if 0 in items:
            raise RuntimeError("boom")
        seen.extend(items)

    batcher: Batcher[int] = Batcher("test", flush, max_items=1)
    batcher.start()
    batcher.put(0)
    batcher.put(1)
    await batcher.stop()
    batcher.start()
    batcher.put(2)
    await batcher.stop()
    assert seen == [1, 2]


async def test_linger_waits_for_company() -> None:
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        batches.append(items)

    batcher: Batcher[int] = Batcher("test", flush, max_items=100, linger=0.05)
    batcher.start()
    batcher.put(1)
    await asyncio.sleep(0)
    batcher.put(2)  # while the first flush lingers
    await batcher.stop()
    assert batches == [[1, 2]]
