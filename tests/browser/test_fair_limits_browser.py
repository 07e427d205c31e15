"""Fair limits in headless Chromium: a vote over the address's limit is answered 428, the
widget solves the proof of work in its Web Worker without asking the reader anything,
and the vote counts."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

if TYPE_CHECKING:  # fixtures' types; conftest modules are not imported by name
    from conftest import ContextMaker, HostPages, LiveServer

pytestmark = pytest.mark.browser


def test_a_vote_over_the_limit_is_solved_invisibly_and_counts(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    site = live_server.make_site(
        "s-" + uuid.uuid4().hex[:10],
        [host.origin],
        rate_per_ip_per_minute=1,
        burst_per_ip=1,
        # A real challenge (the default difficulty), no signals in the way of one reader.
        limits={"flood_min_votes": 1000, "regular_min_votes": 1000},
    )
    poll = live_server.make_poll(site["slug"])
    statuses: list[int] = []
    for reader in range(2):  # two readers behind one address (this machine)
        page = new_context().new_page()
        page.on(
            "response",
            lambda r: statuses.append(r.status) if r.url.endswith("/votes") else None,
        )
        page.goto(f"{live_server.url}/embed/{poll['id']}")
        page.get_by_label("Không").click()
        page.get_by_role("button", name="Bình chọn").click()
        expect(page.locator(".cp-msg")).to_have_text("Cảm ơn bạn! Bạn đã bình chọn.")
        expect(page.locator(".cp-total")).to_have_text(f"Tổng cộng: {reader + 1} lượt bình chọn")
        # No puzzle, nothing to click: the page holds no challenge widget of any kind.
        assert page.locator("input[type=checkbox], altcha-widget, iframe").count() == 0
    # The second reader's first attempt was asked for work, its retry counted.
    assert statuses == [201, 428, 201]
    figures = live_server.admin.get(f"/v1/admin/polls/{poll['id']}/integrity").json()
    assert (figures["accepted"], figures["solved"], figures["held"]) == (2, 1, 0)


def test_a_held_vote_shows_the_held_line_in_the_drawn_results(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    """Beyond the solved budget the vote is held: the results the script draws after it
    say how many are held, in words as the server's page does."""
    site = live_server.make_site(
        "s-" + uuid.uuid4().hex[:10],
        [host.origin],
        rate_per_ip_per_minute=1,
        burst_per_ip=1,
        limits={
            "difficulty": 1000,
            "solved_burst_per_ip": 1,
            "solved_per_ip_per_minute": 1,
            "flood_min_votes": 1000,
            "regular_min_votes": 1000,
        },
    )
    poll = live_server.make_poll(site["slug"], dedupe_mode="none")
    for reader in range(3):  # three readers behind one address (this machine)
        page = new_context().new_page()
        page.goto(f"{live_server.url}/embed/{poll['id']}")
        page.get_by_label("Không").click()
        page.get_by_role("button", name="Bình chọn").click()
        expect(page.locator(".cp-total")).to_have_text(
            "Tổng cộng: 2 lượt bình chọn" if reader else "Tổng cộng: 1 lượt bình chọn"
        )
        if reader < 2:
            expect(page.locator(".cp-msg")).to_have_text("Cảm ơn bạn! Bạn đã bình chọn.")
            assert page.locator(".cp-held").count() == 0
    expect(page.locator(".cp-msg")).to_contain_text("sẽ được tính sau khi xem xét")
    expect(page.locator(".cp-held")).to_have_text("1 lượt bình chọn đang chờ xem xét")
    shown = live_server.admin.get(f"/v1/polls/{poll['id']}/results").json()
    assert (shown["total"], shown["held"]) == (2, 1)
