"""Vote outcomes in words (widget/outcomes.py): every code has a message, in both
languages, on the page after the form's redirect."""

from __future__ import annotations

import httpx
import pytest

from service.core.i18n import CATALOGS, format_number, votes_text
from service.identity.tokens import check_widget_token
from service.widget import outcomes

from .embedding import SECRET, PollMaker, a_poll, form_vote, token_of


async def test_form_vote_with_a_wrong_count_shows_the_rule(
    client: httpx.AsyncClient, make_poll: PollMaker
) -> None:
    poll = await make_poll(kind="multiple", max_choices=2)
    ids = [o["id"] for o in poll["options"]]
    r = await form_vote(client, poll["id"], ids)
    assert r.headers["location"].endswith("state=invalid_choice_count")
    page = await client.get(r.headers["location"])
    assert "Chọn tối đa 2 phương án." in page.text and "<form" in page.text
    check_widget_token(SECRET.encode(), poll["id"], token_of(page.text))


@pytest.mark.parametrize(
    ("state_param", "vi", "en"),
    [
        ("already_voted", "Bạn đã bình chọn", "You have already voted"),
        ("rate_limited", "Có quá nhiều lượt bình chọn từ mạng", "Too many votes from your network"),
        ("poll_closed", "Cuộc thăm dò đã kết thúc.", "This poll is closed."),
        ("unavailable", "Hệ thống đang bận", "The service is busy"),
        ("token_expired", "Biểu mẫu đã hết hạn", "This form has expired"),
        ("something_new", "Không gửi được bình chọn", "Your vote could not be sent"),
    ],
)
async def test_friendly_messages_in_both_languages(
    client: httpx.AsyncClient, make_poll: PollMaker, state_param: str, vi: str, en: str
) -> None:
    poll = await make_poll()
    r = await client.get(f"/embed/{poll['id']}?state={state_param}")
    assert vi in r.text and r.headers["cache-control"] == "private, no-store"
    r = await client.get(f"/embed/{poll['id']}?state={state_param}&locale=en")
    assert en in r.text


def test_catalogs_match_and_numbers_follow_the_locale() -> None:
    assert set(CATALOGS["vi"]) == set(CATALOGS["en"])
    assert format_number(1234567, "vi") == "1.234.567"
    assert format_number(1234567, "en") == "1,234,567"
    assert votes_text(1234, "vi") == "1.234 lượt bình chọn"
    assert votes_text(1234, "en") == "1,234 votes" and votes_text(1, "en") == "1 vote"
    for code, key in outcomes.OUTCOME_MESSAGES.items():
        assert key == "choice_rule" or key in CATALOGS["en"], code


def test_outcome_message_and_hidden_note() -> None:
    assert outcomes.outcome_message(None) is None and outcomes.outcome_message("") is None
    assert outcomes.outcome_message("bad_token") == "token"
    assert outcomes.outcome_message("no_such_code") == "error"
    assert outcomes.hidden_note(a_poll(results_visibility="after_vote")) == "results_after_vote"
    assert outcomes.hidden_note(a_poll(results_visibility="never")) == "results_hidden"
    # The script gets every message an outcome can show, and each exists in the catalogs.
    shown = set(outcomes.OUTCOME_MESSAGES.values()) - {"choice_rule"}
    assert shown <= set(outcomes.SCRIPT_MESSAGES) <= set(CATALOGS["vi"])
