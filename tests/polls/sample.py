"""Polls built in memory, for tests that need no admin API: one open single-choice poll
with the defaults the admin API would give, which each test module adjusts."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from service.polls.model import Option, Poll, Site

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


def a_poll(site: Site, **changes: Any) -> Poll:
    """An open single-choice poll of three options on `site`; `changes` set fields."""
    poll = Poll(
        id="p1",
        site=site,
        question="Có nên?",
        description="",
        kind="single",
        min_choices=1,
        max_choices=1,
        locale="vi",
        status="open",
        opens_at=None,
        closes_at=None,
        results_visibility="always",
        dedupe_mode="cookie",
        dedupe_window_hours=24,
        options=(Option("o1", "Có"), Option("o2", "Không"), Option("o3", "Ý kiến khác")),
        created_at=EPOCH,
        updated_at=EPOCH,
    )
    return dataclasses.replace(poll, **changes)
