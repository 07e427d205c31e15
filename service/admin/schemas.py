"""The admin API's request bodies: msgspec types that both validate and document them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from service.widget.theme import MODES

Locale = Literal["vi", "en"]
Kind = Literal["single", "multiple", "rating", "nps", "likert"]
Scale = Literal["stars", "number"]
CommentsMode = Literal["off", "premoderated", "postmoderated"]
Visibility = Literal["always", "after_vote", "after_close", "never"]
DedupeMode = Literal["none", "cookie", "ip", "cookie_ip", "verified"]

MAX_OPTIONS = 20

# Fields an editor may still change once people have voted: none of them changes
# what a voter answered or how a vote was counted.
SAFE_AFTER_VOTES = frozenset(
    {
        "description",
        "closes_at",
        "results_visibility",
        "locale",
        "comments",
        "max_comments_per_voter",
        "scale",
        "low_label",
        "high_label",
    }
)

# Where a constraint is exactly what admin/checks.py enforces, msgspec enforces it while
# decoding and the document shows it. Free text is checked after NFC and trimming
# (core/validation.clean_text), which msgspec cannot express: those limits are stated in
# the document only (extra_json_schema), and clean_text stays the one check.

# The `(?!\n)` keeps a trailing newline out: Python's `$` would match before it (and the
# database's CHECK would then refuse the row), while JSON Schema's `$` never does.
Slug = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9-]{0,62}(?!\n)$")]

# No control, surrogate, private-use or bidi-control characters, and at least one
# character that is neither space nor an invisible format character.
# Every control (Cc), format (Cf) and private-use (Co) code point: clean_text refuses the
# first and last and does not count format characters as text (tests/ops/test_schema_valid.py
# checks the list against unicodedata). Characters beyond the BMP are written as
# themselves: JSON Schema's regex dialect has no escape for them that Python's shares.
_BAD = (
    "\\x00-\\x1f\\x7f-\\x9f\\u00ad\\u0600-\\u0605\\u061c\\u06dd\\u070f\\u0890\\u0891"
    "\\u08e2\\u180e\\u200b-\\u200f\\u202a-\\u202e\\u2060-\\u206f\\ue000-\\uf8ff\\ufeff"
    "\\ufff9-\\ufffb"
    "\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000f0000-\U0010ffff"
)
_SPACE = "\\s\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_LINE = f"^[^{_BAD}]*[^{_BAD}{_SPACE}][^{_BAD}]*$"
_PARAGRAPHS = "^[^" + _BAD.replace("\\x00-\\x1f", "\\x00-\\x08\\x0b-\\x1f") + "]*$"


def _text(max_len: int, what: str) -> Meta:
    return Meta(
        extra_json_schema={"maxLength": max_len, "pattern": _LINE},
        description=f"{what}: 1 to {max_len} characters once trimmed, no control characters",
    )


Name = Annotated[str, _text(200, "the site's name")]
Question = Annotated[str, _text(500, "the question")]
OptionLabel = Annotated[str, _text(200, "an option's label")]
Description = Annotated[
    str,
    Meta(
        extra_json_schema={"maxLength": 2000, "pattern": _PARAGRAPHS},
        description="up to 2000 characters; line breaks and tabs allowed, no other control"
        " characters",
    ),
]


class OptionSpec(msgspec.Struct, forbid_unknown_fields=True):
    """An option given as an object: its label and whether it takes the voter's own words."""

    label: OptionLabel
    other: bool = False


Options = Annotated[
    list[OptionLabel | OptionSpec],
    Meta(
        min_length=2,
        max_length=MAX_OPTIONS,
        extra_json_schema={"uniqueItems": True},
        description="2 to 20 labels (or {label, other}), distinct once case and invisible"
        " characters are set aside; at most one marked other (choice kinds only)",
    ),
]
# checks.origins, as a pattern no wider than it: a lower-case ASCII (or punycode-free) host
# of labels up to 63 long with single inner hyphens (IDNA refuses "ab--c"), or an IPv4
# literal; a port from 1 to 65535; nothing after but one slash.
_LABEL = "(?![a-z0-9-]{64})[a-z0-9]+(?:-[a-z0-9]+)*"
_PORT = "(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
ORIGIN_PATTERN = f"^https?://{_LABEL}(?:\\.{_LABEL})*(?::{_PORT})?/?(?!\\n)$"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_HEX = "[0-9a-f]{1,4}"
NETWORK_PATTERN = (
    f"^(?:{_OCTET}(?:\\.{_OCTET}){{3}}(?:/(?:3[0-2]|[12]?[0-9]))?"
    f"|(?:(?:{_HEX}:){{7}}{_HEX}|(?:{_HEX}:){{1,7}}:)(?:/(?:12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)"
    "(?!\\n)$"
)
Origins = Annotated[
    list[Annotated[str, Meta(extra_json_schema={"maxLength": 200, "pattern": ORIGIN_PATTERN})]],
    Meta(
        max_length=50,
        description="up to 50 origins like https://news.example.vn (scheme, host, port only)",
    ),
]
Networks = Annotated[
    list[Annotated[str, Meta(extra_json_schema={"pattern": NETWORK_PATTERN})]],
    Meta(max_length=100, description="up to 100 CIDR networks like 203.0.113.0/24"),
]
RatePerIp = Annotated[int, Meta(ge=1, le=10_000)]
BurstPerIp = Annotated[int, Meta(ge=1, le=10_000)]
# The limiter counts in whole milliseconds per vote: 60,000 a minute is its finest.
RatePerNetwork = Annotated[int, Meta(ge=1, le=60_000)]
BurstPerNetwork = Annotated[int, Meta(ge=1, le=100_000)]
WindowHours = Annotated[int, Meta(ge=1, le=8760)]
Points = Annotated[
    int,
    Meta(ge=3, le=11, description="rating: 3 to 10 points (default 5); likert: 5 or 7; nps: 11"),
]
ScaleLabel = Annotated[
    str,
    Meta(
        extra_json_schema={"maxLength": 60, "pattern": f"^[^{_BAD}]*$"},
        description="words under one end of a rating scale: up to 60 characters",
    ),
]
CommentsPerVoter = Annotated[int, Meta(ge=1, le=10)]
# widget/theme.THEME_CHECKS, spelled as JSON Schema (check_theme stays the check).
THEME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "accent": {"type": "string", "pattern": "^#(?:[0-9a-fA-F]{3}){1,2}$"},
        "font": {"type": "string", "pattern": "^[A-Za-z0-9 ,'-]{1,80}$"},
        "radius": {"type": "string", "pattern": "^(?:[0-9]|[0-2][0-9]|3[0-2])$"},
        "mode": {"type": "string", "enum": list(MODES)},
    },
    # (msgspec writes the dict's own additionalProperties; the names are limited here)
    "propertyNames": {"enum": ["accent", "font", "radius", "mode"]},
}
Theme = Annotated[dict[str, str], Meta(extra_json_schema=THEME_SCHEMA)]
# An offset is required (checks.window): the document says so with a pattern.
Moment = Annotated[
    datetime,
    Meta(
        extra_json_schema={
            # A day its month has (29 February in leap years only), then the time.
            "pattern": "^(?!0000)(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
            "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
            "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)"
            "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,6})?"
            "(?:Z|[+-](?:0[0-9]|1[0-3]):[0-5][0-9])$"
        }
    ),
]


class SiteLimits(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Fair-limit thresholds (README "Fair limits"); absent fields keep their defaults."""

    solved_per_ip_per_minute: Annotated[int, Meta(ge=1, le=60_000)] | UnsetType = UNSET
    solved_burst_per_ip: Annotated[int, Meta(ge=1, le=100_000)] | UnsetType = UNSET
    difficulty: Annotated[int, Meta(ge=1_000, le=10_000_000)] | UnsetType = UNSET
    max_difficulty: Annotated[int, Meta(ge=1_000, le=50_000_000)] | UnsetType = UNSET
    hold_tokenless: bool | UnsetType = UNSET
    tokened_min_votes: Annotated[int, Meta(ge=1, le=1_000_000)] | UnsetType = UNSET
    flood_share_percent: Annotated[int, Meta(ge=1, le=100)] | UnsetType = UNSET
    flood_min_votes: Annotated[int, Meta(ge=2, le=100_000)] | UnsetType = UNSET
    regular_min_votes: Annotated[int, Meta(ge=3, le=100_000)] | UnsetType = UNSET
    regular_jitter_percent: Annotated[int, Meta(ge=0, le=100)] | UnsetType = UNSET
    skew_points: Annotated[int, Meta(ge=1, le=100)] | UnsetType = UNSET


class SiteCreate(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    name: Name
    allowed_origins: Origins = []
    default_locale: Locale = "vi"
    rate_per_ip_per_minute: RatePerIp = 10
    burst_per_ip: BurstPerIp = 5
    rate_per_network_per_minute: RatePerNetwork = 300
    burst_per_network: BurstPerNetwork = 100
    allowlisted_networks: Networks = []
    require_widget_token: bool = False
    theme: Theme = {}
    limits: SiteLimits | UnsetType = UNSET


class SiteUpdate(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | UnsetType = UNSET
    allowed_origins: Origins | UnsetType = UNSET  # replaces the whole list
    add_origins: Origins | UnsetType = UNSET  # or: adds these, keeping the others
    remove_origins: Origins | UnsetType = UNSET  # and/or: removes these
    default_locale: Locale | UnsetType = UNSET
    rate_per_ip_per_minute: RatePerIp | UnsetType = UNSET
    burst_per_ip: BurstPerIp | UnsetType = UNSET
    rate_per_network_per_minute: RatePerNetwork | UnsetType = UNSET
    burst_per_network: BurstPerNetwork | UnsetType = UNSET
    allowlisted_networks: Networks | UnsetType = UNSET
    require_widget_token: bool | UnsetType = UNSET
    theme: Theme | UnsetType = UNSET
    limits: SiteLimits | UnsetType = UNSET  # replaces the whole object
    rotate_voter_secret: bool = False


class PollCreate(msgspec.Struct, forbid_unknown_fields=True):
    site: Slug
    question: Question
    options: Options | None = None  # choice kinds; a scale's options follow from it
    description: Description = ""
    kind: Kind = "single"
    scale: Scale = "stars"
    scale_range: Points | None = msgspec.field(default=None, name="range")
    low_label: ScaleLabel = ""
    high_label: ScaleLabel = ""
    comments: CommentsMode = "off"
    max_comments_per_voter: CommentsPerVoter = 1
    min_choices: int | None = None
    max_choices: int | None = None
    locale: Locale | None = None
    results_visibility: Visibility = "always"
    dedupe_mode: DedupeMode = "cookie"
    dedupe_window_hours: WindowHours = 24
    opens_at: Moment | None = None
    closes_at: Moment | None = None


class PollUpdate(msgspec.Struct, forbid_unknown_fields=True):
    question: Question | UnsetType = UNSET
    options: Options | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    kind: Kind | UnsetType = UNSET
    scale: Scale | UnsetType = UNSET
    scale_range: Points | UnsetType = msgspec.field(default=UNSET, name="range")
    low_label: ScaleLabel | UnsetType = UNSET
    high_label: ScaleLabel | UnsetType = UNSET
    comments: CommentsMode | UnsetType = UNSET
    max_comments_per_voter: CommentsPerVoter | UnsetType = UNSET
    min_choices: int | UnsetType | None = UNSET
    max_choices: int | UnsetType | None = UNSET
    locale: Locale | UnsetType = UNSET
    results_visibility: Visibility | UnsetType = UNSET
    dedupe_mode: DedupeMode | UnsetType = UNSET
    dedupe_window_hours: WindowHours | UnsetType = UNSET
    opens_at: Moment | UnsetType | None = UNSET
    closes_at: Moment | UnsetType | None = UNSET

    def given(self) -> dict[str, Any]:
        """The fields this body sets, by name."""
        return {
            f: getattr(self, f) for f in self.__struct_fields__ if getattr(self, f) is not UNSET
        }
