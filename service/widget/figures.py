"""The results as the widget words them: each option's votes and percent, and the total,
in the reader's locale (the page and the SVG show the same text); for a scale (rating,
NPS, Likert) each point's label, the average and median, and the NPS figures."""

from __future__ import annotations

from typing import Any

from service.core.i18n import format_number, gettext, plural, votes_text
from service.feedback.scales import value_label
from service.polls.model import Poll


def point_label(poll: Poll, value: int, locale: str) -> str:
    """How one point of a scale reads in the reader's language: "4 sao" for stars, the
    Likert name, or the number."""
    if poll.kind == "rating" and poll.scale == "stars":
        return plural(locale, "stars", value)
    return value_label(poll, value, locale)


def decimal_text(value: float | None, locale: str) -> str:
    """4.2 / 4,2; a dash for no answers."""
    if value is None:
        return "–"
    text = f"{value:.1f}".removesuffix(".0")
    return text.replace(".", ",") if locale == "vi" else text


def result_rows(results: dict[str, Any], locale: str, poll: Poll | None = None) -> dict[str, Any]:
    values = {o.id: o.value for o in poll.options} if poll is not None and poll.is_rating else {}
    rows = []
    for o in results["options"]:
        value = values.get(o["id"])
        rows.append(
            {
                "id": o["id"],
                "label": o["label"]
                if value is None or poll is None
                else point_label(poll, value, locale),
                "votes": o["votes"],
                "percent": o["percent"],
                "percent_text": gettext(locale, "percent", n=o["percent"]),
                "votes_text": votes_text(o["votes"], locale),
            }
        )
    shaped: dict[str, Any] = {
        "total_text": gettext(locale, "total", votes=votes_text(results["total"], locale)),
        # Disclosure: votes held for review, in words ("12 lượt bình chọn đang chờ xem xét").
        "held_text": plural(locale, "held_votes", held) if (held := results.get("held")) else "",
        "rows": rows,
        "stats": scale_stats(results, locale) if "average" in results else None,
    }
    return shaped


def scale_stats(results: dict[str, Any], locale: str) -> list[dict[str, str]]:
    """The summary lines under a scale's bars: (name, key, value) for each figure."""

    def line(key: str, name: str, value: str) -> dict[str, str]:
        return {"key": key, "name": gettext(locale, name), "value": value}

    stats = [
        line("count", "answers", format_number(results["count"], locale)),
        line("average", "average", decimal_text(results["average"], locale)),
        line("median", "median", decimal_text(results["median"], locale)),
    ]
    nps = results.get("nps")
    if nps is not None:
        score = nps["score"]
        stats.append(line("nps", "nps_score", "–" if score is None else str(score)))
        for part in ("promoters", "passives", "detractors"):
            stats.append(line(part, f"nps_{part}", format_number(nps[part], locale)))
    return stats
