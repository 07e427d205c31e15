"""The vote path's positional wire formats, each spelled here and nowhere else in Python:
the decide call (engine → vote.lua) and its reply, the undo call (engine → undo.lua), and
the packed ledger batch (engine → PostgreSQL, unpacked by LEDGER_INSERT).

The encoders run on every batch. The decoders of the two calls and of the ledger batch
exist for tests (Lua and SQL do the real decoding); the decide reply's decoder is the
engine's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from service.voting import keys
from service.voting.ballot import Ballot

# ---------------------------------------------------------------- both scripts

# Outcome codes vote.lua answers with (index = code), and the limit a refusal tripped.
OUTCOMES = (
    "",
    "accepted",
    "duplicate",
    "rate_limited",  # the address's limit
    "replayed",
    "token_reused",
    "rate_limited",  # the network's limit
    "idempotency_key_reused",  # the key came with another request
    "challenge",  # over the address's limit, no proof: asked for one
    "challenge",  # over the network's limit, no proof
    "held",  # written to the ledger as held, out of the tally
    "proof_reused",  # this solved challenge was already spent
)
LIMITS = ("", "", "", "address", "", "", "network", "", "address", "network", "", "")
# Why a vote was held (the detail of outcome "held"), as the ledger's hold_reason says it.
HOLD_REASONS = ("", "budget", "no_token", "flood", "regular", "no_script")
# Whole-call answers (the reply's first element): nothing was decided, nothing changed.
EXPIRED = -1  # Redis ran the call after its deadline: the engine had given up on it
REBUILDING = -2  # the poll's counts are being rebuilt from the ledger
_CALL_REFUSALS = {EXPIRED: "expired", REBUILDING: "rebuilding"}
# Added to an accepted or held vote's detail when it spent its proof of work.
SPENT_PROOF = 16
# The per-member key kinds each script touches, in the order their stems travel in ARGV.
DECIDE_KINDS = (
    keys.IDEMPOTENCY,
    keys.NONCE_MARK,
    keys.IP_RATE,
    keys.NETWORK_RATE,
    keys.VOTER_MARK,
    keys.IP_MARK,
)
# Read only over a rate limit (vote.lua's over_limit), after the limits head.
LIMIT_KINDS = (keys.SOLVED_RATE, keys.PROOF_MARK, keys.SIGNALS)
UNDO_KINDS = (keys.VOTER_MARK, keys.IP_MARK, keys.IDEMPOTENCY, keys.NONCE_MARK, keys.PROOF_MARK)
ABSENT = "-"  # an entry's absent idempotency key or token nonce


def script_keys(poll_id: str) -> list[str]:
    """KEYS of both scripts: the poll's counts, stats and minutes hashes, and its rebuild
    flag (which only vote.lua reads)."""
    return [
        keys.counts_key(poll_id),
        keys.stats_key(poll_id),
        keys.minutes_key(poll_id),
        keys.rebuilding_key(poll_id),
    ]


def fingerprint(choices: Sequence[str], voter_hash: str) -> str:
    """What an idempotency mark holds: the request it answered (vote.lua builds the same
    string from a decide entry), so a key reused for another request is told apart."""
    return f"{','.join(choices)} {voter_hash}"


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _present(field: str) -> str | None:
    return None if field == ABSENT else field


# ---------------------------------------------------------------- decide (vote.lua)


class DecideHead(NamedTuple):
    """The decide call's fixed arguments, shared by every vote of the call."""

    ip_interval_ms: int
    ip_tolerance_ms: int
    network_interval_ms: int
    network_tolerance_ms: int
    voter_mark_ttl: int  # seconds; 0: no voter check
    ip_mark_ttl: int  # seconds; 0: no address check
    idempotency_ttl: int
    token_nonce_ttl: int


class LimitsHead(NamedTuple):
    """The fair-limit figures of the decide call (the poll's site's Limits), read only for
    a vote over a rate limit."""

    solved_interval_ms: int
    solved_tolerance_ms: int
    proof_mark_ttl: int
    signal_window: int
    hold_tokenless: int  # 1 or 0
    tokened_min_votes: int
    flood_share_percent: int
    flood_min_votes: int
    regular_min_votes: int
    regular_jitter_percent: int
    skew_points: int


class DecideEntry(NamedTuple):
    """What the decide call carries of one ballot."""

    choices: tuple[str, ...]
    voter_hash: str
    ip_hash: str
    network_hash: str
    idempotency_key: str | None
    token_nonce: str | None
    limited: bool
    proof: str | None = None  # the spent-mark id of a verified ALTCHA solution
    fresh: bool = False  # the voter came without a cookie
    user_agent: str | None = None  # the browser family
    form: bool = False  # the no-JavaScript form, which cannot solve a challenge


class DecideCall(NamedTuple):
    head: DecideHead
    stems: dict[str, str]  # key kind -> stem
    entries: list[DecideEntry]
    deadline_ms: int
    limits: LimitsHead
    held_field: str


_LIMITS_AT = 2 + len(DecideHead._fields) + len(DECIDE_KINDS)
_DECIDE_ENTRIES = _LIMITS_AT + len(LimitsHead._fields) + len(LIMIT_KINDS) + 1


def decide_args(
    poll_id: str,
    head: DecideHead,
    ballots: Sequence[Ballot],
    deadline_ms: int,
    limits: LimitsHead,
) -> list[int | str]:
    """ARGV of vote.lua: n, the deadline (unix ms, Redis's clock: past it the call decides
    nothing), the head, the key stems, the limits head, its stems and the held field,
    then one entry per ballot ("choices voter ip net idem nonce limited proof fresh ua
    form", choices comma-separated)."""
    args: list[int | str] = [
        len(ballots),
        deadline_ms,
        *head,
        *keys.stems(poll_id, DECIDE_KINDS),
        *limits,
        *keys.stems(poll_id, LIMIT_KINDS),
        keys.HELD_FIELD,
    ]
    for b in ballots:
        args.append(
            f"{','.join(b.choices)} {b.voter_hash} {b.ip_hash} {b.network_hash}"
            f" {b.idempotency_key or ABSENT} {b.token_nonce or ABSENT} {'1' if b.limited else '0'}"
            f" {b.proof or ABSENT} {'1' if b.fresh else '0'} {b.user_agent or ABSENT}"
            f" {'1' if b.form else '0'}"
        )
    return args


def decode_decide_args(args: Sequence[Any]) -> DecideCall:
    n = int(args[0])
    head = DecideHead(*(int(a) for a in args[2 : 2 + len(DecideHead._fields)]))
    stems = dict(zip(DECIDE_KINDS, map(_text, args[2 + len(head) : _LIMITS_AT]), strict=True))
    limits_end = _LIMITS_AT + len(LimitsHead._fields)
    limits = LimitsHead(*(int(a) for a in args[_LIMITS_AT:limits_end]))
    stems.update(zip(LIMIT_KINDS, map(_text, args[limits_end : _DECIDE_ENTRIES - 1]), strict=True))
    entries = []
    for raw in args[_DECIDE_ENTRIES : _DECIDE_ENTRIES + n]:
        choices, voter, ip, net, idem, nonce, limited, proof, fresh, ua, form = _text(raw).split(
            " "
        )
        entries.append(
            DecideEntry(
                tuple(choices.split(",")),
                voter,
                ip,
                net,
                _present(idem),
                _present(nonce),
                limited == "1",
                _present(proof),
                fresh == "1",
                _present(ua),
                form == "1",
            )
        )
    assert len(entries) == n == len(args) - _DECIDE_ENTRIES, "entry count"
    return DecideCall(head, stems, entries, int(args[1]), limits, _text(args[_DECIDE_ENTRIES - 1]))


class DecideReply(NamedTuple):
    minute: str  # the unix minute the accepted votes were counted in
    decided_ms: int  # when, in Redis's clock (unix ms): the votes' ledger ids carry it
    # (outcome, detail, limit tripped or '', spent its proof) per vote, in the call's
    # order; the detail is the retry ms of a rate limit, the pressure of a challenge, the
    # hold reason's code
    verdicts: list[tuple[str, int, str, bool]]
    counts: dict[str, int]  # the poll's counts after the call


def decode_decide_reply(reply: list[Any], n: int) -> DecideReply:
    """vote.lua's reply: {now ms, outcome_1, retry_ms_1, ..., counts as HGETALL}, or
    {EXPIRED} / {REBUILDING} for a call that decided nothing."""
    head = int(reply[0])
    if head < 0:
        return DecideReply("", 0, [(_CALL_REFUSALS[head], 0, "", False)] * n, {})
    tail = reply[1 + 2 * n :]
    verdicts = []
    for i, code in enumerate(reply[1 : 1 + 2 * n : 2]):
        detail = reply[2 + 2 * i]
        spent = code in (1, 10) and detail >= SPENT_PROOF
        verdicts.append(
            (OUTCOMES[code], detail - SPENT_PROOF if spent else detail, LIMITS[code], spent)
        )
    return DecideReply(
        str(head // 60_000),
        head,
        verdicts,
        {tail[j].decode(): int(tail[j + 1]) for j in range(0, len(tail), 2)},
    )


# ---------------------------------------------------------------- undo (undo.lua)

# Why a counted vote is taken back: the ledger write failed (forget it, marks included), or
# the ledger already held it (Redis had lost the marks: keep them, count a duplicate).
UNDO_FAILED, UNDO_DUPLICATE = "failed", "duplicate"
# The same for a held vote, which was added to the held field rather than the counts.
HELD_SUFFIX = "_held"


class UndoEntry(NamedTuple):
    choices: tuple[str, ...]
    voter_hash: str
    ip_hash: str
    idempotency_key: str | None
    token_nonce: str | None
    proof: str | None
    reason: str


class UndoCall(NamedTuple):
    minute: str
    stems: dict[str, str]
    entries: list[UndoEntry]
    held_field: str


_UNDO_ENTRIES = 3 + len(UNDO_KINDS)


def undo_args(poll_id: str, minute: str, ballots: Sequence[Ballot], reason: str) -> list[int | str]:
    """ARGV of undo.lua: n, the minute the votes were counted in, the key stems, the
    counts hash's held field, then one entry per ballot ("choices voter ip idem nonce
    proof reason"; a held vote's reason ends in HELD_SUFFIX; proof is the one the vote
    spent, which the engine leaves on the ballot only then)."""
    args: list[int | str] = [
        len(ballots),
        minute,
        *keys.stems(poll_id, UNDO_KINDS),
        keys.HELD_FIELD,
    ]
    for b in ballots:
        args.append(
            f"{','.join(b.choices)} {b.voter_hash} {b.ip_hash}"
            f" {b.idempotency_key or ABSENT} {b.token_nonce or ABSENT} {b.proof or ABSENT}"
            f" {reason}"
        )
    return args


def decode_undo_args(args: Sequence[Any]) -> UndoCall:
    n = int(args[0])
    stems = dict(zip(UNDO_KINDS, map(_text, args[2 : _UNDO_ENTRIES - 1]), strict=True))
    entries = []
    for raw in args[_UNDO_ENTRIES : _UNDO_ENTRIES + n]:
        choices, voter, ip, idem, nonce, proof, reason = _text(raw).split(" ")
        entries.append(
            UndoEntry(
                tuple(choices.split(",")),
                voter,
                ip,
                _present(idem),
                _present(nonce),
                _present(proof),
                reason,
            )
        )
    assert len(entries) == n == len(args) - _UNDO_ENTRIES, "entry count"
    return UndoCall(_text(args[1]), stems, entries, _text(args[_UNDO_ENTRIES - 1]))


# ---------------------------------------------------------------- the ledger batch

# The batch travels as ONE text parameter: a record per vote, fields split by the ASCII
# unit separator, records by the record separator. asyncpg encodes eleven arrays element by
# element in Python-visible calls; one string is a single copy, and PostgreSQL (on its
# own core) does the splitting. No field can hold either separator: hashes and ids are
# hex, choices digits, the user-agent family a fixed word, and the page URL is refused
# when it has any control character (see core.urls.clean_page_url).
FIELD, RECORD = "\x1f", "\x1e"

# The batch unpacked into the ledger's columns; an absent field travels as ''.
LEDGER_ROWS = """
SELECT f[1]::uuid, f[2], string_to_array(f[3], ',')::bigint[], f[4], f[5], f[6],
       nullif(f[7], ''), nullif(f[8], ''), nullif(f[9], ''), nullif(f[10], ''),
       nullif(f[11], ''), f[12], nullif(f[13], ''), nullif(f[14], ''), nullif(f[15], '')
FROM unnest(string_to_array($1::text, E'\\x1e')) AS r,
     LATERAL string_to_array(r, E'\\x1f') AS f
"""
LEDGER_INSERT = f"""
INSERT INTO votes (id, poll_id, option_ids, voter_hash, ip_hash, network_hash, voter_key,
                   ip_key, idempotency_key, page_url, user_agent, state,
                   hold_reason, proof_key, token_nonce){LEDGER_ROWS}ON CONFLICT DO NOTHING
"""


class LedgerRow(NamedTuple):
    """One record of the batch, as LEDGER_ROWS reads it (ids as text)."""

    id: str
    poll_id: str
    option_ids: tuple[str, ...]
    voter_hash: str
    ip_hash: str
    network_hash: str
    voter_key: str | None
    ip_key: str | None
    idempotency_key: str | None
    page_url: str | None
    user_agent: str | None
    state: str | None  # counted or held
    hold_reason: str | None
    proof_key: str | None  # the proof of work the vote spent (one vote per proof)
    token_nonce: str | None  # the widget token's nonce (single use)


def ledger_record(vote_id: str, b: Ballot, hold_reason: str = "") -> str:
    """One vote's record; a vote with a hold reason is written as held. The ballot's proof
    is the one the vote spent (the engine leaves it there only then)."""
    return FIELD.join(
        (
            vote_id,
            b.poll.id,
            ",".join(b.choices),
            b.voter_hash,
            b.ip_hash,
            b.network_hash,
            b.voter_key or "",
            b.ip_key or "",
            b.idempotency_key or "",
            b.page_url or "",
            b.user_agent or "",
            "held" if hold_reason else "counted",
            hold_reason,
            b.proof or "",
            b.token_nonce or "",
        )
    )


def ledger_batch(records: list[str]) -> str:
    return RECORD.join(records)


def decode_ledger_batch(batch: str) -> list[LedgerRow]:
    rows = []
    for record in batch.split(RECORD):
        f = record.split(FIELD)
        assert len(f) == len(LedgerRow._fields), "field count"
        rows.append(
            LedgerRow(
                f[0], f[1], tuple(f[2].split(",")), f[3], f[4], f[5], *(x or None for x in f[6:])
            )
        )
    return rows
