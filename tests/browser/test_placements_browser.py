"""The site snippet in headless Chromium: one <div data-civicpoll-site> in an article
template on another origin shows the poll placed on that page, votes through it, and shows
nothing at all where no poll is placed."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from playwright.sync_api import Page, expect

if TYPE_CHECKING:  # fixtures' types; conftest modules are not imported by name
    from conftest import ContextMaker, HostPages, LiveServer

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"


def _article(live: LiveServer, host: HostPages, slug: str, path: str, head: str = "") -> str:
    html = f"""<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>Tin tức</title>{head}</head><body><main><h1>Tin tức thành phố</h1>
<p>Bài viết về nền tảng đô thị thông minh.</p>
<div data-civicpoll-site="{slug}"></div>
<p id="after">Phần còn lại của bài viết.</p>
</main><script async src="{live.url}/widget.js"></script></body></html>"""
    return host.add(path, html)


def _lookup_answer(page: Page, url: str) -> int:
    with page.expect_response(lambda r: "/placement?page=" in r.url) as answer:
        page.goto(url)
    return answer.value.status


def test_the_site_snippet_shows_the_placed_poll_and_nothing_elsewhere(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    slug = "s-" + uuid.uuid4().hex[:10]
    live_server.make_site(slug, [host.origin])
    poll = live_server.make_poll(slug)
    section = f"/tin-tuc-{uuid.uuid4().hex[:6]}/"
    r = live_server.admin.post(
        f"/v1/admin/sites/{slug}/placements",
        json={"match": host.origin + section + "*", "poll_id": poll["id"]},
    )
    assert r.status_code == 201, r.text
    page = new_context().new_page()

    # An article in the section: the placed poll appears, and takes a vote.
    url = _article(live_server, host, slug, section + "bai-1.html")
    assert _lookup_answer(page, url + "?utm_source=zalo#binh-luan") == 200
    handle = page.wait_for_selector(f"iframe[src*='/embed/{poll['id']}?']")
    assert handle is not None
    src = handle.get_attribute("src") or ""
    assert "page=" + quote(url, safe="") in src  # the canonical page, for per-page polls
    frame = handle.content_frame()
    assert frame is not None
    frame.get_by_label("Không").click()
    frame.get_by_role("button", name="Bình chọn").click()
    expect(frame.locator(".cp-total")).to_have_text("Tổng cộng: 1 lượt bình chọn")
    if AXE.exists():
        page.evaluate(AXE.read_text())
        violations = page.evaluate(
            "async () => (await axe.run(document, {iframes: false, resultTypes: ['violations']}))"
            ".violations"
        )
        assert not violations, json.dumps(violations, ensure_ascii=False, indent=1)[:3000]

    # An AMP copy elsewhere names the article as canonical: the same poll.
    amp = _article(
        live_server,
        host,
        slug,
        f"/amp-{uuid.uuid4().hex[:6]}.html",
        head=f'<link rel="canonical" href="{url}">',
    )
    assert _lookup_answer(page, amp) == 200
    page.wait_for_selector(f"iframe[src*='/embed/{poll['id']}?']")

    # Outside the section: no poll, no error box, no reserved space.
    other = _article(live_server, host, slug, f"/the-thao-{uuid.uuid4().hex[:6]}/bai.html")
    assert _lookup_answer(page, other) == 404
    box: dict[str, Any] = page.evaluate(
        "() => { const d = document.querySelector('[data-civicpoll-site]');"
        " return {html: d.innerHTML, height: d.getBoundingClientRect().height}; }"
    )
    assert box == {"html": "", "height": 0}
    assert page.locator("iframe").count() == 0


@pytest.mark.parametrize(("lang", "scheme"), [("vi", "light"), ("en", "dark")])
def test_the_console_placements_page_works_and_passes_axe(
    live_server: LiveServer,
    new_context: ContextMaker,
    database_url: str,
    lang: str,
    scheme: str,
) -> None:
    from tests.browser.test_console_browser import _add_person, _axe, _sign_in

    if not AXE.exists():
        pytest.skip("axe-core missing: run scripts/browser-deps.sh")
    slug = "pl-" + uuid.uuid4().hex[:8]
    live_server.make_site(slug, ["https://portal.example.vn"])
    poll = live_server.make_poll(slug, question="Thông tin trên trang này có hữu ích không?")
    email = f"bt-{uuid.uuid4().hex[:8]}@toasoan.vn"
    _add_person(database_url, email, "editor", [slug])
    page = new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900}).new_page()
    _sign_in(page, live_server.url, email)
    t = _CONSOLE[lang]
    page.goto(f"{live_server.url}/console/polls?lang={lang}")
    page.get_by_role("navigation").get_by_role("link", name=t["nav"]).click()
    page.wait_for_url(f"**/console/sites/{slug}/placements")
    assert not _axe(page), "empty placements page"
    page.get_by_label(t["match"], exact=True).fill("https://portal.example.vn/tin-tuc/*")
    page.get_by_label(t["poll"], exact=True).select_option(poll["id"])
    page.get_by_label(t["priority"], exact=True).fill("3")
    page.get_by_role("button", name=t["add"], exact=True).click()
    expect(page.get_by_role("status").first).to_have_text(t["saved"])
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_label(t["url"], exact=True).fill("https://portal.example.vn/tin-tuc/bai-1")
    page.get_by_role("button", name=t["check"]).click()
    expect(page.locator("#placement-answer")).to_contain_text(poll["question"])
    violations = _axe(page)
    assert not violations, json.dumps(violations, ensure_ascii=False, indent=1)[:3000]
    page.get_by_role("button", name=t["remove"]).click()
    expect(page.locator("tbody tr")).to_have_count(1)  # the "nothing placed" row
    expect(page.locator("tbody")).to_contain_text(t["none"])


_CONSOLE = {
    "vi": {
        "nav": "Vị trí đặt",
        "match": "Địa chỉ trang hoặc tiền tố",
        "poll": "Cuộc thăm dò",
        "priority": "Độ ưu tiên",
        "add": "Thêm",
        "saved": "Đã lưu.",
        "url": "Địa chỉ trang",
        "check": "Kiểm tra",
        "remove": "Gỡ",
        "none": "Chưa có cuộc thăm dò nào",
    },
    "en": {
        "nav": "Placements",
        "match": "Page URL or prefix",
        "poll": "Poll",
        "priority": "Priority",
        "add": "Add",
        "saved": "Saved.",
        "url": "Page URL",
        "check": "Check",
        "remove": "Remove",
        "none": "No poll is placed",
    },
}
