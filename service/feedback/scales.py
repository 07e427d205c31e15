"""Rating, NPS and Likert scales: which values a kind takes, their labels, and the
summary of a scale's answers (count, average, median, distribution, NPS)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from service.core.errors import BadRequest
from service.core.i18n import gettext
from service.polls.model import Poll

RATING_RANGE = (3, 10)
LIKERT_POINTS = (5, 7)
NPS_POINTS = 11  # 0..10
SCALES = ("stars", "number")
PROMOTER, PASSIVE = 9, 7  # NPS: 9-10 promote, 7-8 are passive, 0-6 detract


def scale_values(kind: str, points: int) -> list[int]:
    """The values a kind's options stand for, in order."""
    if kind == "nps":
        return list(range(NPS_POINTS))
    return list(range(1, points + 1))


def checked_points(kind: str, points: int | None) -> int:
    """The number of points a new scale of this kind gets, or BadRequest naming `range`."""
    if kind == "nps":
        if points not in (None, NPS_POINTS):
            raise BadRequest("an NPS question always runs from 0 to 10", field="range")
        return NPS_POINTS
    if kind == "likert":
        if points is None:
            return 5
        if points not in LIKERT_POINTS:
            raise BadRequest("a Likert scale has 5 or 7 points", field="range")
        return points
    low, high = RATING_RANGE
    if points is None:
        return 5
    if not low <= points <= high:
        raise BadRequest(f"a rating runs from 1 to between {low} and {high}", field="range")
    return points


def value_label(poll: Poll, value: int, locale: str | None = None) -> str:
    """How one point of the scale reads: Likert points by name, others by number."""
    if poll.kind == "likert":
        return gettext(locale or poll.locale, f"likert{poll.scale_range}_{value}")
    return str(value)


def end_labels(poll: Poll, locale: str | None = None) -> tuple[str, str]:
    """The words under the two ends of the scale: the editor's, or the standard ones."""
    loc = locale or poll.locale
    if poll.kind == "nps":
        low = poll.low_label or gettext(loc, "nps_low")
        high = poll.high_label or gettext(loc, "nps_high")
        return low, high
    if poll.kind == "likert":
        return value_label(poll, 1, loc), value_label(poll, poll.scale_range, loc)
    return poll.low_label, poll.high_label


def _one_decimal(value: Decimal) -> float:
    return float(value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def summary(values: list[int], votes: list[int], kind: str) -> dict[str, Any]:
    """count, average and median of the answers (None with no answers) and, for NPS, the
    score over actual answers: promoters' share minus detractors', in whole points."""
    count = sum(votes)
    out: dict[str, Any] = {"count": count, "average": None, "median": None}
    if count:
        total = sum((Decimal(v) * n for v, n in zip(values, votes, strict=True)), Decimal(0))
        out["average"] = _one_decimal(total / count)
        out["median"] = _median(values, votes, count)
    if kind == "nps":
        promoters = sum(n for v, n in zip(values, votes, strict=True) if v >= PROMOTER)
        detractors = sum(n for v, n in zip(values, votes, strict=True) if v < PASSIVE)
        score = None
        if count:
            exact = Decimal(promoters - detractors) * 100 / count
            score = int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        out["nps"] = {
            "score": score,
            "promoters": promoters,
            "passives": count - promoters - detractors,
            "detractors": detractors,
        }
    return out


def _median(values: list[int], votes: list[int], count: int) -> float:
    """The middle answer; with an even count, halfway between the two middle ones."""
    wanted = [(count - 1) // 2, count // 2]  # 0-based ranks of the middle answer(s)
    found: list[int] = []
    seen = 0
    for value, n in zip(values, votes, strict=True):
        while len(found) < 2 and wanted[len(found)] < seen + n:
            found.append(value)
        seen += n
    return _one_decimal((Decimal(found[0]) + Decimal(found[1])) / 2)


def checked_scale(scale: str) -> str:
    if scale not in SCALES:
        raise BadRequest("scale must be stars or number", field="scale")
    return scale
