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
class Limits:
    """A site's fair-limit thresholds (sites.limits, JSON; absent keys take these defaults).

    Over the rate limits a vote must carry a proof of work; proofs count up to the solved
    budget per address, beyond which (or when a signal says stuffing) votes are held."""

    solved_per_ip_per_minute: int = 300  # votes with a valid proof, per address
    solved_burst_per_ip: int = 150
    difficulty: int = 20_000  # ALTCHA maxnumber at the limit; rises with the pressure
    max_difficulty: int = 1_000_000
    hold_tokenless: bool = True  # hold over-limit votes without a widget token, once the
    # poll has taken widget votes (its site embeds the widget)
    tokened_min_votes: int = 20  # widget votes before a poll counts as embedded
    flood_share_percent: int = 80  # one browser family and option, of an address's
    flood_min_votes: int = 10  # over-limit attempts in the signal window, hold beyond
    regular_min_votes: int = 10  # fresh cookies at intervals steadier than
    regular_jitter_percent: int = 10  # this spread (of their mean) are a machine
    skew_points: int = 40  # an address's share of one option this far above the poll's

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Limits:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


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
    limits: Limits = Limits()


@dataclass(frozen=True)
class Option:
    id: str
    label: str
    value: int | None = None  # the scale value of a rating, NPS or Likert option
    other: bool = False  # "another opinion": the voter may add their own words


# Kinds whose options are the points of a scale, answered with {"rating": n}.
RATING_KINDS = frozenset({"rating", "nps", "likert"})


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
    scale: str = "stars"  # how a rating is drawn: stars or numbers
    scale_range: int = 5  # points of a rating or Likert scale (NPS: 11)
    low_label: str = ""
    high_label: str = ""
    comments: str = "off"  # off / premoderated / postmoderated
    max_comments_per_voter: int = 1

    @cached_property
    def option_ids(self) -> frozenset[str]:
        return frozenset(o.id for o in self.options)

    @property
    def is_rating(self) -> bool:
        return self.kind in RATING_KINDS

    @cached_property
    def option_of_value(self) -> dict[int, str]:
        """Scale value -> option id, for a rating poll's {"rating": n}."""
        return {o.value: o.id for o in self.options if o.value is not None}

    @cached_property
    def other_option(self) -> str | None:
        """The id of the option that takes the voter's own words, if any."""
        return next((o.id for o in self.options if o.other), None)

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
            "options": [_option_view(o) for o in self.options],
            "comments": self.comments,
            "max_comments_per_voter": self.max_comments_per_voter,
            **(self._scale_view() if self.is_rating else {}),
        }

    def _scale_view(self) -> dict[str, Any]:
        return {
            "scale": self.scale,
            "range": self.scale_range,
            "low_label": self.low_label,
            "high_label": self.high_label,
        }


def _option_view(option: Option) -> dict[str, Any]:
    view: dict[str, Any] = {"id": option.id, "label": option.label}
    if option.value is not None:
        view["value"] = option.value
    if option.other:
        view["other"] = True
    return view
