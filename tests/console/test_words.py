"""No code reaches a person raw: every console page, in Vietnamese and in English, over
data that produces every kind of code (held votes, moderated comments and own words,
audit rows of every action), shows words from the catalog, never `sign_in` or `phone`."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from service.console.words import AUDIT_ACTIONS, OBJECTS, REASONS
from service.core.i18n import CATALOGS
from service.feedback.comments import STATES
from service.voting.integrity import FIGURES
from service.voting.wire import HOLD_REASONS
from tests.conftest import PollMaker
from tests.console.conftest import BrowserMaker, csrf_of, form_fields, post_form, sign_in
from tests.console.test_held import held_poll
from tests.feedback.test_comments import comment
from tests.voting.voter import vote

CODES = frozenset((*REASONS, *AUDIT_ACTIONS, *OBJECTS, *FIGURES, *STATES, *HOLD_REASONS)) - {""}
# A code's shape: lower-case words joined by `_` or `.` (sign_in, comment.approve).
CODE_SHAPE = re.compile(r"\b[a-z]+[._][a-z_]+\b")
# English code words Vietnamese itself writes (it says "token API"): words, not codes.
_VI_LOANWORDS = frozenset(
    w.lower().strip(".,:;()") for text in CATALOGS["vi"].values() for w in text.split()
)
# Text shown as data, not as words: user-written codes, ids, hashes, JSON.
_TECHNICAL = frozenset({"code", "pre", "textarea", "script", "style", "title"})


class _Visible(HTMLParser):
    """The text a person sees or hears: text nodes (options included) and the labels
    read aloud (aria-label, placeholder), outside code, pre and text areas."""

    def __init__(self) -> None:
        super().__init__()
        self.nodes: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _TECHNICAL:
            self._skip += 1
        for name, value in attrs:
            if name in ("aria-label", "placeholder", "alt") and value and not self._skip:
                self.nodes.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in _TECHNICAL and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.nodes.append(data.strip())


def raw_codes(page: str, lang: str) -> list[str]:
    """The codes `page` shows raw: a text that is a code, a word shaped like one, and (in
    Vietnamese, where no English code word belongs) any known code as a word."""
    parser = _Visible()
    parser.feed(page)
    found = []
    for node in parser.nodes:
        if node in CODES:
            found.append(node)
            continue
        for word in node.split():
            if "@" in word or "://" in word or word.startswith("/"):
                continue  # e-mail addresses and links are data, not codes
            bare = word.strip(".,:;()“”\"'·–")
            if CODE_SHAPE.search(bare) or (lang == "vi" and bare in CODES - _VI_LOANWORDS):
                found.append(bare)
    return found


def test_the_check_sees_raw_codes() -> None:
    page = (
        "<dl><dt>challenged</dt><dd>3</dd></dl><td>sign_in</td><p>Lý do: phone</p>"
        "<p>Lý do: Có số điện thoại</p><code>polls:read comment.approve</code>"
    )
    assert raw_codes(page, "vi") == ["challenged", "sign_in", "phone"]
    assert raw_codes(page, "en") == ["challenged", "sign_in"]


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_every_code_has_words_in_every_catalog(lang: str) -> None:
    catalog = CATALOGS[lang]
    keys = [
        *(f"console_figure_{f}" for f in FIGURES),
        *(f"console_reason_{r}" for r in REASONS),
        *(f"console_audit_do_{a.replace('.', '_')}" for a in AUDIT_ACTIONS),
        *(f"console_object_{o}" for o in OBJECTS),
        *(f"console_comment_{s}" for s in STATES),
        *(f"console_held_reason_{h}" for h in HOLD_REASONS if h),
    ]
    assert [k for k in keys if not catalog.get(k)] == []


OPTIONS = ["Có", "Không", {"label": "Ý kiến khác", "other": True}]


async def _fill(
    browser_as: BrowserMaker,
    make_poll: PollMaker,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
    state: Any,
) -> tuple[httpx.AsyncClient, dict[str, Any], dict[str, Any]]:
    """An admin signed in, a poll with held votes (one group released), a poll whose queue
    holds comments and own words in every state and reason, and audit rows of every kind."""
    held = await held_poll(admin, client, make_poll)
    talk = await make_poll(options=OPTIONS, comments="premoderated", dedupe_mode="none")
    other = talk["options"][2]["id"]
    plain = ("Nên làm sớm", "Ý kiến một", "Ý kiến hai", "Ý kiến ba", "Ý kiến bốn", "Ý kiến năm")
    for text in ("Gọi em 0912 345 678 nhé", "Đồ địt mẹ", "Hayyyyyyyy quá", *plain):
        assert (await comment(client, talk, text)).status_code == 202
    assert (await comment(client, talk, "Cần thêm cây xanh ở bờ hồ")).status_code == 202
    assert (await comment(client, talk, "Cần thêm cây xanh ở bờ hồ")).status_code == 202
    for text in ("Thí điểm ở một phường trước", "Hỏi ý kiến người dân trước"):
        assert (await vote(client, talk, other, other_text=text)).status_code == 201

    me = await browser_as("admin@toasoan.vn")
    await browser_as("bt@hoankiem.vn", "editor", ["hoan-kiem"])
    await browser_as("kd@hoankiem.vn", "moderator", ["hoan-kiem"])
    # Held votes: release one group (audit release_held), discard the rest.
    page = await me.get(f"/console/polls/{held['id']}/held")
    group = re.findall(r'name="group" value="([^"]+)"', page.text)[0]
    asked = await me.post(
        f"/console/polls/{held['id']}/held",
        data={"csrf": csrf_of(page.text), "action": "release", "group": group},
    )
    assert (
        await me.post(f"/console/polls/{held['id']}/held", data=form_fields(asked.text))
    ).status_code == 303
    asked = await post_form(
        me,
        f"/console/polls/{held['id']}/held",
        f"/console/polls/{held['id']}/held",
        {"action": "discard_all"},
    )
    assert (
        await me.post(f"/console/polls/{held['id']}/held", data=form_fields(asked.text))
    ).status_code == 303
    # Comments: one of each moderator's move, reject in bulk after the confirmation.
    listed = await admin.get(f"/v1/admin/polls/{talk['id']}/comments", params={"state": "pending"})
    ids = {c["body"]: c["id"] for c in listed.json()["items"] if not c["own_words"]}
    queue = await me.get("/console/moderation")
    token = csrf_of(queue.text)
    moves = [("Ý kiến một", "approve"), ("Ý kiến hai", "hold"), ("Ý kiến ba", "spam")]
    moves += [("Ý kiến bốn", "hold"), ("Ý kiến bốn", "restore")]
    for body, action in moves:
        r = await me.post(
            "/console/moderation", data={"csrf": token, "one": f"{ids[body]}:{action}"}
        )
        assert r.status_code == 303
    asked = await me.post(
        "/console/moderation",
        data={
            "csrf": token,
            "ids": [ids["Ý kiến năm"], ids["Nên làm sớm"]],
            "action": "reject",
            "back": "/console/moderation?state=all",
        },
    )
    assert (await me.post("/console/moderation", data=form_fields(asked.text))).status_code == 303
    # People: a new password for one, a role change, one disabled, a token revoked.
    for action, extra in (
        ("password", {}),
        ("role", {"role": "moderator", "site": "hoan-kiem"}),
        ("disable", {}),
    ):
        email = "kd@hoankiem.vn" if action == "disable" else "bt@hoankiem.vn"
        r = await post_form(
            me, "/console/people", f"/console/people/{action}", {"email": email, **extra}
        )
        if action != "role":
            r = await me.post(f"/console/people/{action}", data=form_fields(r.text))
        assert r.status_code == 200, r.text
    r = await post_form(
        me, "/console/people", "/console/tokens", {"scope": "polls:read", "label": "CMS"}
    )
    assert r.status_code == 201
    token_id = await state.pool.fetchval("SELECT id FROM api_tokens WHERE label = 'CMS'")
    r = await post_form(me, "/console/people", f"/console/tokens/{token_id}/revoke", {})
    assert (
        await me.post(f"/console/tokens/{token_id}/revoke", data=form_fields(r.text))
    ).status_code == 200
    # Oneself: a password change; a sign-out from a second browser.
    r = await post_form(
        me,
        "/console/account",
        "/console/account/password",
        {
            "current": "correct horse battery staple",
            "password": "mười ký tự trở lên",
            "repeat": "mười ký tự trở lên",
        },
    )
    assert r.status_code == 200, r.text
    async with httpx.AsyncClient(
        transport=me._transport, base_url="http://testserver"
    ) as other_browser:
        assert (
            await sign_in(other_browser, "admin@toasoan.vn", "mười ký tự trở lên")
        ).status_code == 303
        r = await post_form(other_browser, "/console/account", "/console/logout", {})
        assert r.status_code == 303
    # A poll deleted (audit delete) and a site changed (audit update, by the API token).
    doomed = await make_poll()
    r = await post_form(
        me, f"/console/polls/{doomed['id']}/delete", f"/console/polls/{doomed['id']}/delete", {}
    )
    assert r.status_code == 303
    return me, held, talk


async def test_every_console_page_speaks_both_languages(
    browser_as: BrowserMaker,
    make_poll: PollMaker,
    admin: httpx.AsyncClient,
    client: httpx.AsyncClient,
    state: Any,
) -> None:
    me, held, talk = await _fill(browser_as, make_poll, admin, client, state)
    actions = {r["action"] for r in await state.pool.fetch("SELECT DISTINCT action FROM audit_log")}
    reasons = {r["reason"] for r in await state.pool.fetch("SELECT DISTINCT reason FROM comments")}
    # The data shows what it must: these are the codes the pages are walked over.
    assert {
        "sign_in",
        "sign_out",
        "release_held",
        "discard_held",
        "comment.approve",
        "comment.reject",
        "set_password",
        "change_password",
        "disable",
        "change_role",
        "revoke",
        "delete",
        "open",
        "create",
        "update",
    } <= actions
    assert {
        "phone",
        "offensive",
        "repeated",
        "duplicate",
        "moderator_approve",
        "moderator_reject",
        "moderator_hold",
        "moderator_spam",
    } <= reasons
    pages = [
        "/console/polls",
        "/console/polls/new",
        f"/console/polls/{talk['id']}",
        f"/console/polls/{talk['id']}/results",
        f"/console/polls/{held['id']}/results",
        f"/console/polls/{held['id']}/held",
        *(f"/console/polls/{talk['id']}/{a}" for a in ("close", "archive", "delete")),
        "/console/sites",
        "/console/sites/hoan-kiem",
        "/console/people",
        "/console/audit",
        "/console/audit?action=comment.reject",
        "/console/account",
        *(f"/console/moderation?state={s}" for s in (*STATES, "all")),
        "/console/moderation?state=all&reason=moderator_reject",
        "/console/polls/nosuchpoll/results",
    ]
    for lang in ("vi", "en"):
        await me.get("/console/polls", params={"lang": lang})
        for url in pages:
            r = await me.get(url)
            assert r.status_code in (200, 404), (url, r.status_code)
            assert f'<html lang="{lang}">' in r.text
            assert raw_codes(r.text, lang) == [], (lang, url)
        # The confirmations and answers to a post.
        asked = await post_form(
            me, "/console/people", "/console/people/disable", {"email": "bt@hoankiem.vn"}
        )
        assert raw_codes(asked.text, lang) == [], (lang, "ask")
        queue = await me.get("/console/moderation?state=all")
        assert raw_codes(queue.text, lang) == []
    # The queue marks own words and names the option they were given for.
    queue = await me.get("/console/moderation?state=all&lang=vi")
    assert queue.text.count("Ý kiến riêng kèm phiếu") == 2
    assert "Câu trả lời kèm phiếu chọn “Ý kiến khác”" in queue.text


def test_a_code_not_listed_yet_reads_as_words() -> None:
    from service.console.words import Words
    from service.core.i18n import messages

    say = Words(messages("en", "console"))
    assert say.reason("new_filter") == "Another reason"
    assert say.action("thing.done") == "Other action"
    assert (say.object("widget"), say.actor("token:7"), say.actor("cli")) == (
        "Object",
        "API token 7",
        "Command line",
    )
