"""The wire formats: what an encoder writes decodes to what went in, and the real readers
(vote.lua, undo.lua, PostgreSQL) read what the encoders wrote."""

from __future__ import annotations

import time
from importlib import resources
from typing import Any

from service.voting import keys
from service.voting.ballot import Ballot
from service.voting.wire import (
    DECIDE_KINDS,
    EXPIRED,
    LEDGER_ROWS,
    LIMIT_KINDS,
    REBUILDING,
    SPENT_PROOF,
    UNDO_DUPLICATE,
    UNDO_FAILED,
    UNDO_KINDS,
    DecideEntry,
    DecideHead,
    DecideReply,
    LedgerRow,
    LimitsHead,
    UndoEntry,
    decide_args,
    decode_decide_args,
    decode_decide_reply,
    decode_ledger_batch,
    decode_undo_args,
    fingerprint,
    ledger_batch,
    ledger_record,
    script_keys,
    undo_args,
)
from tests.voting.sample import sample_ballot, sample_poll

HEAD = DecideHead(100, 9900, 200, 19800, 3600, 0, keys.IDEMPOTENCY_TTL, keys.NONCE_MARK_TTL)
# Solved votes: 1 a minute, a burst of 3; hold tokenless votes after 2 widget votes; a
# flood is 3 attempts of which 80% one family and option (or one option 40 points above
# its share of the poll); regular after 4 fresh cookies.
LIMITS = LimitsHead(
    60_000, 120_000, keys.PROOF_MARK_TTL, keys.SIGNAL_WINDOW, 1, 2, 80, 3, 4, 10, 40
)
MEMBER_KEY = {
    keys.VOTER_MARK: keys.voter_mark_key,
    keys.IP_MARK: keys.ip_mark_key,
    keys.IDEMPOTENCY: keys.idempotency_key,
    keys.NONCE_MARK: keys.nonce_mark_key,
    keys.IP_RATE: keys.ip_rate_key,
    keys.NETWORK_RATE: keys.network_rate_key,
    keys.SOLVED_RATE: lambda poll_id, member: keys.poll_prefix(poll_id) + keys.SOLVED_RATE + member,
    keys.PROOF_MARK: keys.proof_mark_key,
    keys.SIGNALS: keys.signals_key,
}


def mixed_ballots() -> list[Ballot]:
    poll = sample_poll()
    return [
        sample_ballot(poll, 0),
        sample_ballot(
            poll, 1, choices=("11", "13"), idempotency_key="ab12", token_nonce="cd34", limited=False
        ),
        sample_ballot(poll, 2, voter_key=None, ip_key="ee:123", page_url="https://a.vn/x y|z"),
        sample_ballot(poll, 3, proof="5ee1", fresh=True, user_agent="Chrome", form=True),
    ]


def assert_stems(poll_id: str, stems: dict[str, str], kinds: tuple[str, ...]) -> None:
    assert list(stems) == list(kinds)
    for kind, stem in stems.items():
        assert stem + "f00d" == MEMBER_KEY[kind](poll_id, "f00d"), kind


def test_decide_args_round_trip() -> None:
    ballots = mixed_ballots()
    call = decode_decide_args(decide_args("wire7test", HEAD, ballots, 1_700_000_000_123, LIMITS))
    assert call.head == HEAD
    assert call.limits == LIMITS
    assert call.held_field == keys.HELD_FIELD
    assert call.deadline_ms == 1_700_000_000_123
    assert_stems("wire7test", call.stems, DECIDE_KINDS + LIMIT_KINDS)
    assert call.entries == [
        DecideEntry(
            b.choices,
            b.voter_hash,
            b.ip_hash,
            b.network_hash,
            b.idempotency_key,
            b.token_nonce,
            b.limited,
            b.proof,
            b.fresh,
            b.user_agent,
            b.form,
        )
        for b in ballots
    ]


def test_decide_reply_decodes() -> None:
    decided = 29_000_000 * 60_000 + 1234  # unix ms, in Redis's clock
    reply: list[Any] = [
        *(decided, 1, 0, 3, 1500, 4, 0, 6, 900, 7, 0),
        *(8, 40, 9, 3, 10, 5, 11, 0, 1, SPENT_PROOF, 10, SPENT_PROOF + 1),
        *(b"11", b"4", b"13", b"1", b"held", b"1"),
    ]
    assert decode_decide_reply(reply, 11) == DecideReply(
        "29000000",
        decided,
        [
            ("accepted", 0, "", False),
            ("rate_limited", 1500, "address", False),
            ("replayed", 0, "", False),
            ("rate_limited", 900, "network", False),
            ("idempotency_key_reused", 0, "", False),
            ("challenge", 40, "address", False),  # the pressure: 40 attempts over the limit
            ("challenge", 3, "network", False),
            ("held", 5, "", False),  # HOLD_REASONS[5]: no script
            ("proof_reused", 0, "", False),
            ("accepted", 0, "", True),  # it spent its proof
            ("held", 1, "", True),  # held (budget) after spending its proof
        ],
        {"11": 4, "13": 1, keys.HELD_FIELD: 1},
    )
    # A call Redis ran past its deadline, or during a rebuild, decided nothing.
    expired = DecideReply("", 0, [("expired", 0, "", False)] * 2, {})
    assert decode_decide_reply([-1], 2) == expired
    assert decode_decide_reply([-2], 1) == DecideReply("", 0, [("rebuilding", 0, "", False)], {})


def test_undo_args_round_trip() -> None:
    ballots = mixed_ballots()
    call = decode_undo_args(undo_args("wire7test", "29000000", ballots, UNDO_FAILED))
    assert call.minute == "29000000"
    assert call.held_field == keys.HELD_FIELD
    assert_stems("wire7test", call.stems, UNDO_KINDS)
    assert call.entries == [
        UndoEntry(
            b.choices,
            b.voter_hash,
            b.ip_hash,
            b.idempotency_key,
            b.token_nonce,
            b.proof,
            UNDO_FAILED,
        )
        for b in ballots
    ]


def expected_rows(ids: list[str], ballots: list[Ballot]) -> list[LedgerRow]:
    return [
        LedgerRow(
            vote_id,
            b.poll.id,
            b.choices,
            b.voter_hash,
            b.ip_hash,
            b.network_hash,
            b.voter_key,
            b.ip_key,
            b.idempotency_key,
            b.page_url,
            b.user_agent,
            "held" if i == 1 else "counted",
            "flood" if i == 1 else None,
            b.proof,
            b.token_nonce,
        )
        for i, (vote_id, b) in enumerate(zip(ids, ballots, strict=True))
    ]


IDS = [f"0190{i:028x}" for i in range(4)]
REASONS = ["", "flood", "", ""]  # the second vote is held


def test_ledger_batch_round_trip() -> None:
    ballots = mixed_ballots()
    batch = ledger_batch(
        [ledger_record(i, b, r) for i, b, r in zip(IDS, ballots, REASONS, strict=True)]
    )
    assert decode_ledger_batch(batch) == expected_rows(IDS, ballots)


async def test_postgres_reads_the_ledger_batch_as_python_does(state) -> None:
    ballots = mixed_ballots()
    batch = ledger_batch(
        [ledger_record(i, b, r) for i, b, r in zip(IDS, ballots, REASONS, strict=True)]
    )
    rows = await state.pool.fetch(LEDGER_ROWS, batch)
    read = [
        LedgerRow(row[0].hex, row[1], tuple(str(o) for o in row[2]), *tuple(row)[3:])
        for row in rows
    ]
    assert read == decode_ledger_batch(batch) == expected_rows(IDS, ballots)


def script(name: str) -> str:
    return resources.files("service.voting").joinpath(name).read_text(encoding="utf-8")


async def test_the_scripts_read_wire_encoded_args_and_answer_decodably(state) -> None:
    """One decide call carrying every outcome, then an undo of two of its votes: the
    replies decode as expected, and Redis holds exactly the keys keys.py names."""
    redis = state.redis
    vote, undo = (
        redis.register_script(script("vote.lua")),
        redis.register_script(script("undo.lua")),
    )
    poll = sample_poll("wirelua1")
    # One vote per address per minute, no burst; networks are not what this tests.
    head = HEAD._replace(ip_interval_ms=60_000, ip_tolerance_ms=0, network_tolerance_ms=10**6)
    first = sample_ballot(poll, 0, idempotency_key="i1")
    ballots = [
        first,
        sample_ballot(poll, 1, voter_hash=first.voter_hash),  # same voter: duplicate
        # The first's retry (same voter, same choices): replayed.
        sample_ballot(
            poll, 2, idempotency_key="i1", voter_hash=first.voter_hash, choices=first.choices
        ),
        sample_ballot(poll, 3, choices=("12", "13"), token_nonce="n1"),
        sample_ballot(poll, 4, token_nonce="n1"),  # the same form again: token reused
        sample_ballot(poll, 5, ip_hash=first.ip_hash),  # the first's address again: limited
        sample_ballot(poll, 6, ip_hash=first.ip_hash, limited=False),  # allowlisted
        sample_ballot(poll, 9, idempotency_key="i1"),  # the first's key, another voter's
    ]
    later = int(time.time() * 1000) + 60_000  # a deadline the call meets
    reply = await vote(
        keys=script_keys(poll.id), args=decide_args(poll.id, head, ballots, later, LIMITS)
    )
    minute, decided, verdicts, counts = decode_decide_reply(reply, len(ballots))
    assert abs(decided - time.time() * 1000) < 60_000  # Redis's clock: this machine's
    assert [outcome for outcome, _, _, _ in verdicts] == [
        "accepted",
        "duplicate",
        "replayed",
        "accepted",
        "token_reused",
        "challenge",
        "accepted",
        "idempotency_key_reused",
    ]
    assert verdicts[5][1:] == (
        1,
        "address",
        False,
    )  # the pressure: its first attempt over the limit
    assert [retry for i, (_, retry, _, _) in enumerate(verdicts) if i != 5] == [0] * 7
    assert counts == {"11": 2, "12": 1, "13": 1}
    assert minute.isdigit()

    # A second call on a poll that also marks addresses: a refused vote leaves no mark.
    both = HEAD._replace(ip_mark_ttl=3600)
    second = [sample_ballot(poll, 7, ip_hash="77ip"), sample_ballot(poll, 8, ip_hash="77ip")]
    reply = await vote(
        keys=script_keys(poll.id), args=decide_args(poll.id, both, second, later, LIMITS)
    )
    assert [v for v, *_ in decode_decide_reply(reply, 2).verdicts] == ["accepted", "duplicate"]
    # A call Redis runs past its deadline, or while the poll is rebuilt, changes nothing.
    gone = [sample_ballot(poll, 10)]
    past = int(time.time() * 1000) - 1
    assert await vote(
        keys=script_keys(poll.id), args=decide_args(poll.id, both, gone, past, LIMITS)
    ) == [EXPIRED]
    await redis.set(keys.rebuilding_key(poll.id), 1)
    assert await vote(
        keys=script_keys(poll.id), args=decide_args(poll.id, both, gone, later, LIMITS)
    ) == [REBUILDING]
    await redis.delete(keys.rebuilding_key(poll.id))

    accepted = [ballots[0], ballots[3], ballots[6], second[0]]
    # Every limited attempt meets the limiter, replays and reused tokens included;
    # allowlisted votes skip it.
    passed = [*ballots[:6], ballots[7], *second]
    expected = {
        *script_keys(poll.id)[:3],  # the rebuild flag is down
        *(keys.voter_mark_key(poll.id, b.voter_hash) for b in accepted),
        keys.ip_mark_key(poll.id, "77ip"),
        keys.idempotency_key(poll.id, "i1"),
        keys.nonce_mark_key(poll.id, "n1"),
        # Limiter state of every vote that passed the limiter, duplicates included.
        *(keys.ip_rate_key(poll.id, b.ip_hash) for b in passed),
        # ...and the one it refused spent no network budget.
        *(keys.network_rate_key(poll.id, b.network_hash) for b in passed if b is not ballots[5]),
        # ...and watched it for the signals.
        keys.signals_key(poll.id, ballots[5].ip_hash),
    }
    prefix = keys.poll_prefix(poll.id)
    found = {k.decode() async for k in redis.scan_iter()} - {keys.EPOCH}
    # Other polls' keys may be written meanwhile (the app's tally flush); anything else,
    # a key named by the scripts themselves included, would show here.
    assert {k for k in found if k.startswith(prefix) or not k.startswith("{p:")} == expected
    assert await redis.hgetall(keys.stats_key(poll.id)) == {
        b"accepted": b"4",
        b"duplicate": b"2",
        b"replayed": b"1",
        b"token_reused": b"1",
        b"challenged": b"1",
        b"invalid": b"1",
        b"tokened": b"1",
        b"since": str(decided).encode(),  # this Redis's first decision for the poll
    }
    # The key's mark holds the request it answered.
    assert await redis.get(keys.idempotency_key(poll.id, "i1")) == (
        fingerprint(first.choices, first.voter_hash).encode()
    )

    # Take back the first (its ledger write failed) and the fourth (the ledger had it).
    await undo(keys=script_keys(poll.id), args=undo_args(poll.id, minute, [first], UNDO_FAILED))
    await undo(
        keys=script_keys(poll.id), args=undo_args(poll.id, minute, [ballots[3]], UNDO_DUPLICATE)
    )
    assert await redis.hgetall(keys.counts_key(poll.id)) == {
        b"11": b"2",  # ballot 6 and the second call's first
        b"12": b"0",
        b"13": b"0",
    }
    assert not await redis.exists(keys.voter_mark_key(poll.id, first.voter_hash))
    assert not await redis.exists(keys.idempotency_key(poll.id, "i1"))
    assert await redis.exists(keys.voter_mark_key(poll.id, ballots[3].voter_hash))
    assert await redis.exists(keys.nonce_mark_key(poll.id, "n1"))
    stats = await redis.hgetall(keys.stats_key(poll.id))
    assert (stats[b"accepted"], stats[b"failed"], stats[b"duplicate"]) == (b"2", b"1", b"3")
    assert await redis.hget(keys.minutes_key(poll.id), minute) in (b"2", b"1")
