"""Admin service helpers without HTTP: the batch poll loader and the one SET builder."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from service.admin.columns import POLL_SETTABLE, SITE_SETTABLE, set_clause
from service.polls.store import load_poll, load_polls

PollMaker = Callable[..., Awaitable[dict[str, Any]]]


async def test_load_polls_keeps_order_skips_missing_in_three_queries(
    state: Any, make_poll: PollMaker
) -> None:
    made = [(await make_poll(open=i % 2 == 0))["id"] for i in range(4)]
    ids = [made[2], "nosuchpoll", made[0], made[3], made[1]]
    queries: list[str] = []
    async with state.pool.acquire() as con:
        await load_polls(con, ids)  # asyncpg's first use of a type asks the catalogue once
        with con.query_logger(lambda record: queries.append(record.query)):
            polls = await load_polls(con, ids)
        one_by_one = [await load_poll(con, poll_id) for poll_id in ids if poll_id != "nosuchpoll"]
    assert [p.id for p in polls] == [made[2], made[0], made[3], made[1]]
    # Word for word what the single loader gives, options in their order included.
    assert polls == one_by_one
    assert len(queries) == 3
    async with state.pool.acquire() as con:
        assert await load_polls(con, []) == []
        assert await load_polls(con, ["nosuchpoll"]) == []


def test_set_clause_takes_its_column_names_from_the_whitelist_only() -> None:
    sets, args = set_clause(SITE_SETTABLE, {"theme": {}, "name": "N", "allowlisted_networks": []})
    assert sets == "name = $2, allowlisted_networks = $3::cidr[], theme = $4"
    assert args == ["N", [], {}]
    sets, args = set_clause(POLL_SETTABLE, {"question": "Q"}, first=3)
    assert (sets, args) == ("question = $3", ["Q"])
    for key in ("id", "site_id", "status", "name = 'x'; --", "question "):
        with pytest.raises(ValueError, match="not a settable column"):
            set_clause(POLL_SETTABLE, {key: 1})
