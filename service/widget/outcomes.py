"""Vote outcomes as the widget words them: each outcome code's catalog key, and the
messages the page's script needs."""

from __future__ import annotations

from service.polls.model import Poll

# The vote's error codes (or the form path's ?state=) and the catalog message for each:
# the page and the script show the same words for the same outcome.
OUTCOME_MESSAGES = {
    "voted": "voted",
    "held": "held",
    "already_voted": "already_voted",
    "rate_limited": "rate_limited",
    "poll_closed": "poll_closed",
    "poll_not_open": "poll_not_open",
    "unavailable": "unavailable",
    "invalid": "invalid",
    "unknown_option": "invalid",
    "invalid_choice_count": "choice_rule",
    "bad_token": "token",
    "token_expired": "token",
    "token_required": "token",
    "bad_origin": "bad_origin",
}
# The outcomes after which the reader has a vote in: no form, no error styling.
DONE = ("voted", "already_voted", "held")
# Messages a script needs; the rest of the catalog stays out of the page.
SCRIPT_MESSAGES = (
    "sending",
    "results",
    "votes_one",
    "votes_other",
    "total",
    "percent",
    "results_after_vote",
    "results_after_close",
    "results_hidden",
    "poll_closed",
    "error",
    "solving",
    "held_votes_one",
    "held_votes_other",
    *sorted(set(OUTCOME_MESSAGES.values()) - {"choice_rule"}),
)


def outcome_message(code: str | None) -> str | None:
    """The catalog key for a vote outcome; unknown codes get the generic error."""
    if not code:
        return None
    return OUTCOME_MESSAGES.get(code, "error")


def hidden_note(poll: Poll) -> str:
    """The catalog key saying when the poll's results will be shown."""
    return {"after_vote": "results_after_vote", "after_close": "results_after_close"}.get(
        poll.results_visibility, "results_hidden"
    )
