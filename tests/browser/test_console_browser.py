"""The editor console in real Chromium: an editor's day (sign in, create the smart-city
poll with an own-words option, preview, open, copy the snippet, allow a portal on the
Sites page, vote there, see it live in the console, close, sign out), a second site's
editor who finds nothing of this site, and axe-core on every page, light and dark."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from service.console import users
from service.storage.db import connect
from tests.browser.conftest import ContextMaker, HostPages, LiveServer

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
DOCS = Path(__file__).parent.parent.parent / "docs" / "images"
ARTIFACTS = Path(__file__).parent.parent / "artifacts"
PASSWORD = "mật khẩu đủ dài cho biên tập"
QUESTION = "Theo bạn Hà Nội có nên xây dựng thành phố thông minh hay không?"


async def _add(database_url: str, email: str, role: str, sites: list[str]) -> None:
    con = await connect(database_url)
    try:
        await users.create_user(
            con, users.OPERATOR, email=email, role=role, password=PASSWORD, sites=sites
        )
    finally:
        await con.close()


def _add_person(database_url: str, email: str, role: str, sites: list[str]) -> None:
    # In a thread of its own: Playwright's sync API holds this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _add(database_url, email, role, sites)).result()


async def _make_people(database_url: str, emails: dict[str, str], other: str) -> None:
    con = await connect(database_url)
    try:
        await users.create_user(
            con, users.OPERATOR, email=emails["admin"], role="admin", password=PASSWORD, sites=[]
        )
        await users.create_user(
            con,
            users.OPERATOR,
            email=emails["outsider"],
            role="editor",
            password=PASSWORD,
            sites=[other],
        )
    finally:
        await con.close()


@pytest.fixture
def people(database_url: str, live_server: LiveServer) -> dict[str, str]:
    """An admin, and an editor of a second site, with fresh e-mails (password PASSWORD)."""
    tag = uuid.uuid4().hex[:8]
    other = live_server.make_site(f"other-{tag}", [])
    emails = {"admin": f"admin-{tag}@toasoan.vn", "outsider": f"bt-{tag}@other.vn"}
    # In a thread of its own: Playwright's sync API holds this thread's event loop.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _make_people(database_url, emails, other["slug"])).result()
    return emails


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/console")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    page.get_by_label("Thư điện tử").fill(email)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()


def _axe(page: Page) -> list[dict[str, Any]]:
    page.evaluate(AXE.read_text())
    found: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {iframes: false, resultTypes: ['violations']}))"
        ".violations"
    )
    return found


def test_an_editors_day(
    live_server: LiveServer,
    host: HostPages,
    new_context: ContextMaker,
    people: dict[str, str],
    database_url: str,
) -> None:
    base = live_server.url
    site = live_server.make_site(f"hk-{uuid.uuid4().hex[:8]}", [])
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    _sign_in(page, base, people["admin"])
    expect(page.get_by_role("heading", name="Thăm dò ý kiến")).to_be_visible()
    page.get_by_role("link", name="Tạo thăm dò mới").click()
    page.get_by_label("Trang web").select_option(site["slug"])
    page.get_by_label("Câu hỏi").fill(QUESTION)
    page.get_by_label("Các lựa chọn").fill("Không\nCó\nÝ kiến khác")
    # Reordered by keyboard: the up button of "Có", pressed with Enter, keeps the focus.
    page.get_by_role("button", name="Lên: Có").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_label("Các lựa chọn")).to_have_value("Có\nKhông\nÝ kiến khác")
    expect(page.get_by_role("button", name="Xuống: Có")).to_be_focused()
    page.get_by_label("Lựa chọn cuối cho phép người đọc ghi ý kiến riêng").check()
    page.get_by_label("Bình luận", exact=True).select_option("premoderated")
    page.get_by_role("button", name="Tạo").click()
    expect(page.get_by_role("status").first).to_have_text("Đã lưu.")
    poll_id = page.url.split("/console/polls/")[1].split("?")[0]

    page.get_by_role("link", name="Mở", exact=True).click()
    page.get_by_role("button", name="Mở").click()
    expect(page.locator(".status").first).to_have_text("Đang mở")
    preview = page.frame_locator("#preview-frame")
    expect(preview.get_by_text(QUESTION)).to_be_visible()
    page.get_by_label("Giao diện").select_option("dark")
    expect(page.locator("#preview-frame")).to_have_attribute(
        "src", f"/embed/{poll_id}?locale=vi&theme=dark"
    )
    page.get_by_role("button", name="Sao chép Đoạn mã widget").click()
    expect(page.locator("#code-snippet-status")).to_have_text("Đã sao chép.")
    snippet = page.evaluate("navigator.clipboard.readText()")
    assert f'data-civicpoll="{poll_id}"' in snippet

    # The portal may embed only once the Sites page allows it.
    page.goto(f"{base}/console/sites/{site['slug']}")
    page.get_by_label("Thêm nguồn").fill(host.origin)
    page.get_by_role("button", name="Thêm", exact=True).click()
    expect(page.get_by_role("listitem").filter(has_text=host.origin)).to_be_visible()

    page.goto(f"{base}/console/polls/{poll_id}/results")
    live = page.frame_locator("iframe.dashboard")
    expect(live.locator(f'[data-poll="{poll_id}"] [data-total]')).to_have_text("0")

    article = host.add(
        f"/bai-viet-{poll_id}.html",
        f'<!doctype html><html lang="vi"><head><meta charset="utf-8"><title>Tin</title></head>'
        f"<body><main><h1>Tin thành phố</h1>{snippet}</main></body></html>",
    )
    reader = new_context().new_page()
    reader.goto(article)
    widget = reader.frame_locator(f"iframe[src*='/embed/{poll_id}?']")
    widget.get_by_role("radio", name="Có").check()
    widget.get_by_role("button", name="Bình chọn").click()
    expect(widget.locator(".cp-results")).to_be_visible()

    expect(live.locator(f'[data-poll="{poll_id}"] [data-total]')).to_have_text("1", timeout=5000)

    # A reader's comment waits in the queue; the site's moderator approves it by keyboard.
    said = httpx.post(
        f"{base}/v1/polls/{poll_id}/comments",
        json={"body": "Cần thêm nhiều cây xanh và xe buýt điện."},
        headers={"Origin": host.origin, "Cookie": "pv=" + uuid.uuid4().hex},
    )
    assert said.status_code == 202, said.text
    moderator = f"kd-{uuid.uuid4().hex[:8]}@toasoan.vn"
    _add_person(database_url, moderator, "moderator", [site["slug"]])
    desk = new_context().new_page()
    _sign_in(desk, base, moderator)
    expect(desk.get_by_role("heading", name="Kiểm duyệt bình luận")).to_be_visible()
    expect(desk.get_by_role("link", name="Thăm dò", exact=True)).to_have_count(0)
    expect(desk.get_by_text("Cần thêm nhiều cây xanh")).to_be_visible()
    desk.locator("body").press("j")
    expect(desk.locator("[data-comment]").first).to_be_focused()
    desk.keyboard.press("a")
    expect(desk.get_by_text("Chờ duyệt: 0")).to_be_visible()
    shown = httpx.get(f"{base}/v1/polls/{poll_id}/comments").json()["items"]
    assert [c["body"] for c in shown] == ["Cần thêm nhiều cây xanh và xe buýt điện."]

    page.goto(f"{base}/console/polls/{poll_id}")
    page.get_by_role("link", name="Đóng", exact=True).click()
    page.get_by_role("button", name="Đóng").click()
    expect(page.locator(".status").first).to_have_text("Đã đóng")
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    page.goto(f"{base}/console/polls/{poll_id}")
    expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()

    # An editor of another site finds nothing of this one.
    outsider = new_context().new_page()
    _sign_in(outsider, base, people["outsider"])
    expect(outsider.get_by_role("heading", name="Thăm dò ý kiến")).to_be_visible()
    assert QUESTION not in outsider.content()
    answer = outsider.goto(f"{base}/console/polls/{poll_id}")
    assert answer is not None and answer.status == 404
    assert not [e for e in errors if "Content Security Policy" in e], errors


@pytest.fixture
def shots() -> Iterator[Path]:
    """Where the screenshots go: tests/artifacts, or docs/images/ (the manual's pictures) when
    UPDATE_DOCS_SCREENSHOTS=1, so that a test run leaves the tracked files alone."""
    folder = DOCS if os.environ.get("UPDATE_DOCS_SCREENSHOTS") == "1" else ARTIFACTS
    folder.mkdir(exist_ok=True)
    yield folder


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_console_page_passes_axe(
    live_server: LiveServer,
    new_context: ContextMaker,
    people: dict[str, str],
    scheme: str,
    shots: Path,
) -> None:
    if not AXE.exists():
        pytest.skip("axe-core missing: run scripts/browser-deps.sh")
    base = live_server.url
    site = live_server.make_site(f"ax-{uuid.uuid4().hex[:8]}", ["https://portal.example.vn"])
    poll = live_server.make_poll(
        site["slug"],
        question=QUESTION,
        description="Ý kiến của bạn",
        comments="premoderated",
        options=["Có", "Không", {"label": "Ý kiến khác", "other": True}],
    )
    # Own words with a vote: marked as such in the queue, with the option they answer.
    said = live_server.admin.post(
        f"/v1/polls/{poll['id']}/votes",
        json={"choices": [poll["options"][2]["id"]], "other_text": "Làm thí điểm ở một phường."},
    )
    assert said.status_code == 201, said.text
    for body in ("Nên làm sớm, bắt đầu từ giao thông.", "Cần công khai chi phí dự án."):
        said = live_server.admin.post(
            f"/v1/polls/{poll['id']}/comments",
            json={"body": body, "name": "Bạn đọc"},
            headers={"Origin": base, "Cookie": "pv=" + uuid.uuid4().hex},
        )
        assert said.status_code == 202, said.text
    page = new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900}).new_page()
    page.goto(f"{base}/console/login")
    assert not _axe(page), "sign-in page"
    _sign_in(page, base, people["admin"])
    pages = {
        "polls": "/console/polls",
        "new": "/console/polls/new",
        "editor": f"/console/polls/{poll['id']}",
        "confirm": f"/console/polls/{poll['id']}/close",
        "results": f"/console/polls/{poll['id']}/results",
        "sites": "/console/sites",
        "site": f"/console/sites/{site['slug']}",
        "people": "/console/people",
        "audit": "/console/audit",
        "account": "/console/account",
        "moderation": f"/console/moderation?site={site['slug']}",
        "english": "/console/polls?lang=en",
    }
    for name, path in pages.items():
        page.goto(base + path)
        violations = _axe(page)
        assert not violations, name + json.dumps(violations, ensure_ascii=False, indent=1)[:3000]
        if scheme == "light" and name in ("polls", "editor", "results", "moderation"):
            page.screenshot(path=str(shots / f"console-{name}.png"), full_page=True)
    # A phone: the list and the editor fit without sideways scrolling.
    phone = new_context(color_scheme=scheme, viewport={"width": 375, "height": 800}).new_page()
    _sign_in(phone, base, people["admin"])
    for path in ("/console/polls", f"/console/polls/{poll['id']}"):
        phone.goto(base + path)
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_held_votes_are_reviewed_in_the_console(
    live_server: LiveServer, new_context: ContextMaker, people: dict[str, str]
) -> None:
    """Votes over the limit held (the no-script form from one address); the Results page
    shows them and links the Held votes page (axe clean, light and dark), where an admin
    releases the group behind the confirmation and the count drops."""
    if not AXE.exists():
        pytest.skip("axe-core missing: run scripts/browser-deps.sh")
    base = live_server.url
    site = live_server.make_site(
        f"held-{uuid.uuid4().hex[:8]}",
        [],
        rate_per_ip_per_minute=1,
        burst_per_ip=1,
        limits={"difficulty": 1000, "flood_min_votes": 100_000, "regular_min_votes": 100_000},
    )
    poll = live_server.make_poll(site["slug"], question=QUESTION, dedupe_mode="none")
    for i in range(4):
        token = live_server.admin.get(f"/v1/polls/{poll['id']}/token").json()["token"]
        r = live_server.admin.post(
            f"/v1/polls/{poll['id']}/votes",
            content=f"choice={poll['options'][0]['id']}&token={token}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 303 and ("state=held" in r.headers["location"]) == (i > 0)
    for scheme in ("dark", "light"):
        page = new_context(color_scheme=scheme, viewport={"width": 1280, "height": 900}).new_page()
        _sign_in(page, base, people["admin"])
        page.goto(f"{base}/console/polls/{poll['id']}/results")
        expect(page.locator("#held-count")).to_contain_text("Đang tạm giữ để xem xét: 3")
        page.get_by_role("link", name="Xem các lượt tạm giữ").click()
        expect(page.get_by_role("heading", level=1)).to_contain_text("Bình chọn tạm giữ")
        expect(page.get_by_text("Biểu mẫu không JavaScript vượt giới hạn")).to_be_visible()
        page.get_by_text("Từng lượt").click()  # the group's votes, each selectable
        expect(page.get_by_label("Chọn lượt 3")).to_be_visible()
        violations = _axe(page)
        assert not violations, scheme + json.dumps(violations, ensure_ascii=False)[:3000]
    page.get_by_label("Chọn nhóm 1").check()
    page.get_by_role("button", name="Tính vào kết quả", exact=True).click()
    expect(page.get_by_text("Tính 3 lượt bình chọn này vào kết quả?")).to_be_visible()
    assert not _axe(page), "the confirmation"
    # A release waits out other processes' in-flight votes (counts.OTHERS_GRACE) first.
    page.get_by_role("button", name="Tính vào kết quả").click(no_wait_after=True)
    expect(page.get_by_role("status")).to_have_text(
        "Đã tính 3 lượt bình chọn vào kết quả.", timeout=60_000
    )
    expect(page.get_by_text("Không có lượt bình chọn nào đang tạm giữ.")).to_be_visible()
    page.get_by_role("link", name="Kết quả").click()
    expect(page.locator("#held-count")).to_contain_text("Đang tạm giữ để xem xét: 0")
    shown = live_server.admin.get(f"/v1/polls/{poll['id']}/results").json()
    assert (shown["held"], shown["total"]) == (0, 4)


def _not_found(page: Page) -> list[str]:
    """The URLs a page asks for that answer 404 (the favicon was one, on every page)."""
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    return missing


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1"])
def test_the_results_page_is_live_at_every_address(
    live_server: LiveServer,
    new_context: ContextMaker,
    people: dict[str, str],
    shots: Path,
    address: str,
) -> None:
    """PUBLIC_URL names localhost; the service is as much at 127.0.0.1 (it says so). At
    both the Results page frames the live dashboard, and its counts block follows the same
    stream: a vote shows in both, the same number, without a reload."""
    base = live_server.url.replace("localhost", address)
    site = live_server.make_site(f"live-{uuid.uuid4().hex[:8]}", [])
    poll = live_server.make_poll(site["slug"], question=QUESTION)
    page = new_context(viewport={"width": 1280, "height": 1000}).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    missing = _not_found(page)
    _sign_in(page, base, people["admin"])
    page.goto(f"{base}/console/polls/{poll['id']}/results")
    frame = page.frame_locator("iframe.dashboard")
    block = page.locator("[data-live-counts] [data-total]")
    expect(frame.locator(f'[data-poll="{poll["id"]}"] [data-total]')).to_have_text("0")
    expect(block).to_have_text("0")
    for n in (1, 2):
        r = live_server.admin.post(
            f"/v1/polls/{poll['id']}/votes", json={"choices": [poll["options"][0]["id"]]}
        )
        assert r.status_code == 201, r.text
        expect(frame.locator(f'[data-poll="{poll["id"]}"] [data-total]')).to_have_text(str(n))
        expect(block).to_have_text(str(n))
    expect(page.locator("[data-live-counts] [data-option] [data-percent]").first).to_have_text(
        "100"
    )
    assert not _axe(page), "results"
    if address == "127.0.0.1":
        page.screenshot(path=str(shots / "console-results-live.png"), full_page=True)
    assert not [e for e in errors if "Content Security Policy" in e or "frame" in e], errors
    assert missing == [], missing


def test_the_editor_shows_scale_fields_for_scales_only(
    live_server: LiveServer, new_context: ContextMaker, people: dict[str, str]
) -> None:
    """The scale fields follow the kind picked, by CSS alone: with script off as well."""
    for script in (True, False):
        page = new_context(java_script_enabled=script).new_page()
        _sign_in(page, live_server.url, people["admin"])
        page.goto(f"{live_server.url}/console/polls/new")
        scale = page.get_by_role("group", name="Thang điểm")
        expect(page.get_by_label("Loại", exact=True)).to_have_value("single")
        expect(scale).to_be_hidden()
        page.get_by_label("Loại", exact=True).select_option("rating")
        expect(scale).to_be_visible()
        expect(page.get_by_label("Số mức")).to_be_visible()
        page.get_by_label("Loại", exact=True).select_option("multiple")
        expect(scale).to_be_hidden()


def test_the_polls_list_reads_on_a_phone(
    live_server: LiveServer, new_context: ContextMaker, people: dict[str, str], shots: Path
) -> None:
    """At 375 px each poll is a card (each figure under its column's name), the page does
    not scroll sideways, and no page asks for a favicon in vain."""
    site = live_server.make_site(f"phone-{uuid.uuid4().hex[:8]}", [])
    poll = live_server.make_poll(site["slug"], question=QUESTION)
    page = new_context(viewport={"width": 375, "height": 800}).new_page()
    missing = _not_found(page)
    _sign_in(page, live_server.url, people["admin"])
    page.goto(f"{live_server.url}/console/polls?site={site['slug']}")
    row = page.locator("tbody tr").first
    expect(row).to_contain_text(QUESTION)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    question = row.locator("td").first.bounding_box()
    votes = row.locator('td[data-label="Phiếu"]').bounding_box()
    assert question is not None and votes is not None
    assert question["width"] > 300  # the whole width of the card, not a squeezed column
    assert votes["y"] > question["y"]  # stacked under it
    page.screenshot(path=str(shots / "console-polls-375.png"), full_page=True)
    assert not _axe(page), "polls at 375 px"
    for path in (f"/embed/{poll['id']}", "/console/account"):
        page.goto(live_server.url + path)
    icon = httpx.get(f"{live_server.url}/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/x-icon"
    assert missing == [], missing


def test_destructive_actions_ask_first_without_script(
    live_server: LiveServer,
    new_context: ContextMaker,
    people: dict[str, str],
    database_url: str,
    shots: Path,
) -> None:
    """With script off: a new password for someone else asks first (Cancel changes
    nothing); one's own row links the account page, where the password is changed."""
    other = f"bt-{uuid.uuid4().hex[:8]}@toasoan.vn"
    _add_person(database_url, other, "admin", [])
    page = new_context(java_script_enabled=False).new_page()
    _sign_in(page, live_server.url, people["admin"])
    page.goto(f"{live_server.url}/console/people")
    page.get_by_role("button", name=f"Đặt mật khẩu mới {other}").click()
    expect(page.get_by_role("heading", name="Đặt mật khẩu mới?")).to_be_visible()
    page.get_by_role("link", name="Hủy").click()
    expect(page.get_by_role("heading", name="Người dùng và token API")).to_be_visible()
    second = new_context().new_page()
    _sign_in(second, live_server.url, other)  # the password still works
    expect(second.get_by_role("heading", name="Thăm dò ý kiến")).to_be_visible()
    page.get_by_role("button", name=f"Đặt mật khẩu mới {other}").click()
    page.get_by_role("button", name="Đặt mật khẩu mới").click()
    expect(page.locator(".secret")).to_be_visible()
    second.reload()
    expect(second.get_by_role("heading", name="Đăng nhập")).to_be_visible()

    row = page.get_by_role("row").filter(has_text=people["admin"])
    expect(row.get_by_role("button")).to_have_count(0)
    row.get_by_role("link", name="Đổi mật khẩu").click()
    expect(page.get_by_role("heading", name="Tài khoản của bạn")).to_be_visible()
    page.get_by_label("Mật khẩu hiện tại").fill(PASSWORD)
    page.get_by_label("Mật khẩu mới", exact=True).fill("một mật khẩu mới thật dài")
    page.get_by_label("Nhập lại mật khẩu mới").fill("một mật khẩu mới thật dài")
    page.get_by_role("button", name="Đổi mật khẩu").click()
    expect(page.get_by_role("status")).to_contain_text("Đã đổi mật khẩu.")

    # axe needs script: the same pages in a browser that runs it.
    checker = new_context().new_page()
    _add_person(database_url, f"check-{other}", "admin", [])
    _sign_in(checker, live_server.url, f"check-{other}")
    checker.goto(f"{live_server.url}/console/people")
    checker.get_by_role("button", name=f"Vô hiệu hóa {other}").click()
    expect(checker.get_by_role("heading", name="Vô hiệu hóa người dùng này?")).to_be_visible()
    assert not _axe(checker), "the confirmation"
    checker.screenshot(path=str(shots / "console-confirm.png"), full_page=True)
    checker.get_by_role("link", name="Hủy").click()
    checker.goto(f"{live_server.url}/console/account")
    assert not _axe(checker), "the account page"
    checker.screenshot(path=str(shots / "console-account.png"), full_page=True)
