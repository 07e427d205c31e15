"""polls/cache.py: definitions cached per process, unknown ids remembered within bounds."""

from __future__ import annotations

from typing import Any

import pytest

from service.polls import cache
from service.polls.cache import PollCache
from tests.conftest import PollMaker


async def test_unknown_ids_are_remembered_within_a_bound(
    state: Any, make_poll: PollMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MAX_MISSING", 3)
    polls = PollCache(state.pool, state.redis)
    known = await make_poll()
    assert (await polls.get(known["id"])) is not None
    for n in range(50):
        assert await polls.get(f"nosuchpoll{n}") is None
    # The known poll and the three newest misses; the older misses are forgotten.
    assert set(polls._entries) == {known["id"], "nosuchpoll47", "nosuchpoll48", "nosuchpoll49"}


async def test_a_miss_that_later_exists_is_no_longer_counted_as_one(
    state: Any, make_poll: PollMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MAX_MISSING", 2)
    polls = PollCache(state.pool, state.redis)
    poll = await make_poll()
    polls._missing[poll["id"]] = poll["id"]  # as if it had been looked up before it existed
    assert (await polls.get(poll["id"])) is not None
    for n in range(5):
        await polls.get(f"nosuchpoll{n}")
    assert poll["id"] in polls._entries


async def test_found_polls_are_kept_within_a_bound(
    state: Any, make_poll: PollMaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MAX_FOUND", 3)
    monkeypatch.setattr(cache, "MAX_MISSING", 1)
    polls = PollCache(state.pool, state.redis)
    made = [await make_poll() for _ in range(6)]
    for poll in made:
        assert (await polls.get(poll["id"])) is not None
    # None has expired: the oldest go first, the newest stay cached.
    assert len(polls._entries) <= 4
    assert made[-1]["id"] in polls._entries and made[0]["id"] not in polls._entries
