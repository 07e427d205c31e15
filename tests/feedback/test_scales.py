"""The results maths of a scale: average, median, NPS score, with no answers and extremes."""

from __future__ import annotations

import pytest

from service.core.errors import BadRequest
from service.feedback.scales import checked_points, scale_values, summary

NPS = scale_values("nps", 11)


def test_scale_values_per_kind() -> None:
    assert scale_values("rating", 5) == [1, 2, 3, 4, 5]
    assert NPS == list(range(11))
    assert scale_values("likert", 7) == [1, 2, 3, 4, 5, 6, 7]


def test_average_and_median_of_ratings() -> None:
    # 1, 4, 4, 5: average 3.5, median halfway between 4 and 4
    got = summary([1, 2, 3, 4, 5], [1, 0, 0, 2, 1], "rating")
    assert got == {"count": 4, "average": 3.5, "median": 4.0}
    # 1, 2: an even count's median lies halfway between the middle two
    assert summary([1, 2, 3], [1, 1, 0], "rating")["median"] == 1.5
    # 2, 2, 3: average 2.333.. shown to one decimal
    assert summary([1, 2, 3], [0, 2, 1], "rating")["average"] == 2.3


def test_no_answers_have_no_average() -> None:
    got = summary([1, 2, 3], [0, 0, 0], "rating")
    assert got == {"count": 0, "average": None, "median": None}


def test_nps_with_no_answers() -> None:
    got = summary(NPS, [0] * 11, "nps")
    assert got["nps"] == {"score": None, "promoters": 0, "passives": 0, "detractors": 0}


def test_nps_all_promoters_and_all_detractors() -> None:
    promoters = [0] * 9 + [3, 1]
    assert summary(NPS, promoters, "nps")["nps"]["score"] == 100
    detractors = [1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0]
    got = summary(NPS, detractors, "nps")["nps"]
    assert got == {"score": -100, "promoters": 0, "passives": 0, "detractors": 7}


def test_nps_score_over_actual_answers() -> None:
    # 2 promoters (9, 10), 1 passive (8), 3 detractors (0, 6, 6): (2 - 3) / 6 = -16.7 -> -17
    votes = [1, 0, 0, 0, 0, 0, 2, 0, 1, 1, 1]
    got = summary(NPS, votes, "nps")["nps"]
    assert got == {"score": -17, "promoters": 2, "passives": 1, "detractors": 3}


@pytest.mark.parametrize(
    ("kind", "points", "field_ok"),
    [
        ("rating", 2, False),
        ("rating", 11, False),
        ("rating", 10, True),
        ("likert", 6, False),
        ("likert", 7, True),
        ("nps", 10, False),
        ("nps", None, True),
    ],
)
def test_points_per_kind(kind: str, points: int | None, field_ok: bool) -> None:
    if field_ok:
        assert checked_points(kind, points) >= 3
    else:
        with pytest.raises(BadRequest) as refused:
            checked_points(kind, points)
        assert refused.value.field == "range"
