"""The results as an SVG image: bars in the site's accent (a scale's points by their
labels, with its average, median and NPS under them), and the headers that keep the
image inert wherever it is opened."""

from __future__ import annotations

import hashlib
from typing import Any

from service.core.i18n import gettext, votes_text
from service.core.templates import templates
from service.polls.model import Poll
from service.widget.figures import result_rows
from service.widget.theme import DEFAULT_THEME, LIGHT, ui_color

_SVG = templates.get_template("results.svg")
_WIDTH = 600
_ROW = 46
_MAX_LABEL = 70


def render_results(poll: Poll, results: dict[str, Any], locale: str) -> bytes:
    """The image of `results` (shaped as the results API's) in `locale`."""
    accent = poll.site.theme.get("accent", DEFAULT_THEME["accent"])
    bar_color = ui_color(accent, LIGHT["bg"], LIGHT["fg"])
    shaped = result_rows(results, locale, poll)
    rows = [
        {
            **row,
            "label": row["label"]
            if len(row["label"]) <= _MAX_LABEL
            else row["label"][: _MAX_LABEL - 1] + "…",
            "y": 64 + i * _ROW,
            "bar": round((_WIDTH - 48) * row["percent"] / 100, 1),
        }
        for i, row in enumerate(shaped["rows"])
    ]
    # A scale's figures (average, median, NPS) go on one line under the bars.
    stats = " · ".join(f"{s['name']}: {s['value']}" for s in shaped["stats"] or ())
    height = 64 + len(rows) * _ROW + 40 + (28 if stats else 0)
    return _SVG.render(
        width=_WIDTH,
        height=height,
        question=poll.question,
        rows=rows,
        total=gettext(locale, "total", votes=votes_text(results["total"], locale)),
        stats=stats,
        accent=bar_color,
        lang=locale,
    ).encode()


def svg_headers(body: bytes, *, private: bool) -> dict[str, str]:
    """The image's headers: its ETag, its caching (`private` when the answer depends on
    who asks), and a policy that lets it run and load nothing."""
    return {
        "ETag": '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"',
        "Cache-Control": "private, no-cache" if private else "public, max-age=60",
        # An SVG opened on its own is a document: it may run nothing and load nothing.
        "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
