"""Feedback kinds in headless Chromium: a star rating and an NPS vote by keyboard, an
answer in the reader's own words, a comment that appears only after approval, every kind
without JavaScript, and axe-core on the new views in light and dark."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_widget_browser import ARTIFACTS, AXE, _axe

if TYPE_CHECKING:  # fixtures' types; conftest modules are not imported by name
    from conftest import ContextMaker, LiveServer

pytestmark = pytest.mark.browser


def _site(live: LiveServer) -> str:
    slug = "f-" + uuid.uuid4().hex[:10]
    live.make_site(slug, [])
    return slug


def _open(page: Page, live: LiveServer, poll_id: str, query: str = "locale=en") -> None:
    page.goto(f"{live.url}/embed/{poll_id}?{query}")


def _tab_to(page: Page, selector: str) -> None:
    """Tab from the top of the page until `selector` has the focus (bounded)."""
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return
    raise AssertionError(f"Tab never reached {selector}")


def test_star_rating_by_keyboard(live_server: LiveServer, new_context: ContextMaker) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(
        slug, kind="rating", options=None, low_label="Poor", high_label="Excellent", locale="en"
    )
    page = new_context().new_page()
    tokens: list[str] = []
    page.on("request", lambda r: tokens.append(r.url) if r.url.endswith("/token") else None)
    _open(page, live_server, poll["id"])
    expect(page.get_by_role("radio", name="4 stars")).to_have_count(1)
    expect(page.get_by_role("radio", name="1 star")).to_have_accessible_description("Poor")
    _tab_to(page, "input[name=rating]")
    # Arrows move within the group and choose; nothing is sent on change.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="4 stars")).to_be_checked()
    expect(page.get_by_role("radio", name="4 stars")).to_be_focused()
    ring = page.locator(".cp-pt:has(input:focus-visible) label")
    assert ring.evaluate("l => getComputedStyle(l).outlineStyle") == "solid"
    # Four stars are drawn filled, the fifth not.
    fills = page.locator(".cp-star").evaluate_all(
        "stars => stars.map(s => getComputedStyle(s).backgroundColor)"
    )
    assert len(set(fills[:4])) == 1 and fills[4] != fills[0], fills
    expect(page.locator("#cp0-msg")).to_have_text("")
    assert len(tokens) == 1  # fetched once the reader started, before the vote
    page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Vote")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#cp0-results")).to_be_focused()
    expect(page.locator("#cp0-msg")).to_have_text("Thank you! You have voted.")
    expect(page.locator("[data-stat=average] dd")).to_have_text("4")
    expect(page.locator("li[data-option] .cp-label")).to_have_text(
        ["1 star", "2 stars", "3 stars", "4 stars", "5 stars"]
    )
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "feedback-stars-voted.png"), full_page=True)
    results = live_server.admin.get(f"/v1/polls/{poll['id']}/results").json()
    assert results["count"] == 1 and results["average"] == 4.0


def test_nps_by_keyboard(live_server: LiveServer, new_context: ContextMaker) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(slug, kind="nps", options=None)
    page = new_context().new_page()
    _open(page, live_server, poll["id"], "locale=vi")
    expect(page.locator("#cp0-low")).to_have_text("Không có khả năng")
    expect(page.locator("#cp0-high")).to_have_text("Rất có khả năng")
    _tab_to(page, "input[name=rating]")
    page.keyboard.press("Space")  # the first point, 0
    expect(page.get_by_role("radio", name="0", exact=True)).to_be_checked()
    for _ in range(9):
        page.keyboard.press("ArrowRight")
    expect(page.get_by_role("radio", name="9", exact=True)).to_be_checked()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#cp0-msg")).to_have_text("Cảm ơn bạn! Bạn đã bình chọn.")
    expect(page.locator("[data-stat=nps] dd")).to_have_text("100")
    expect(page.locator("[data-stat=promoters] dd")).to_have_text("1")
    page.screenshot(path=str(ARTIFACTS / "feedback-nps-voted.png"), full_page=True)


def test_an_answer_in_own_words(live_server: LiveServer, new_context: ContextMaker) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(
        slug, options=["Có", "Không", {"label": "Ý kiến khác", "other": True}]
    )
    page = new_context().new_page()
    _open(page, live_server, poll["id"], "locale=vi")
    box = page.get_by_label("Ý kiến của bạn (không bắt buộc, tối đa 1.000 ký tự)")
    expect(box).to_be_hidden()  # until its option is chosen
    page.get_by_label("Ý kiến khác").check()
    expect(box).to_be_visible()
    box.fill("Nên giữ lại hàng cây cổ thụ")
    page.get_by_role("button", name="Bình chọn").click()
    expect(page.locator("#cp0-msg")).to_have_text("Cảm ơn bạn! Bạn đã bình chọn.")
    queue = live_server.admin.get(f"/v1/admin/polls/{poll['id']}/comments?state=pending").json()
    assert [c["body"] for c in queue["items"]] == ["Nên giữ lại hàng cây cổ thụ"]


def test_own_words_of_invisible_characters_are_refused_with_a_message(
    live_server: LiveServer, new_context: ContextMaker
) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(
        slug, options=["Có", "Không", {"label": "Ý kiến khác", "other": True}]
    )
    page = new_context().new_page()
    _open(page, live_server, poll["id"], "locale=vi")
    page.get_by_label("Ý kiến khác").check()
    box = page.get_by_label("Ý kiến của bạn (không bắt buộc, tối đa 1.000 ký tự)")
    box.fill("\u200b\u200b\u2060")  # the script sends it: String.trim() keeps these
    page.get_by_role("button", name="Bình chọn").click()
    expect(page.locator("#cp0-msg")).to_have_text(
        "Ý kiến của bạn chỉ có ký tự vô hình. Hãy viết ý kiến, hoặc để trống ô này."
    )
    assert live_server.admin.get(f"/v1/polls/{poll['id']}/results").json()["total"] == 0
    box.fill("Nên giữ lại hàng cây cổ thụ")  # the reader writes, and the vote goes in
    page.get_by_role("button", name="Bình chọn").click()
    expect(page.locator("#cp0-msg")).to_have_text("Cảm ơn bạn! Bạn đã bình chọn.")


def test_a_comment_appears_only_after_approval(
    live_server: LiveServer, new_context: ContextMaker
) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(slug, comments="premoderated", locale="en")
    writer = new_context().new_page()
    _open(writer, live_server, poll["id"], "locale=en&view=comments")
    writer.get_by_label("Your comment (up to 1,000 characters)").fill("Please add more benches")
    writer.get_by_label("Display name (optional)").fill("Minh")
    writer.get_by_role("button", name="Send comment").click()
    expect(writer.locator("#cp0-cmsg")).to_have_text(
        "Thank you! Your comment will appear once a moderator approves it."
    )
    expect(writer.locator(".cp-c")).to_have_count(0)
    reader = new_context().new_page()
    _open(reader, live_server, poll["id"], "locale=en&view=comments")
    expect(reader.locator(".cp-c")).to_have_count(0)
    queue = live_server.admin.get(f"/v1/admin/polls/{poll['id']}/comments?state=pending").json()
    comment_id = queue["items"][0]["id"]
    r = live_server.admin.post(f"/v1/admin/comments/{comment_id}/approve", json={})
    assert r.status_code == 200, r.text
    # The page memo and the shared cache hold a page for seconds: poll the page until it
    # shows the approved comment (bounded), as a reader reloading would.
    for _ in range(40):
        _open(reader, live_server, poll["id"], "locale=en&view=comments")
        if reader.locator(".cp-c").count():
            break
        reader.wait_for_timeout(250)
    item = reader.locator(f"li[data-comment='{comment_id}']")
    expect(item.locator(".cp-cbody")).to_have_text("Please add more benches")
    expect(item.locator(".cp-cname")).to_have_text("Minh")
    # A reader reports it: three reasons, one click, thanked.
    item.get_by_role("button", name="Report").click()
    item.get_by_role("button", name="Spam").click()
    expect(item.locator("[role=status]")).to_have_text("Thank you, your report has been recorded.")
    # It counted: the page sends a reader (the cookie, else a form token) with the report.
    held = live_server.admin.get(f"/v1/admin/polls/{poll['id']}/comments").json()["items"]
    assert [c["reports"] for c in held if c["id"] == comment_id] == [1]
    reader.screenshot(path=str(ARTIFACTS / "feedback-comment-approved.png"), full_page=True)


KINDS = {
    "stars": ({"kind": "rating", "options": None}, "rating", "4 stars", "4 stars"),
    "number": ({"kind": "rating", "options": None, "scale": "number"}, "rating", "3", "3"),
    "nps": ({"kind": "nps", "options": None}, "rating", "8", "8"),
    "likert": ({"kind": "likert", "options": None}, "rating", "Agree", "Agree"),
    "choice": ({}, "choice", "Không", "Không"),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_without_javascript(
    live_server: LiveServer, new_context: ContextMaker, kind: str
) -> None:
    fields, _, label, row = KINDS[kind]
    slug = _site(live_server)
    poll = live_server.make_poll(slug, locale="en", **fields)
    page = new_context(java_script_enabled=False).new_page()
    _open(page, live_server, poll["id"])
    page.get_by_role("radio", name=label, exact=True).check()
    page.get_by_role("button", name="Vote").click()
    expect(page.locator("#cp0-msg")).to_have_text("Thank you! You have voted.")
    assert "state=voted" in page.url
    expect(page.locator(f"li:has(.cp-label:text-is('{row}')) .cp-pct")).to_have_text("100%")


def test_own_words_and_comments_without_javascript(
    live_server: LiveServer, new_context: ContextMaker
) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(
        slug,
        locale="en",
        options=["Yes", "No", {"label": "Another opinion", "other": True}],
        comments="postmoderated",
    )
    page = new_context(java_script_enabled=False).new_page()
    _open(page, live_server, poll["id"])
    page.get_by_label("Another opinion").check()
    page.get_by_label("Your opinion (optional, up to 1,000 characters)").fill("Plant more trees")
    page.get_by_role("button", name="Vote").click()
    expect(page.locator("#cp0-msg")).to_have_text("Thank you! You have voted.")
    page.get_by_label("Your comment (up to 1,000 characters)").fill("The square needs shade")
    page.get_by_role("button", name="Send comment").click()
    expect(page.locator("#cp0-cmsg")).to_have_text("Thank you! Your comment is published.")
    # Post-moderated: both texts are public at once, the newest first.
    expect(page.locator(".cp-cbody")).to_have_text(["The square needs shade", "Plant more trees"])


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_on_the_feedback_views(
    live_server: LiveServer, new_context: ContextMaker, theme: str
) -> None:
    if not AXE.exists():
        pytest.skip("axe-core missing: run scripts/browser-deps.sh")
    slug = _site(live_server)
    polls = {
        "stars": live_server.make_poll(slug, kind="rating", options=None, low_label="Tệ"),
        "number": live_server.make_poll(slug, kind="rating", options=None, scale="number"),
        "nps": live_server.make_poll(slug, kind="nps", options=None, comments="postmoderated"),
        "likert": live_server.make_poll(slug, kind="likert", options=None, range=7),
        "other": live_server.make_poll(
            slug, options=["Có", {"label": "Ý kiến khác", "other": True}]
        ),
    }
    r = live_server.admin.post(f"/v1/polls/{polls['nps']['id']}/comments", json={"body": "Tốt"})
    assert r.status_code in (201, 202), r.text
    page = new_context(color_scheme=theme).new_page()
    for locale in ("vi", "en"):
        for name, poll in polls.items():
            base = f"locale={locale}&theme={theme}"
            for view in ("", "&view=results", "&view=comments"):
                _open(page, live_server, poll["id"], base + view)
                if name == "other" and not view:
                    page.locator("input[data-other]").check()  # the box shown
                violations = _axe(page)
                assert not violations, (name, view, json.dumps(violations, indent=1)[:3000])
                if not view:
                    shot = ARTIFACTS / f"feedback-{name}-{locale}-{theme}.png"
                    page.screenshot(path=str(shot), full_page=True)
    # After a scripted vote and comment, the pages the script builds pass too.
    _open(page, live_server, polls["nps"]["id"], f"locale=en&theme={theme}")
    page.get_by_role("radio", name="7").check()
    page.get_by_role("button", name="Vote").click()
    expect(page.locator("#cp0-results")).to_be_focused()
    assert not _axe(page)
    _open(page, live_server, polls["nps"]["id"], f"locale=en&theme={theme}&view=comments")
    page.get_by_label("Your comment (up to 1,000 characters)").fill("Rất hài lòng với dịch vụ")
    page.get_by_role("button", name="Send comment").click()
    expect(page.locator("#cp0-cmsg")).not_to_have_text("")
    page.locator(".cp-report").first.click()
    violations = _axe(page)
    assert not violations, json.dumps(violations, indent=1)[:3000]


def test_dashboard_shows_nps_live(live_server: LiveServer, new_context: ContextMaker) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(slug, kind="nps", options=None, locale="en")
    page = new_context().new_page()
    page.goto(f"{live_server.url}/dashboard/{poll['id']}?lang=en")
    expect(page.locator("[data-status]")).to_have_text("Live")
    expect(page.locator('[data-stat="nps"]')).to_have_text("–")
    for rating in (10, 9, 2):
        r = live_server.admin.post(
            f"/v1/polls/{poll['id']}/votes",
            json={"rating": rating},
            headers={"X-Forwarded-For": f"198.51.100.{rating}", "Cookie": f"cpv=r{rating}"},
        )
        assert r.status_code == 201, r.text
    # 2 promoters and 1 detractor of 3: +33; the average 7 (one decimal, locale's mark).
    expect(page.locator('[data-stat="nps"]')).to_have_text("33")
    expect(page.locator('[data-stat="average"]')).to_have_text("7")
    expect(page.locator("[data-option] [data-percent]").nth(10)).to_have_text("33%")
    if AXE.exists():
        assert not _axe(page)
    page.screenshot(path=str(ARTIFACTS / "feedback-dashboard-nps.png"), full_page=True)


def test_more_comments_by_button(live_server: LiveServer, new_context: ContextMaker) -> None:
    slug = _site(live_server)
    poll = live_server.make_poll(slug, comments="postmoderated", max_comments_per_voter=10)
    texts = [
        "Cần thêm cây xanh ven hồ",
        "Nên mở rộng vỉa hè cho người đi bộ",
        "Giờ làm việc buổi tối rất tiện",
        "Bãi gửi xe quá chật vào cuối tuần",
        "Nhân viên hướng dẫn nhiệt tình",
        "Thủ tục online còn chậm",
        "Đề nghị có thêm ghế chờ",
        "Biển chỉ dẫn khó đọc",
        "Khu vui chơi trẻ em xuống cấp",
        "Đèn đường ngõ 12 bị hỏng",
        "Rác thải chưa được thu gom đúng giờ",
        "Tôi hoàn toàn ủng hộ đề án",
    ]
    waiting = []
    for n, text in enumerate(texts):
        r = live_server.admin.post(
            f"/v1/polls/{poll['id']}/comments",
            json={"body": text},
            headers={"Cookie": f"pv=writer-{n:03d}"},  # twelve readers
        )
        assert r.status_code in (201, 202), r.text
        if r.status_code == 202:  # a burst from one address is held for a moderator
            waiting.append(r.json()["comment"]["id"])
    if waiting:
        r = live_server.admin.post(
            "/v1/admin/comments/moderate", json={"ids": waiting, "action": "approve"}
        )
        assert r.status_code == 200, r.text
    page = new_context().new_page()
    for _ in range(40):  # the page memo's few seconds (bounded)
        _open(page, live_server, poll["id"], "locale=en&view=comments")
        if page.locator(".cp-c").count() == 10:
            break
        page.wait_for_timeout(250)
    expect(page.locator(".cp-c")).to_have_count(10)
    expect(page.locator(".cp-cbody").first).to_have_text(texts[-1])
    page.get_by_role("link", name="More comments").click()
    expect(page.locator(".cp-c")).to_have_count(12)
    expect(page.locator(".cp-cbody").last).to_have_text(texts[0])
    expect(page.get_by_role("link", name="More comments")).to_have_count(0)
    assert "cursor=" not in page.url  # fetched by the script, no navigation
    expect(page.locator(".cp-report")).to_have_count(12)


def test_a_site_requiring_tokens_with_the_shared_page(
    live_server: LiveServer, new_context: ContextMaker
) -> None:
    """The shared page holds no token: the script fetches one and the vote counts; with
    the script off the first press comes back with a page of the reader's own, and the
    second counts."""
    slug = "t-" + uuid.uuid4().hex[:10]
    live_server.make_site(slug, [], require_widget_token=True)
    poll = live_server.make_poll(slug, locale="en")
    page = new_context().new_page()
    first = page.goto(f"{live_server.url}/embed/{poll['id']}?locale=en")
    assert first is not None and first.headers["cache-control"].startswith("public")
    expect(page.locator("input[name=token]")).to_have_count(0)
    page.get_by_label("Có").check()
    page.get_by_role("button", name="Vote").click()
    expect(page.locator("#cp0-msg")).to_have_text("Thank you! You have voted.")
    plain = new_context(java_script_enabled=False).new_page()
    _open(plain, live_server, poll["id"])
    plain.get_by_label("Không").check()
    plain.get_by_role("button", name="Vote").click()
    expect(plain.locator("#cp0-msg")).to_have_text(
        "Please confirm: press “Vote” once more to send your choice."
    )
    plain.get_by_label("Không").check()
    plain.get_by_role("button", name="Vote").click()
    expect(plain.locator("#cp0-msg")).to_have_text("Thank you! You have voted.")
    expect(plain.locator(".cp-total")).to_have_text("Total: 2 votes")
