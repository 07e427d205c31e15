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
    "invalid_rating": "invalid",
    "invalid_choice_count": "choice_rule",
    "other_text_empty": "other_text_empty",
    "bad_token": "token",
    "token_expired": "token",
    # The shared page's form carries no token: without a script, a site that requires one
    # answers with a page that has one, asking the reader to press Vote again.
    "token_required": "token_required",
    "bad_origin": "bad_origin",
}
# The outcomes after which the reader has a vote in: no form, no error styling.
DONE = ("voted", "already_voted", "held")
# Messages a script needs; the rest of the catalog stays out of the page. A scale's and
# the comments' own messages only go into pages that use them.
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
SCALE_MESSAGES = (
    "answers",
    "average",
    "median",
    "nps_score",
    "nps_promoters",
    "nps_passives",
    "nps_detractors",
    "stars_one",
    "stars_other",
)
COMMENT_SCRIPT_MESSAGES = (
    "comments_link",
    "comment_published",
    "comment_pending",
    "comment_error",
    "comment_empty",
    "comment_limit",
    "comment_closed",
    "anonymous",
    "report",
    "report_spam",
    "report_offensive",
    "report_off_topic",
    "report_cancel",
    "report_thanks",
    "report_reason",
    "more_comments",
)


def script_messages(poll: Poll) -> tuple[str, ...]:
    """The catalog keys the page's script needs for this poll."""
    keys = SCRIPT_MESSAGES
    if poll.is_rating:
        keys += SCALE_MESSAGES
    if poll.comments != "off":
        keys += COMMENT_SCRIPT_MESSAGES
    return keys


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
