"""Poll definitions as the vote path and the public see them: sites, options, polls."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from service.core.settings import Network

_ID_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0)


def new_poll_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(10))


_POLL_ID = re.compile(r"[A-Za-z0-9_-]{1,40}")


def looks_like_poll_id(value: str) -> bool:
    """Could this be a poll id? Checked before any lookup, so junk never reaches SQL."""
    return _POLL_ID.fullmatch(value) is not None


@dataclass(frozen=True)
class Site:
    id: int
    slug: str
    name: str
    allowed_origins: tuple[str, ...]
    default_locale: str
    voter_secret: bytes
    rate_per_ip_per_minute: int
    burst_per_ip: int
    rate_per_network_per_minute: int
    burst_per_network: int
    allowlisted_networks: tuple[Network, ...]
    require_widget_token: bool
    theme: dict[str, str]


@dataclass(frozen=True)
class Option:
    id: str
    label: str


@dataclass(frozen=True)
class Poll:
    id: str
    site: Site
    question: str
    description: str
    kind: str
    min_choices: int
    max_choices: int
    locale: str
    status: str
    opens_at: datetime | None
    closes_at: datetime | None
    results_visibility: str
    dedupe_mode: str
    dedupe_window_hours: int
    options: tuple[Option, ...]
    created_at: datetime
    updated_at: datetime

    @cached_property
    def option_ids(self) -> frozenset[str]:
        return frozenset(o.id for o in self.options)

    def phase(self, now: datetime) -> str:
        """open / not_open / closed, taking the schedule into account."""
        if self.status in ("closed", "archived"):
            return "closed"
        if self.status != "open":
            return "not_open"
        if self.opens_at is not None and now < self.opens_at:
            return "not_open"
        if self.closes_at is not None and now >= self.closes_at:
            return "closed"
        return "open"

    def results_public(self, now: datetime, has_voted: bool) -> bool:
        vis = self.results_visibility
        if vis == "always":
            return True
        if vis == "after_vote":
            return has_voted or self.phase(now) == "closed"
        if vis == "after_close":
            return self.phase(now) == "closed"
        return False

    def public_view(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site.slug,
            "question": self.question,
            "description": self.description,
            "kind": self.kind,
            "min_choices": self.min_choices,
            "max_choices": self.max_choices,
            "locale": self.locale,
            "status": self.phase(now),
            "opens_at": self.opens_at,
            "closes_at": self.closes_at,
            "results_visibility": self.results_visibility,
            "options": [{"id": o.id, "label": o.label} for o in self.options],
        }
