"""The cycle collector runs on a clock: garbage in reference cycles does not pile up."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from typing import Any

import pytest

from service.ops.memory import MemoryTender


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _dropped_cycle() -> weakref.ref[_Node]:
    """A pair of objects referring to each other, no longer referred to from outside:
    only the cycle collector can free them (an exception and its traceback's frames are
    such a cycle)."""
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def app_thresholds() -> Iterator[None]:
    """The thresholds the app sets at start-up (service/app.py), from a collection."""
    before = gc.get_threshold()
    gc.collect()
    gc.set_threshold(50_000, 20, 100)
    yield
    gc.set_threshold(*before)


@pytest.mark.usefixtures("app_thresholds")
def test_counts_alone_never_free_a_cycle_but_a_pass_does() -> None:
    cycle = _dropped_cycle()
    # A server's traffic: a great many allocations, nearly all freed by reference counting,
    # so the collector's net count stays far below its threshold.
    for _ in range(500):
        batch: list[Any] = [[] for _ in range(1_000)]
        del batch
    assert cycle() is not None, "the counts triggered a collection after all"
    tender = MemoryTender()
    assert tender.sweep() >= 2
    assert cycle() is None


@pytest.mark.usefixtures("app_thresholds")
def test_every_nth_pass_is_a_full_one() -> None:
    tender = MemoryTender(full_every=3)
    cycle = _dropped_cycle()
    held = cycle()
    tender.sweep()  # still referred to: it moves on to the oldest generation
    del held  # garbage now, and only a full pass looks there
    tender.sweep()
    assert cycle() is not None
    tender.sweep()
    assert tender.passes == 3
    assert cycle() is None


async def test_the_app_sweeps_on_its_clock(state: Any) -> None:
    tender: MemoryTender = state.memory
    before = tender.passes
    cycle = _dropped_cycle()
    await tender.next_pass()
    assert tender.passes > before
    assert cycle() is None
