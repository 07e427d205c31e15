"""The widget in headless Chromium: a portal on another origin embeds polls through
widget.js; readers vote by mouse, by keyboard and without JavaScript."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from playwright.sync_api import Frame, Page, expect

if TYPE_CHECKING:  # fixtures' types; conftest modules are not imported by name
    from conftest import ContextMaker, HostPages, LiveServer

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = Path(__file__).parent.parent / "artifacts"


def _slug() -> str:
    return "s-" + uuid.uuid4().hex[:10]


def _frame(page: Page, poll_id: str) -> Frame:
    handle = page.wait_for_selector(f"iframe[src*='/embed/{poll_id}?']")
    assert handle is not None
    frame = handle.content_frame()
    assert frame is not None
    frame.wait_for_load_state()
    return frame


def _content_height(frame: Frame) -> int:
    return int(
        frame.evaluate("Math.ceil(document.querySelector('main').getBoundingClientRect().height)")
    )


def _expect_fitted(page: Page, frame: Frame, poll_id: str) -> None:
    height = _content_height(frame)
    page.wait_for_function(
        "([id, h]) => document.querySelector(`iframe[src*='/embed/${id}?']`).style.height"
        " === h + 'px'",
        arg=[poll_id, height],
    )


def _portal(live: LiveServer, host: HostPages, *polls: tuple[str, dict[str, str]]) -> str:
    divs = "\n".join(
        f'<a href="#p{i}">Poll {i}</a><div data-civicpoll="{poll_id}"'
        + "".join(f' data-{k}="{v}"' for k, v in attrs.items())
        + "></div>"
        for i, (poll_id, attrs) in enumerate(polls)
    )
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>City news</title></head><body><main><h1>City news</h1>
<p>An article about the smart-city platform.</p>
{divs}
<p id="after">More article text after the polls.</p>
</main><script async src="{live.url}/widget.js"></script></body></html>"""
    return host.add(f"/article-{uuid.uuid4().hex[:8]}.html", html)


def test_two_polls_by_mouse_and_keyboard(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    site = live_server.make_site(_slug(), [host.origin])
    one = live_server.make_poll(site["slug"])
    two = live_server.make_poll(
        site["slug"],
        question="Which services matter most?",
        options=["Parks", "Buses", "Wi-Fi"],
        kind="multiple",
        max_choices=2,
        locale="en",
    )
    url = _portal(live_server, host, (one["id"], {}), (two["id"], {"theme": "dark"}))
    page = new_context().new_page()
    page.goto(url)
    first, second = _frame(page, one["id"]), _frame(page, two["id"])
    iframe_one = page.locator(f"iframe[src*='/embed/{one['id']}?']")
    expect(iframe_one).to_have_attribute("title", f"Thăm dò ý kiến: {one['question']}")
    expect(iframe_one).to_have_attribute("loading", "lazy")
    _expect_fitted(page, first, one["id"])
    _expect_fitted(page, second, two["id"])
    # Each widget has its own ids, taken from its number on the page.
    assert first.locator("#cp1-o1").count() == 1 and second.locator("#cp2-o1").count() == 1

    # Mouse: pick an option, vote; results are announced and take the focus.
    first.get_by_label("Không").click()
    first.get_by_role("button", name="Bình chọn").click()
    results = first.locator("#cp1-out[aria-live=polite] #cp1-results")
    expect(results).to_be_visible()
    expect(results).to_be_focused()
    expect(first.locator("#cp1-msg")).to_have_text("Cảm ơn bạn! Bạn đã bình chọn.")
    expect(first.locator("li[data-option] .cp-pct")).to_have_text(["0%", "100%", "0%"])
    expect(first.locator(".cp-total")).to_have_text("Tổng cộng: 1 lượt bình chọn")
    _expect_fitted(page, first, one["id"])
    expect(second.locator("form")).to_be_visible()  # the other poll is untouched

    # Keyboard alone: from the link before the second poll, Tab into it.
    page.get_by_role("link", name="Poll 1").focus()
    page.keyboard.press("Tab")
    expect(second.get_by_label("Parks")).to_be_focused()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")
    expect(second.get_by_label("Buses")).to_be_checked()
    page.keyboard.press("Tab")  # past Wi-Fi, left unchecked
    page.keyboard.press("Tab")
    button = second.get_by_role("button", name="Vote")
    expect(button).to_be_focused()
    outline = button.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline == "solid", "the focused button shows no focus ring"
    page.keyboard.press("Enter")
    expect(second.locator("#cp2-results")).to_be_focused()
    expect(second.locator("#cp2-msg")).to_have_text("Thank you! You have voted.")
    expect(second.locator(".cp-total")).to_have_text("Total: 2 votes")
    expect(second.locator("li[data-option] .cp-pct")).to_have_text(["50%", "50%", "0%"])
    _expect_fitted(page, second, two["id"])
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "widget-two-polls-voted.png"), full_page=True)

    # A second vote from the same browser is refused with the friendly message.
    page.reload()
    first = _frame(page, one["id"])
    first.get_by_label("Có").click()
    first.get_by_role("button", name="Bình chọn").click()
    expect(first.locator("#cp1-msg")).to_have_text("Bạn đã bình chọn trong cuộc thăm dò này rồi.")
    expect(first.locator("#cp1-results")).to_be_focused()
    expect(first.locator(".cp-total")).to_have_text("Tổng cộng: 1 lượt bình chọn")
    page.screenshot(path=str(ARTIFACTS / "widget-already-voted.png"), full_page=True)


def test_resize_messages_from_elsewhere_are_ignored(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    site = live_server.make_site(_slug(), [host.origin])
    poll = live_server.make_poll(site["slug"])
    page = new_context().new_page()
    page.goto(_portal(live_server, host, (poll["id"], {})))
    frame = _frame(page, poll["id"])
    _expect_fitted(page, frame, poll["id"])
    iframe = page.locator("iframe")
    before = iframe.evaluate("f => f.style.height")
    # A forged message from the host page itself, then a marker: messages arrive in order,
    # so once the marker is seen the forged one has been handled (and ignored).
    page.evaluate(
        """() => new Promise(done => {
            addEventListener("message", e => { if (e.data === "marker") done(); });
            postMessage({type: "civicpoll:height", height: 1999}, "*");
            postMessage("marker", "*");
        })"""
    )
    assert iframe.evaluate("f => f.style.height") == before


def test_voting_without_javascript(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    site = live_server.make_site(_slug(), [host.origin])
    poll = live_server.make_poll(site["slug"], locale="en")
    # Without JavaScript the loader cannot run: portals paste the plain iframe instead.
    url = host.add(
        f"/plain-{poll['id']}.html",
        f'<!doctype html><html lang="en"><title>Plain</title><main><h1>News</h1>'
        f'<iframe src="{live_server.url}/embed/{poll["id"]}?locale=en" title="Poll"'
        ' style="width:100%;height:600px;border:0"></iframe></main></html>',
    )
    page = new_context(java_script_enabled=False).new_page()
    page.goto(url)
    frame = _frame(page, poll["id"])
    frame.get_by_label("Không").click()
    frame.get_by_role("button", name="Vote").click()
    expect(frame.locator("#cp0-msg")).to_have_text("Thank you! You have voted.")
    assert "state=voted" in frame.url
    expect(frame.locator(".cp-total")).to_have_text("Total: 1 vote")
    page.screenshot(path=str(ARTIFACTS / "widget-no-js-voted.png"), full_page=True)
    page.reload()
    frame = _frame(page, poll["id"])
    frame.get_by_label("Có").click()
    frame.get_by_role("button", name="Vote").click()
    expect(frame.locator("#cp0-msg")).to_have_text("You have already voted in this poll.")
    expect(frame.locator(".cp-total")).to_have_text("Total: 1 vote")


def test_a_site_not_on_the_allowlist_is_told_it_may_not_show_the_poll(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    """No broken-frame icon: the frame says, in the poll's language, that this site may not
    show the poll and what its editors can do; it has no form to vote with."""
    site = live_server.make_site(_slug(), ["https://portal.example.vn"])
    poll = live_server.make_poll(site["slug"])
    page = new_context().new_page()
    blocked: list[str] = []
    page.on("console", lambda m: blocked.append(m.text) if "frame-ancestors" in m.text else None)
    page.goto(_portal(live_server, host, (poll["id"], {})))
    frame = page.frame_locator("iframe")
    expect(frame.locator("main")).to_contain_text("Trang này chưa được phép hiển thị cuộc thăm dò.")
    expect(frame.locator("main")).to_contain_text(host.origin)
    expect(frame.locator("form")).to_have_count(0)
    assert not blocked
    # The frame shrinks to the notice: no blank gap under it on the article.
    page.wait_for_function(
        "() => { const f = document.querySelector('iframe');"
        " return f && f.style.height !== '' && parseInt(f.style.height) < 300; }"
    )
    notice = frame.locator("main").evaluate("m => Math.ceil(m.getBoundingClientRect().height)")
    height = page.locator("iframe").evaluate("f => f.getBoundingClientRect().height")
    assert abs(height - max(notice, 80)) <= 2, (height, notice)


def test_xss_payload_renders_inert(
    live_server: LiveServer, host: HostPages, new_context: ContextMaker
) -> None:
    site = live_server.make_site(_slug(), [host.origin])
    payload = '<img src=x onerror="parent.__pwned=1;window.__pwned=1">'
    poll = live_server.make_poll(
        site["slug"],
        question=payload,
        options=["<script>window.__pwned=2</script>", "B"],
        locale="en",
    )
    page = new_context().new_page()
    page.goto(_portal(live_server, host, (poll["id"], {})))
    frame = _frame(page, poll["id"])
    expect(frame.locator("h1")).to_have_text(payload)
    frame.get_by_label("<script>window.__pwned=2</script>").click()
    frame.get_by_role("button", name="Vote").click()
    expect(frame.locator(".cp-label").first).to_have_text("<script>window.__pwned=2</script>")
    assert frame.locator("img").count() == 0 and frame.locator("main script").count() == 0
    assert frame.evaluate("window.__pwned") is None
    assert page.evaluate("window.__pwned") is None
    page.screenshot(path=str(ARTIFACTS / "widget-xss-inert.png"), full_page=True)


def _axe(frame: Page | Frame) -> list[dict[str, Any]]:
    # Evaluated through the DevTools protocol, so the page's CSP (script-src 'self')
    # does not refuse it the way it would an injected inline <script>.
    frame.evaluate(AXE.read_text())
    violations: list[dict[str, Any]] = frame.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return violations


@pytest.mark.parametrize("locale", ["vi", "en"])
@pytest.mark.parametrize("theme", ["light", "dark"])
def test_axe_finds_no_violations(
    live_server: LiveServer,
    host: HostPages,
    new_context: ContextMaker,
    locale: str,
    theme: str,
) -> None:
    if not AXE.exists():
        pytest.skip("axe-core missing: run scripts/browser-deps.sh")
    site = live_server.make_site(_slug(), [host.origin], theme={"accent": "#0b5cad"})
    poll = live_server.make_poll(
        site["slug"], kind="multiple", max_choices=2, description="Ý kiến của bạn / Your view"
    )
    context = new_context(color_scheme=theme)
    page = context.new_page()
    base = f"{live_server.url}/embed/{poll['id']}?locale={locale}&theme={theme}"
    for name, url in (("form", base), ("results", base + "&view=results")):
        page.goto(url)
        violations = _axe(page)
        assert not violations, json.dumps(violations, ensure_ascii=False, indent=1)[:3000]
        page.screenshot(path=str(ARTIFACTS / f"embed-{name}-{locale}-{theme}.png"), full_page=True)
    # After a vote through the script, the page it builds passes too.
    page.goto(base)
    page.get_by_role("checkbox").first.check()
    page.get_by_role("button").click()
    expect(page.locator(".cp-results")).to_be_focused()
    violations = _axe(page)
    assert not violations, json.dumps(violations, ensure_ascii=False, indent=1)[:3000]
    # The host page with its widget iframes (their insides are checked above).
    page.goto(_portal(live_server, host, (poll["id"], {"locale": locale, "theme": theme})))
    _frame(page, poll["id"])
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {iframes: false, resultTypes: ['violations']}))"
        ".violations"
    )
    assert not violations, json.dumps(violations, ensure_ascii=False, indent=1)[:3000]


# Polls of every kind and shape the snippet's height rule (widget/sizing.py) must fit.
SIZED: dict[str, dict[str, Any]] = {
    "single": {"options": ["Có", "Không", "Chưa rõ"]},
    "own-words": {
        "options": ["Có", "Không", {"label": "Ý kiến khác", "other": True}],
        "comments": "premoderated",
    },
    "long": {
        "options": ["Phương án thứ nhất khá dài, xuống dòng trên điện thoại " * 2, *"BCDEF"],
        "description": "Mô tả cuộc thăm dò, đủ dài để xuống vài dòng. " * 4,
    },
    "multiple": {
        "kind": "multiple",
        "max_choices": 3,
        "options": ["Công viên", "Xe buýt", "Wi-Fi", "Vỉa hè", {"label": "Khác", "other": True}],
        "comments": "postmoderated",
    },
    "stars": {"kind": "rating", "options": None, "low_label": "Rất tệ", "high_label": "Rất tốt"},
    "numbers": {"kind": "rating", "scale": "number", "range": 10, "options": None},
    "nps": {"kind": "nps", "options": None, "comments": "premoderated"},
    "likert": {"kind": "likert", "range": 7, "options": None, "comments": "postmoderated"},
}


def _main_height(page: Page) -> int:
    return int(
        page.evaluate("Math.ceil(document.querySelector('main').getBoundingClientRect().height)")
    )


def _snippet_heights(poll: dict[str, Any]) -> tuple[int, int]:
    """(the loader's reserved height, the plain iframe's height) from the console's codes."""
    iframe = re.search(r"height:(\d+)px", poll["embed"]["iframe"])
    reserved = re.search(r'data-height="(\d+)"', poll["embed"]["snippet"])
    assert iframe and reserved, poll["embed"]
    assert poll["embed"]["iframe"] in poll["embed"]["snippet"]  # its <noscript>
    return int(reserved.group(1)), int(iframe.group(1))


def _vote_first(page: Page) -> None:
    page.locator("input[name=choice], input[name=rating]").first.check()
    page.locator("button.cp-vote").first.click()


@pytest.mark.parametrize("width", [320, 1024])
def test_the_snippets_fit_every_state_of_their_poll(
    live_server: LiveServer, new_context: ContextMaker, width: int
) -> None:
    """Each state of each kind, measured in Chromium at a phone's and a desktop's width:
    the form fits the loader's reserved height, every state (the own-words box open, the
    results with the comment form after a vote with and without JavaScript) the plain
    iframe's; and the rule wastes at most a few lines where it matters (the phone)."""
    slug = _slug()
    live_server.make_site(slug, [])
    viewport = {"width": width, "height": 900}
    scripted = new_context(viewport=viewport).new_page()
    plain = new_context(viewport=viewport, java_script_enabled=False).new_page()
    measured = {}
    for name, fields in SIZED.items():
        poll = live_server.make_poll(slug, **fields)
        reserved, tallest = _snippet_heights(poll)
        url = f"{live_server.url}/embed/{poll['id']}"
        scripted.goto(url)
        states = {"form": _main_height(scripted)}
        other = scripted.locator("input[data-other]")
        if other.count():
            other.check()
            states["own words"] = _main_height(scripted)
        scripted.goto(url)
        _vote_first(scripted)
        expect(scripted.locator(".cp-results")).to_be_focused()
        if fields.get("comments"):
            expect(scripted.locator(".cp-cform")).to_be_visible()
        states["voted (script)"] = _main_height(scripted)
        plain.goto(url)
        _vote_first(plain)
        expect(plain.locator(".cp-results")).to_be_visible()
        states["voted (no script)"] = _main_height(plain)
        measured[name] = (reserved, tallest, states)
    (ARTIFACTS / f"snippet-heights-{width}.json").write_text(
        json.dumps(measured, ensure_ascii=False, indent=1)
    )
    for name, (reserved, tallest, states) in measured.items():
        assert states["form"] <= reserved, (name, states, reserved)
        assert max(states.values()) <= tallest, (name, states, tallest)
        if width == 320:
            assert tallest - max(states.values()) <= 160, (name, states, tallest)
