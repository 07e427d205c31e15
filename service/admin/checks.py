"""Checks of the admin API's values: each turns what a client sent into what is stored,
or raises BadRequest naming the field at fault."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args
from urllib.parse import SplitResult, urlsplit

import idna
import msgspec
from confusable_homoglyphs import confusables
from msgspec import UNSET

from service.admin.schemas import MAX_OPTIONS, Kind, OptionSpec, SiteCreate, SiteUpdate
from service.core import cursor as cursors
from service.core.errors import BadRequest
from service.core.i18n import gettext
from service.core.validation import clean_text
from service.feedback.scales import checked_points, checked_scale, scale_values
from service.polls.model import RATING_KINDS, Poll
from service.widget.theme import check_theme

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
POLL_STATUSES = ("draft", "open", "closed", "archived")


def could_be_slug(slug: str) -> bool:
    """Could a site have this slug? Asked before any lookup (PostgreSQL refuses NUL bytes)."""
    return _SLUG.match(slug) is not None


def check_slug(slug: str) -> str:
    if not could_be_slug(slug):
        raise BadRequest("slug must be lowercase letters, digits and dashes (max 63)", field="slug")
    return slug


def int_in(value: int, field: str, low: int, high: int) -> int:
    if not low <= value <= high:
        raise BadRequest(f"{field} must be between {low} and {high}", field=field)
    return value


def origins(values: list[str]) -> list[str]:
    if len(values) > 50:
        raise BadRequest("at most 50 allowed origins", field="allowed_origins")
    out = []
    for value in values:
        try:
            parts = urlsplit(value)
        except ValueError:  # an unclosed IPv6 bracket
            parts = urlsplit("")
        if (
            not value.isprintable()
            or " " in value
            or parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.path not in ("", "/")
            or parts.query
            or parts.fragment
            or parts.username
            or len(value) > 200
        ):
            raise BadRequest(
                f"{value!r} is not an origin like https://news.example.vn",
                field="allowed_origins",
            )
        out.append(f"{parts.scheme}://{_origin_host(value, parts.hostname)}{_port(parts)}")
    return sorted(set(out))


def edited_origins(current: list[str], *, add: list[str], remove: list[str]) -> list[str]:
    """The allowed origins after adding and removing some, each checked as on create."""
    added = origins(add)
    removed = set(origins(remove))
    return origins(sorted((set(current) | set(added)) - removed))


_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*")


def _origin_host(value: str, host: str) -> str:
    """The host as a browser writes it in an Origin header: an IP literal, or an ASCII
    name (an international name in its punycode form). A wildcard never matches an
    Origin, so it is refused rather than stored to fail silently."""
    if ":" in host:  # an IPv6 literal (urlsplit dropped its brackets)
        try:
            return f"[{ipaddress.IPv6Address(host).compressed}]"
        except ValueError:
            pass
    else:
        try:
            ascii_host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            ascii_host = ""
        if _HOST.fullmatch(ascii_host):
            return ascii_host
    raise BadRequest(
        f"{value!r} is not an origin like https://news.example.vn"
        " (one host per entry: no wildcards)",
        field="allowed_origins",
    )


def _port(parts: SplitResult) -> str:
    try:
        port = parts.port
    except ValueError:
        port = -1
    if port is None:
        return ""
    if not 0 < port < 65536:
        raise BadRequest(f"{parts.geturl()!r} has no valid port", field="allowed_origins")
    return f":{port}"


def networks(values: list[str]) -> list[str]:
    if len(values) > 100:
        raise BadRequest("at most 100 allowlisted networks", field="allowlisted_networks")
    try:
        return sorted({str(ipaddress.ip_network(v, strict=False)) for v in values})
    except ValueError:
        raise BadRequest(
            "allowlisted_networks must hold CIDR networks like 203.0.113.0/24",
            field="allowlisted_networks",
        ) from None


def _looks(label: str) -> str:
    """How a label reads: invisible format characters (zero-width space, joiners) gone,
    compatibility forms folded, case ignored."""
    visible = "".join(ch for ch in label if unicodedata.category(ch) != "Cf")
    return unicodedata.normalize("NFKC", visible).casefold()


def options(labels: list[str]) -> list[str]:
    if not 2 <= len(labels) <= MAX_OPTIONS:
        raise BadRequest(f"a poll needs 2 to {MAX_OPTIONS} options", field="options")
    cleaned = [clean_text(label, "options", max_len=200) for label in labels]
    for label in cleaned:
        # A word mixing scripts ("Сó": a Cyrillic С before a Latin ó) looks like another
        # option, or like a real word, while it is not: no honest label needs it.
        for word in label.split():
            if confusables.is_mixed_script(word):
                raise BadRequest(
                    f"option {label!r} mixes letters of different scripts in {word!r}",
                    field="options",
                )
    if len({_looks(label) for label in cleaned}) != len(cleaned):
        raise BadRequest(
            "options must differ from one another (also once invisible characters and"
            " letter case are set aside)",
            field="options",
        )
    return cleaned


@dataclass(frozen=True)
class OptionSet:
    """A poll's options as they are stored: labels in order, a scale's values, and the
    position of the option that takes the voter's own words."""

    labels: list[str]
    values: list[int] | None = None
    other: int | None = None


def choice_options(given: list[str | OptionSpec]) -> OptionSet:
    labels = options([o.label if isinstance(o, OptionSpec) else o for o in given])
    marked = [i for i, o in enumerate(given) if isinstance(o, OptionSpec) and o.other]
    if len(marked) > 1:
        raise BadRequest("only one option may take the voter's own words", field="options")
    return OptionSet(labels, None, marked[0] if marked else None)


def scale_options(kind: str, points: int, locale: str) -> OptionSet:
    """A scale's options, one per point: labelled by name (Likert) or by number."""
    values = scale_values(kind, points)
    if kind == "likert":
        labels = [gettext(locale, f"likert{points}_{v}") for v in values]
    else:
        labels = [str(v) for v in values]
    return OptionSet(labels, values, None)


def poll_options(
    kind: str, given: list[str | OptionSpec] | None, points: int | None, locale: str
) -> tuple[OptionSet, int]:
    """The options of a poll of `kind` and its number of scale points (5 for choices)."""
    if kind in RATING_KINDS:
        if given:
            raise BadRequest(
                f"a {kind} question takes no options: its scale makes them", field="options"
            )
        n = checked_points(kind, points)
        return scale_options(kind, n, locale), n
    if points is not None:
        raise BadRequest("range is for rating and Likert questions", field="range")
    if given is None:
        raise BadRequest(f"a poll needs 2 to {MAX_OPTIONS} options", field="options")
    return choice_options(given), 5


def scale_label(text: str, field: str) -> str:
    return clean_text(text, field, max_len=60, min_len=0)


def question(text: str) -> str:
    return clean_text(text, "question", max_len=500)


def description(text: str) -> str:
    return clean_text(text, "description", max_len=2000, min_len=0, multiline=True)


def dedupe_window_hours(hours: int) -> int:
    return int_in(hours, "dedupe_window_hours", 1, 8760)


def choice_bounds(kind: str, low: int | None, high: int | None, n_options: int) -> tuple[int, int]:
    if kind in RATING_KINDS:
        if low not in (None, 1) or high not in (None, 1):
            raise BadRequest(f"a {kind} question takes exactly one answer", field="max_choices")
        return 1, 1
    if kind == "single":
        if low not in (None, 1) or high not in (None, 1):
            raise BadRequest("a single-choice poll takes exactly one choice", field="max_choices")
        return 1, 1
    low = 1 if low is None else low
    high = n_options if high is None else high
    if not 1 <= low <= n_options:
        raise BadRequest(f"min_choices must be between 1 and {n_options}", field="min_choices")
    if not low <= high <= n_options:
        raise BadRequest(f"max_choices must be between {low} and {n_options}", field="max_choices")
    return low, high


def window(opens_at: datetime | None, closes_at: datetime | None) -> None:
    for name, value in (("opens_at", opens_at), ("closes_at", closes_at)):
        if value is None:
            continue
        if value.tzinfo is None:
            raise BadRequest(
                f"{name} needs a time zone, e.g. 2026-12-01T08:00:00+07:00", field=name
            )
        try:
            # 0001-01-01T00:00+14:00 is a valid datetime but has no UTC equivalent.
            value.astimezone(UTC)
        except OverflowError:
            raise BadRequest(f"{name} is out of range", field=name) from None
    if opens_at is not None and closes_at is not None and closes_at <= opens_at:
        raise BadRequest("closes_at must be after opens_at", field="closes_at")


def poll_status(status: str | None) -> str | None:
    if status is not None and status not in POLL_STATUSES:
        raise BadRequest("status must be draft, open, closed or archived", field="status")
    return status


def poll_kind(kind: str | None) -> str | None:
    kinds = get_args(Kind)
    if kind is not None and kind not in kinds:
        raise BadRequest(f"kind must be one of {', '.join(kinds)}", field="kind")
    return kind


def search_pattern(text: str | None) -> str | None:
    """An ILIKE pattern finding `text` anywhere (its own % and _ taken literally)."""
    if text is None or not text.strip():
        return None
    if len(text) > 200 or not text.isprintable():
        raise BadRequest("search must be up to 200 printable characters", field="search")
    escaped = text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def query_int(raw: str | None, field: str, default: int, low: int, high: int) -> int:
    if raw is None:
        return default
    # isdigit() alone lets "²" through, and int() refuses digit strings over 4300 long.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 9):
        raise BadRequest(f"{field} must be a whole number", field=field)
    return int_in(int(raw), field, low, high)


def encode_cursor(created_at: datetime, poll_id: str) -> str:
    """The next_cursor of a page of polls that ends with this poll (core/cursor.py)."""
    return cursors.encode_cursor(created_at, poll_id)


def decode_cursor(raw: str | None) -> tuple[datetime | None, str | None]:
    return cursors.decode_cursor(raw, cursors.POLL_ID)


def site_values(body: SiteCreate | SiteUpdate) -> dict[str, Any]:
    """The checked values of every field the body sets, by column."""
    out: dict[str, Any] = {}
    if body.name is not UNSET:
        out["name"] = clean_text(body.name, "name", max_len=200)
    if body.allowed_origins is not UNSET:
        out["allowed_origins"] = origins(body.allowed_origins)
    if body.default_locale is not UNSET:
        out["default_locale"] = body.default_locale
    for field, high in (
        ("rate_per_ip_per_minute", 10_000),
        ("burst_per_ip", 10_000),
        # The limiter counts in whole milliseconds per vote: 60,000 a minute is its finest.
        ("rate_per_network_per_minute", 60_000),
        ("burst_per_network", 100_000),
    ):
        value = getattr(body, field)
        if value is not UNSET:
            out[field] = int_in(value, field, 1, high)
    if body.allowlisted_networks is not UNSET:
        out["allowlisted_networks"] = networks(body.allowlisted_networks)
    if body.require_widget_token is not UNSET:
        out["require_widget_token"] = body.require_widget_token
    if body.theme is not UNSET:
        out["theme"] = check_theme(body.theme)
    if body.limits is not UNSET:
        out["limits"] = msgspec.to_builtins(body.limits)
    return out


def poll_changes(given: dict[str, Any], poll: Poll) -> dict[str, Any]:
    """The checked values, by column, of the fields an update gives an existing poll:
    choice bounds, the scale and the schedule are checked against what the poll keeps.
    New options come back under "options" as an OptionSet."""
    values: dict[str, Any] = {}
    if "question" in given:
        values["question"] = question(given["question"])
    if "description" in given:
        values["description"] = description(given["description"])
    for key in ("locale", "results_visibility", "dedupe_mode", "comments"):
        if key in given:
            values[key] = given[key]
    if "scale" in given:
        values["scale"] = checked_scale(given["scale"])
    for key in ("low_label", "high_label"):
        if key in given:
            values[key] = scale_label(given[key], key)
    if "max_comments_per_voter" in given:
        values["max_comments_per_voter"] = int_in(
            given["max_comments_per_voter"], "max_comments_per_voter", 1, 10
        )
    if "dedupe_window_hours" in given:
        values["dedupe_window_hours"] = dedupe_window_hours(given["dedupe_window_hours"])
    kind = given.get("kind", poll.kind)
    if {"kind", "options", "scale_range"} & set(given):
        locale = given.get("locale", poll.locale)
        if kind in RATING_KINDS:
            # Another kind or another range makes other points: the range carries over
            # only within the same kind.
            points = given.get("scale_range", poll.scale_range if kind == poll.kind else None)
            values["options"], values["scale_range"] = poll_options(
                kind, given.get("options"), points, locale
            )
        elif "scale_range" in given:
            raise BadRequest("range is for rating and Likert questions", field="range")
        elif "options" in given:
            values["options"], _ = poll_options(kind, given["options"], None, locale)
        elif poll.kind in RATING_KINDS:
            raise BadRequest(f"a {kind} poll needs options", field="options")
    n_options = len(values["options"].labels) if "options" in values else len(poll.options)
    if {"kind", "min_choices", "max_choices", "options"} & set(given):
        # Bounds carry over only from a poll that was multiple-choice already: a single
        # choice poll's 1..1 would make the new multiple-choice poll single in all but name.
        keep = kind == "multiple" and poll.kind == "multiple"
        low = given.get("min_choices", poll.min_choices if keep else None)
        high = given.get("max_choices", poll.max_choices if keep else None)
        if kind == "multiple" and "options" in given and "max_choices" not in given:
            high = min(high or n_options, n_options)
        values["kind"] = kind
        values["min_choices"], values["max_choices"] = choice_bounds(kind, low, high, n_options)
    opens_at = given.get("opens_at", poll.opens_at)
    closes_at = given.get("closes_at", poll.closes_at)
    window(opens_at, closes_at)
    for key in ("opens_at", "closes_at"):
        if key in given:
            values[key] = given[key]
    return values
