"""The results as the widget words them: each option's votes and percent, and the total,
in the reader's locale (the page and the SVG show the same text)."""

from __future__ import annotations

from typing import Any

from service.core.i18n import gettext, plural, votes_text


def result_rows(results: dict[str, Any], locale: str) -> dict[str, Any]:
    return {
        "total_text": gettext(locale, "total", votes=votes_text(results["total"], locale)),
        # Disclosure: votes held for review, in words ("12 lượt bình chọn đang chờ xem xét").
        "held_text": plural(locale, "held_votes", held) if (held := results.get("held")) else "",
        "rows": [
            {
                "id": o["id"],
                "label": o["label"],
                "votes": o["votes"],
                "percent": o["percent"],
                "percent_text": gettext(locale, "percent", n=o["percent"]),
                "votes_text": votes_text(o["votes"], locale),
            }
            for o in results["options"]
        ],
    }
