"""oEmbed for an /embed URL: which poll the URL names, and the rich answer framing it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from markupsafe import escape

from service.core.i18n import gettext
from service.core.validation import whole_number
from service.polls.model import Poll
from service.widget.sizing import frame_heights

# oEmbed answers are public and the same for everyone: any site may read them.
HEADERS = {"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"}


def embedded_poll_id(url: str, public_url: str) -> str:
    """The poll id an /embed URL of this service names; "" for any other URL."""
    prefix = f"{public_url}/embed/"
    return urlsplit(url).path.rsplit("/", 1)[-1] if url.startswith(prefix) else ""


def _bounded(size: int, limit: str) -> int:
    bound = whole_number(limit, 6)
    return size if bound is None else min(size, bound)


def oembed_answer(poll: Poll, public_url: str, maxwidth: str, maxheight: str) -> dict[str, Any]:
    """The oEmbed "rich" answer for the poll: an iframe of its embed page, within the
    asked-for bounds (a bound that is not a number is ignored)."""
    width = _bounded(600, maxwidth)
    # A consumer pastes the iframe as it is (no script resizes it): every state fits.
    height = _bounded(frame_heights(poll).tallest, maxheight)
    src = f"{public_url}/embed/{poll.id}"
    title = gettext(poll.locale, "poll_title", question=poll.question)
    html = (
        f'<iframe src="{escape(src)}" title="{escape(title)}" loading="lazy"'
        f' width="{width}" height="{height}" style="max-width:100%;border:0"></iframe>'
    )
    return {
        "version": "1.0",
        "type": "rich",
        "provider_name": "civicpoll",
        "provider_url": public_url,
        "title": poll.question,
        "html": html,
        "width": width,
        "height": height,
        "cache_age": 3600,
    }
