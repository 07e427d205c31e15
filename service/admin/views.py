"""What the admin API shows of a site or a poll, and what of it goes to the audit log."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import asyncpg

from service.polls.model import Limits, Poll
from service.polls.store import SITE_COLUMNS
from service.widget.sizing import frame_heights

_SITE_FIELDS = SITE_COLUMNS.replace(" ", "").split(",")


def site_view(row: asyncpg.Record) -> dict[str, Any]:
    view = {key: row[key] for key in _SITE_FIELDS}
    view["allowlisted_networks"] = [str(n) for n in row["allowlisted_networks"]]
    # Every threshold in force, defaults included: what the editor sees is what applies.
    view["limits"] = Limits.from_json(dict(row["limits"])).as_json()
    view.pop("id")
    return view


def poll_view(poll: Poll, public_url: str) -> dict[str, Any]:
    view = poll.public_view(datetime.now(UTC))
    view.update(
        status=poll.status,
        phase=view["status"],
        dedupe_mode=poll.dedupe_mode,
        dedupe_window_hours=poll.dedupe_window_hours,
        created_at=poll.created_at,
        updated_at=poll.updated_at,
        embed=embed_snippets(poll, public_url),
    )
    return view


def embed_snippets(poll: Poll, public_url: str) -> dict[str, str]:
    """The embed codes an editor pastes (docs/embedding/snippets.md). The iframe is as
    tall as the poll's tallest state (widget/sizing.py); it asks the browser to send the
    full article address, which credits the vote to it. The loader's frame reserves the
    form's height and then follows the page; without JavaScript its <noscript> iframe
    shows instead of nothing."""
    heights = frame_heights(poll)
    iframe = (
        f'<iframe src="{public_url}/embed/{poll.id}" title="{_attr(poll.question)}"'
        ' loading="lazy" referrerpolicy="no-referrer-when-downgrade"'
        f' style="width:100%;border:0;height:{heights.tallest}px"></iframe>'
    )
    return {
        "url": f"{public_url}/embed/{poll.id}",
        "snippet": (
            f'<div data-civicpoll="{poll.id}" data-height="{heights.form}">'
            f"<noscript>{iframe}</noscript></div>"
            f'<script async src="{public_url}/widget.js"></script>'
        ),
        "iframe": iframe,
    }


def _attr(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
    )


def site_audit_view(view: dict[str, Any]) -> dict[str, Any]:
    """A site view as the audit log keeps it: the voter-signing secret never goes there."""
    return {k: v for k, v in view.items() if k != "voter_secret"}


def poll_audit_view(view: dict[str, Any]) -> dict[str, Any]:
    """A poll view as the audit log keeps it: the embed code follows from the id."""
    return {k: v for k, v in view.items() if k != "embed"}
