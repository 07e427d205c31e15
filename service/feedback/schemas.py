"""The feedback routes' request bodies: msgspec types that validate and document them."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

MAX_BODY, MAX_NAME = 1000, 60
MAX_BULK = 500


class CommentBody(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[
        str,
        msgspec.Meta(
            extra_json_schema={"maxLength": MAX_BODY},
            description="the comment: 1 to 1000 characters once trimmed, some of them visible"
            " (not only zero-width or other invisible characters); line breaks allowed, no"
            " other control characters",
        ),
    ]
    name: (
        Annotated[
            str,
            msgspec.Meta(
                extra_json_schema={"maxLength": MAX_NAME},
                description="a display name, up to 60 characters (default: a reader)",
            ),
        ]
        | None
    ) = None
    token: Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": 100})] | None = None
    voter: Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": 300})] | None = None
    page: Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": 2000})] | None = None


class ReportBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Literal["spam", "offensive", "off_topic"]
    # The widget's form token: the reader of a browser that keeps no cookie.
    token: Annotated[str, msgspec.Meta(extra_json_schema={"maxLength": 100})] | None = None


Action = Literal["approve", "reject", "hold", "spam", "restore"]
# `(?!\n)`: Python's `$` also matches before a trailing newline, which the check refuses.
REASON_SCHEMA = {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,39}(?!\n)$"}
Reason = Annotated[str, msgspec.Meta(pattern=REASON_SCHEMA["pattern"])]


class ActionBody(msgspec.Struct, forbid_unknown_fields=True):
    reason: Reason | None = None


class BulkBody(msgspec.Struct, forbid_unknown_fields=True):
    ids: Annotated[
        list[Annotated[str, msgspec.Meta(extra_json_schema={"format": "uuid"})]],
        msgspec.Meta(min_length=1, max_length=MAX_BULK, description="comment ids (UUIDs)"),
    ]
    action: Action
    reason: Reason | None = None
