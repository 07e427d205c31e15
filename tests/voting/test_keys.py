"""Redis key names: one spelling per kind, one cluster slot per poll, none in the scripts."""

from __future__ import annotations

import re
from importlib import resources

from redis.crc import key_slot

from service.voting import keys

MEMBER_KEYS = {
    keys.VOTER_MARK: keys.voter_mark_key,
    keys.IP_MARK: keys.ip_mark_key,
    keys.IDEMPOTENCY: keys.idempotency_key,
    keys.NONCE_MARK: keys.nonce_mark_key,
    keys.IP_RATE: keys.ip_rate_key,
    keys.NETWORK_RATE: keys.network_rate_key,
}
HASH_KEYS = {
    keys.COUNTS: keys.counts_key,
    keys.STATS: keys.stats_key,
    keys.MINUTES: keys.minutes_key,
}


def all_keys(poll_id: str) -> list[str]:
    return [f(poll_id) for f in HASH_KEYS.values()] + [
        f(poll_id, "0123abcd") for f in MEMBER_KEYS.values()
    ]


def test_the_names_stay_what_a_running_redis_holds() -> None:
    """Renaming a kind orphans every key a running Redis holds: it must be a decision."""
    assert all_keys("abc") == [
        "{p:abc}:c",
        "{p:abc}:s",
        "{p:abc}:m",
        "{p:abc}:v:0123abcd",
        "{p:abc}:i:0123abcd",
        "{p:abc}:k:0123abcd",
        "{p:abc}:t:0123abcd",
        "{p:abc}:ri:0123abcd",
        "{p:abc}:rn:0123abcd",
    ]
    assert keys.EPOCH == "civicpoll:epoch"
    assert keys.EPOCH_REBUILDING == "civicpoll:epoch:rebuilding"


def test_a_stem_and_a_member_make_the_key() -> None:
    kinds = tuple(MEMBER_KEYS)
    for stem, (kind, name) in zip(keys.stems("p7", kinds), MEMBER_KEYS.items(), strict=True):
        assert stem + "h" == name("p7", "h"), kind


def test_no_kind_can_be_mistaken_for_another() -> None:
    kinds = [*HASH_KEYS, *MEMBER_KEYS]
    assert len(set(kinds)) == len(kinds) == 9
    for a in kinds:
        for b in kinds:
            assert a == b or not b.startswith(a), (a, b)


def test_every_key_of_a_poll_shares_its_cluster_slot() -> None:
    for poll_id in ("abc", "k2m9xq4v7z", "Z_-9"):
        slots = {key_slot(key.encode()) for key in all_keys(poll_id)}
        assert len(slots) == 1, poll_id


def test_the_scripts_spell_no_key_name() -> None:
    infixes = {*HASH_KEYS, *MEMBER_KEYS}
    for script in ("vote.lua", "undo.lua"):
        text = resources.files("service.voting").joinpath(script).read_text(encoding="utf-8")
        code = "\n".join(line.split("--")[0] for line in text.splitlines())
        literals = set(re.findall(r"'([^']*)'", code)) | set(re.findall(r'"([^"]*)"', code))
        assert not literals & infixes, (script, literals & infixes)
        assert "{p:" not in code and "KEYS[1], 1" not in code  # no prefix cut from a key


async def test_dropping_a_poll_removes_every_kind_and_nothing_else(state) -> None:
    mine, other = all_keys("drop1"), all_keys("drop2")
    for key in mine + other:
        await state.redis.set(key, 1)
    await keys.drop_poll_keys(state.redis, "drop1")
    assert [await state.redis.exists(key) for key in mine] == [0] * len(mine)
    assert [await state.redis.exists(key) for key in other] == [1] * len(other)
