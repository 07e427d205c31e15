"""The poll form: its fields as the admin API's body (so the API's own checks and messages
apply), and a poll's values back into the form. Times are Vietnam time (UTC+7)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from service.admin.schemas import SAFE_AFTER_VOTES, PollCreate, PollUpdate
from service.console.web import Form
from service.core.errors import BadRequest
from service.core.http import encode_json
from service.core.i18n import VIETNAM_TIME
from service.core.validation import decode

# Fields in the form's order; `site` only when a poll is created.
FIELDS = (
    "question",
    "description",
    "options",
    "kind",
    "scale",
    "range",
    "low_label",
    "high_label",
    "min_choices",
    "max_choices",
    "locale",
    "results_visibility",
    "dedupe_mode",
    "dedupe_window_hours",
    "opens_at",
    "closes_at",
    "comments",
    "max_comments_per_voter",
)
_NUMBERS = ("min_choices", "max_choices", "dedupe_window_hours", "range", "max_comments_per_voter")
# Numbers the API defaults when absent, rather than taking null.
_DEFAULTED = ("dedupe_window_hours", "max_comments_per_voter", "range")
_MOMENTS = ("opens_at", "closes_at")


def _moment(text: str, field: str) -> str | None:
    """A datetime-local value read as Vietnam time, as an ISO moment with its offset."""
    text = text.strip()
    if not text:
        return None
    try:
        local = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest("a date and time like 2026-12-02 08:00", field=field) from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=VIETNAM_TIME)
    return local.isoformat()


def _number(text: str, field: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise BadRequest(f"{field} must be a whole number", field=field)
    return int(text)


def _values(form: Form, names: tuple[str, ...]) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in names:
        if name not in form:
            continue  # a locked (disabled) field is not sent, so it does not change
        raw = form.get(name)
        if name == "options":
            labels = [line.strip() for line in raw.splitlines() if line.strip()]
            if not labels:
                continue  # a scale's options follow from its range; choice kinds get told
            options: list[Any] = list(labels)
            if form.get("other_last") == "on":
                # The last option takes the voter's own words ("Ý kiến khác: ...").
                options[-1] = {"label": labels[-1], "other": True}
            body[name] = options
        elif name in _NUMBERS:
            value = _number(raw, name)
            if value is not None or name not in _DEFAULTED:
                body[name] = value
        elif name in _MOMENTS:
            body[name] = _moment(raw, name)
        elif name == "locale" and not raw:
            body[name] = None
        else:
            body[name] = raw
    return body


def create_body(form: Form) -> PollCreate:
    body = _values(form, ("site", *FIELDS))
    if body.get("locale") is None:
        body.pop("locale", None)
    return decode(encode_json(body), PollCreate)


def update_body(form: Form) -> PollUpdate:
    body = _values(form, FIELDS)
    if body.get("locale") is None:
        body.pop("locale", None)
    return decode(encode_json(body), PollUpdate)


def local_input(moment: datetime | None) -> str:
    """A moment as a datetime-local value in Vietnam time."""
    return "" if moment is None else moment.astimezone(VIETNAM_TIME).strftime("%Y-%m-%dT%H:%M")


def form_values(poll: dict[str, Any]) -> dict[str, Any]:
    """A poll (the admin API's view) as the form shows it."""
    values = {name: poll.get(name) for name in FIELDS}
    choices = [o for o in poll["options"] if "value" not in o]  # a scale's rows are not typed
    values["options"] = "\n".join(o["label"] for o in choices)
    values["other_last"] = bool(choices) and bool(choices[-1].get("other"))
    for name in _MOMENTS:
        values[name] = local_input(poll[name])
    values["site"] = poll["site"]
    return values


def sent_values(form: Form) -> dict[str, Any]:
    """What the person typed, to show again next to the messages about it."""
    return {
        **{name: form.get(name) for name in ("site", *FIELDS)},
        "other_last": form.get("other_last") == "on",
    }


def locked_fields(has_votes: bool) -> frozenset[str]:
    return frozenset(FIELDS) - SAFE_AFTER_VOTES if has_votes else frozenset()
