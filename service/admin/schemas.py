"""The admin API's request bodies: msgspec types that both validate and document them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

Locale = Literal["vi", "en"]
Kind = Literal["single", "multiple"]
Visibility = Literal["always", "after_vote", "after_close", "never"]
DedupeMode = Literal["none", "cookie", "ip", "cookie_ip", "verified"]

MAX_OPTIONS = 20

# Fields an editor may still change once people have voted: none of them changes
# what a voter answered or how a vote was counted.
SAFE_AFTER_VOTES = frozenset({"description", "closes_at", "results_visibility", "locale"})


class SiteCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: str
    name: str
    allowed_origins: list[str] = []
    default_locale: Locale = "vi"
    rate_per_ip_per_minute: int = 10
    burst_per_ip: int = 5
    rate_per_network_per_minute: int = 300
    burst_per_network: int = 100
    allowlisted_networks: list[str] = []
    require_widget_token: bool = False
    theme: dict[str, str] = {}


class SiteUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: str | UnsetType = UNSET
    allowed_origins: list[str] | UnsetType = UNSET  # replaces the whole list
    add_origins: list[str] | UnsetType = UNSET  # or: adds these, keeping the others
    remove_origins: list[str] | UnsetType = UNSET  # and/or: removes these
    default_locale: Locale | UnsetType = UNSET
    rate_per_ip_per_minute: int | UnsetType = UNSET
    burst_per_ip: int | UnsetType = UNSET
    rate_per_network_per_minute: int | UnsetType = UNSET
    burst_per_network: int | UnsetType = UNSET
    allowlisted_networks: list[str] | UnsetType = UNSET
    require_widget_token: bool | UnsetType = UNSET
    theme: dict[str, str] | UnsetType = UNSET
    rotate_voter_secret: bool = False


class PollCreate(msgspec.Struct, forbid_unknown_fields=True):
    site: str
    question: str
    options: list[str]
    description: str = ""
    kind: Kind = "single"
    min_choices: int | None = None
    max_choices: int | None = None
    locale: Locale | None = None
    results_visibility: Visibility = "always"
    dedupe_mode: DedupeMode = "cookie"
    dedupe_window_hours: int = 24
    opens_at: datetime | None = None
    closes_at: datetime | None = None


class PollUpdate(msgspec.Struct, forbid_unknown_fields=True):
    question: str | UnsetType = UNSET
    options: list[str] | UnsetType = UNSET
    description: str | UnsetType = UNSET
    kind: Kind | UnsetType = UNSET
    min_choices: int | UnsetType | None = UNSET
    max_choices: int | UnsetType | None = UNSET
    locale: Locale | UnsetType = UNSET
    results_visibility: Visibility | UnsetType = UNSET
    dedupe_mode: DedupeMode | UnsetType = UNSET
    dedupe_window_hours: int | UnsetType = UNSET
    opens_at: datetime | UnsetType | None = UNSET
    closes_at: datetime | UnsetType | None = UNSET

    def given(self) -> dict[str, Any]:
        """The fields this body sets, by name."""
        return {
            f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not UNSET
        }
