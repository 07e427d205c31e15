"""The codes a console page shows (moderation reasons, audit actions and objects, token
scopes) in the page's words: each code has a catalog message; a code this list does not
know yet reads as "another reason" / "other action", never as the bare code."""

from __future__ import annotations

from collections.abc import Mapping

from service.feedback.filters import REASONS as FILTER_REASONS
from service.feedback.moderation import ACTIONS as MODERATION_ACTIONS

# Why a comment is where it is: a filter's hold, a burst, readers' reports, a reader's
# report reason, or the moderator's move (moderation.py writes `moderator_<action>`).
REASONS = tuple(
    dict.fromkeys(
        (
            *FILTER_REASONS,
            "burst",
            "reports",
            "spam",
            "off_topic",
            *(f"moderator_{a}" for a in MODERATION_ACTIONS),
        )
    )
)
AUDIT_ACTIONS = (
    "create",
    "update",
    "open",
    "close",
    "archive",
    "delete",
    "release_held",
    "discard_held",
    *(f"comment.{a}" for a in MODERATION_ACTIONS),
    "set_password",
    "change_password",
    "change_role",
    "disable",
    "revoke",
    "sign_in",
    "sign_out",
)
OBJECTS = ("poll", "site", "token", "user", "comment")


class Words:
    """One page's catalog, read by code (templates call `say.reason(c.reason)`)."""

    def __init__(self, t: Mapping[str, str]) -> None:
        self._t = t

    def reason(self, code: str) -> str:
        return self._t.get(f"reason_{code}") or self._t["reason_unknown"]

    def action(self, code: str) -> str:
        return self._t.get(f"audit_do_{code.replace('.', '_')}") or self._t["audit_do_unknown"]

    def object(self, code: str) -> str:
        return self._t.get(f"object_{code}") or self._t["object_unknown"]

    def actor(self, code: str) -> str:
        """Who acted, when not a person: the command line, or an API token by number."""
        kind, _, number = code.partition(":")
        if kind == "token":
            return f"{self._t['object_token']} {number}"
        return self._t["actor_cli"] if code == "cli" else self._t["object_unknown"]

    def scope(self, code: str) -> str:
        return self._t.get(f"scope_{code.replace(':', '_')}") or code
