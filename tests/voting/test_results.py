"""The one percentage rule: each option rounded half up on its own."""

from __future__ import annotations

import pytest

from service.voting.results import percentages


@pytest.mark.parametrize(
    ("counts", "shown"),
    [
        # Equal counts, equal shares (largest remainder made these 17/17/17/17/16/16).
        ([1, 1, 1, 1, 1, 1], [17] * 6),
        ([1, 1, 1], [33, 33, 33]),
        ([2, 1, 1], [50, 25, 25]),
        # Half up, each on its own: 12.5 -> 13 and 87.5 -> 88 (the sum is 101).
        ([1, 7], [13, 88]),
        ([1, 199], [1, 100]),  # 0.5 -> 1, 99.5 -> 100
        ([1, 999], [0, 100]),  # 0.1 -> 0
        ([0, 0], [0, 0]),
        ([], []),
    ],
)
def test_each_share_is_rounded_half_up_on_its_own(counts: list[int], shown: list[int]) -> None:
    assert percentages(counts) == shown


def test_equal_counts_always_show_equal_percentages() -> None:
    for n in range(1, 12):
        for votes in range(1, 30):
            shares = percentages([votes] * n + [votes * 3])
            assert len(set(shares[:n])) == 1, (n, votes, shares)
            assert abs(sum(shares) - 100) <= (n + 1) / 2
