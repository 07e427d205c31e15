"""Own words given with a vote (the option marked "other"): written as comments in the
same transaction as the votes that carry them, so an accepted vote never loses its text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from service.feedback.filters import fingerprint
from service.feedback.intake import RECENT_FOR_DUPLICATES, first_state, recent_texts
from service.storage.db import Conn
from service.voting.ballot import Ballot

# Only votes the ledger took get their text: the join finds the rows just inserted (vote
# ids are fresh, so a refused vote has none). The author's hashes are the vote's own.
OWN_WORDS_INSERT = """
INSERT INTO comments (id, poll_id, vote_id, body, state, reason, detail, fingerprint,
                      voter_hash, ip_hash, network_hash, page_url)
SELECT gen_random_uuid(), v.poll_id, v.id, t.body, t.state, t.reason, t.detail, t.fp,
       v.voter_hash, v.ip_hash, v.network_hash, v.page_url
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
     AS t(vote_id, body, state, reason, detail, fp)
JOIN votes v ON v.id = t.vote_id
"""


async def own_words_args(con: Conn, votes: Sequence[tuple[str, Ballot]]) -> list[Any]:
    """OWN_WORDS_INSERT's arguments for (vote id, ballot) pairs whose ballot has text,
    each text screened like a comment: against its poll's recent texts, and against the
    texts before it in the same batch (they are not in the table yet)."""
    recent = await recent_texts(con, (ballot.poll.id for _, ballot in votes))
    columns: list[list[str]] = [[], [], [], [], [], []]
    for vote_id, ballot in votes:
        text = ballot.other_text
        assert text is not None
        earlier = recent[ballot.poll.id]
        state, reason, detail = first_state(ballot.poll, text, earlier[:RECENT_FOR_DUPLICATES])
        earlier.insert(0, text)
        for column, value in zip(
            columns, (vote_id, text, state, reason, detail, fingerprint(text)), strict=True
        ):
            column.append(value)
    return columns
