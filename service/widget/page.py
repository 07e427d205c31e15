"""The embed page's HTML: rendered once for everything that shapes it (EmbedPages, a
bounded memo owned by the services object), served around a fresh form token, and the
friendly pages for a poll that is not there or may not be shown where it is framed."""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from service.core.assets import ASSETS
from service.core.http import PUBLIC_CACHE, PreparedResponse, not_modified
from service.core.i18n import CATALOGS, DEFAULT_LOCALE, LOCALES, choice_rule, format_time, gettext
from service.core.templates import template_source, templates
from service.polls.model import Poll
from service.voting.identity import widget_token
from service.widget.figures import result_rows
from service.widget.outcomes import DONE, OUTCOME_MESSAGES, SCRIPT_MESSAGES, hidden_note
from service.widget.theme import DEFAULT_THEME, theme_css
from service.widget.view import View, allowed_origins

_PAGE = templates.get_template("embed.html")
_CSS_HREF = ASSETS["embed.css"].href
_JS_HREF = ASSETS["embed.js"].href
# Fair limits: the proof-of-work solver and its worker (challenge.js, pow-worker.js).
_CHALLENGE_HREF = ASSETS["challenge.js"].href
_WORKER_HREF = ASSETS["pow-worker.js"].href
# Changes whenever the page's template or assets do, so no old page validates after a
# deploy.
_BUILD = hashlib.blake2b(
    template_source("embed.html") + b"".join(a.body for a in ASSETS.values()),
    digest_size=8,
).hexdigest()
_SLOT = "\x00hidden-fields\x00"


@dataclass(frozen=True)
class Rendered:
    """One rendered page, split where the form's hidden fields go."""

    head: bytes
    tail: bytes  # after the form's hidden fields; empty when the page has no form
    etag: str
    headers: tuple[tuple[bytes, bytes], ...]  # content type and CSP


@dataclass(frozen=True)
class _Hot:
    poll: Poll
    page: Rendered


def _csp(frame_ancestors: str, style: str) -> str:
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return (
        "default-src 'none'; script-src 'self'; connect-src 'self'; "
        f"style-src 'self' 'sha256-{digest}'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )


def render(
    key: tuple[Any, ...],
    *,
    poll: Poll,
    view: View,
    public_url: str,
    own_origin: str,
    phase: str,
    message: str | None,
    show_form: bool,
    wants_results: bool,
    results: dict[str, Any] | None,
) -> Rendered:
    """The page for these inputs; `key` names them all and makes the ETag."""
    locale = view.locale
    p = f"cp{view.wid}-"
    query = f"{view.query}&" if view.query else ""
    style = theme_css(view.accent, view.radius, view.font)
    note = None
    opens = None
    if phase == "not_open" and poll.opens_at is not None:
        before, _, after = CATALOGS[locale]["opens_at"].partition("{time}")
        opens = {
            "before": before,
            "after": after,
            "at": poll.opens_at.isoformat(),
            "text": format_time(poll.opens_at, locale),
        }
    elif phase == "not_open":
        note = gettext(locale, "poll_not_open")
    elif results is None and not show_form:
        note = gettext(locale, hidden_note(poll))
    if phase == "closed" and message is None:
        message_text = gettext(locale, "poll_closed")
    elif message == "choice_rule":
        message_text = choice_rule(locale, poll.min_choices, poll.max_choices)
    elif message is not None:
        message_text = gettext(locale, message)
    else:
        message_text = None
    html = _PAGE.render(
        missing=None,
        p=p,
        locale=locale,
        t=CATALOGS[locale],
        mode=view.mode,
        wid=view.wid,
        origin=view.origin,
        state=message or "",
        title=gettext(locale, "poll_title", question=poll.question),
        oembed_href=f"{public_url}/oembed?"
        + urlencode({"url": f"{public_url}/embed/{poll.id}", "format": "json"}),
        css_href=_CSS_HREF,
        js_href=_JS_HREF,
        challenge_href=_CHALLENGE_HREF,
        worker_href=_WORKER_HREF,
        theme_css=Markup(style),  # noqa: S704 -- built only from validated theme values
        poll=poll,
        show_form=show_form,
        action=f"/v1/polls/{poll.id}/votes" + (f"?{view.query}" if view.query else ""),
        input_type="radio" if poll.max_choices == 1 else "checkbox",
        rule=choice_rule(locale, poll.min_choices, poll.max_choices),
        hidden_fields=_SLOT,
        page=view.page,
        results_href=(
            f"/embed/{poll.id}?{query}view=results"
            if poll.results_visibility in ("always", "after_vote")
            else None
        ),
        back_href=(
            f"/embed/{poll.id}" + (f"?{view.query}" if view.query else "")
            if wants_results and phase == "open" and message not in DONE
            else None
        ),
        message=message_text,
        message_error=message is not None and message not in DONE,
        note=note,
        opens=opens,
        results=result_rows(results, locale) if results else None,
        results_heading=gettext(locale, "final_results" if phase == "closed" else "results"),
        live=results is not None and phase == "open",
        data={
            "poll": poll.id,
            "locale": locale,
            "min": poll.min_choices,
            "max": poll.max_choices,
            "rule": choice_rule(locale, poll.min_choices, poll.max_choices),
            "note": hidden_note(poll),
            "codes": OUTCOME_MESSAGES,
            "messages": {k: CATALOGS[locale][k] for k in SCRIPT_MESSAGES},
        },
    )
    head, _, tail = html.partition(_SLOT)
    ancestors = " ".join(("'self'", *allowed_origins(poll, own_origin)[1:]))
    digest = hashlib.blake2b(repr((_BUILD, key)).encode(), digest_size=12).hexdigest()
    headers = (
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-security-policy", _csp(ancestors, style).encode()),
    )
    return Rendered(head.encode(), tail.encode(), digest, headers)


class EmbedPages:
    """The pages rendered so far, by everything that shapes them: a pure function's memo,
    so it holds no request's or voter's data. Beside it, the public form page by poll and
    raw query string, for the poll object it was made from: the common request skips
    parsing and key building. Each is cleared whole when full, like the counts cache."""

    def __init__(self, public_url: str, own_origin: str, limit: int = 4096) -> None:
        self._public_url = public_url
        self._own_origin = own_origin
        self._limit = limit
        self._pages: dict[tuple[Any, ...], Rendered] = {}
        self._hot: dict[tuple[str, bytes], _Hot] = {}

    def hot(self, poll_id: str, raw_query: bytes, poll: Poll) -> Rendered | None:
        """The public form page kept for this request, if made from this very poll object
        (a changed poll is a new object in the poll cache)."""
        hot = self._hot.get((poll_id, raw_query))
        return hot.page if hot is not None and hot.poll is poll else None

    def keep_hot(self, poll_id: str, raw_query: bytes, poll: Poll, page: Rendered) -> None:
        """Remember a public form page for `hot`: only pages that are the same for every
        reader of this URL."""
        if len(self._hot) >= self._limit:
            self._hot.clear()
        self._hot[(poll_id, raw_query)] = _Hot(poll, page)

    def page(
        self,
        poll: Poll,
        view: View,
        *,
        phase: str,
        message: str | None,
        show_form: bool,
        wants_results: bool,
        results: dict[str, Any] | None,
    ) -> Rendered:
        """The page for these inputs, rendered on first use."""
        key = (
            poll.id,
            poll.updated_at,
            poll.site.allowed_origins,
            self._own_origin,
            view,
            phase,
            message,
            show_form,
            wants_results,
            tuple(o["votes"] for o in results["options"]) if results else None,
        )
        page = self._pages.get(key)
        if page is None:
            if len(self._pages) >= self._limit:
                self._pages.clear()
            page = self._pages[key] = render(
                key,
                poll=poll,
                view=view,
                public_url=self._public_url,
                own_origin=self._own_origin,
                phase=phase,
                message=message,
                show_form=show_form,
                wants_results=wants_results,
                results=results,
            )
        return page


def form_page(
    request: Request,
    page: Rendered,
    secret_key: bytes,
    poll_id: str,
    voter: str | None,
    revalidate: bool,
) -> Response:
    """A page with a form: the cached HTML around a fresh token."""
    headers = list(page.headers)
    if revalidate:
        # A revalidated copy keeps the token it was sent with, so the tag turns hourly:
        # no copy outlives its token (6 hours). `private`: no shared cache may hand one
        # reader's token to another.
        etag = f'W/"{page.etag}.{int(time.time()) // 3600}"'
        headers.append((b"etag", etag.encode()))
        headers.append((b"cache-control", b"private, no-cache"))
        if not_modified(request, etag):
            return PreparedResponse(b"", headers, 304)
    else:
        headers.append((b"cache-control", b"private, no-store"))
    token = widget_token(secret_key, poll_id)
    fields = f'<input type="hidden" name="token" value="{token}">'
    if voter:
        fields += f'<input type="hidden" name="voter" value="{escape(voter)}">'
    return PreparedResponse(page.head + fields.encode() + page.tail, headers)


def formless_page(request: Request, page: Rendered, personal: bool) -> Response:
    """A page without a form: shared and revalidated, unless it is one reader's own."""
    headers = list(page.headers)
    if personal:
        headers.append((b"cache-control", b"private, no-store"))
        return PreparedResponse(page.head, headers)
    etag = f'W/"{page.etag}"'
    headers += [(b"etag", etag.encode()), (b"cache-control", PUBLIC_CACHE.encode())]
    if not_modified(request, etag):
        return PreparedResponse(b"", headers, 304)
    return PreparedResponse(page.head, headers)


def missing_page(request: Request) -> Response:
    """The friendly 404 for a poll that does not exist or is not public."""
    locale = request.query_params.get("locale", DEFAULT_LOCALE)
    locale = locale if locale in LOCALES else DEFAULT_LOCALE
    return _notice_page(locale, gettext(locale, "not_found"), None, 404)


def refused_frame_page(request: Request, poll: Poll, framer: str) -> Response:
    """What a site that may not frame the poll shows instead of the browser's broken
    frame: that it may not, and what its editors can do, in the poll's language."""
    locale = request.query_params.get("locale", poll.locale)
    if locale not in LOCALES:
        locale = poll.locale if poll.locale in LOCALES else DEFAULT_LOCALE
    hint = gettext(locale, "frame_refused_hint", origin=framer)
    return _notice_page(locale, gettext(locale, "frame_refused"), hint, 403)


def _notice_page(locale: str, notice: str, hint: str | None, status: int) -> Response:
    style = theme_css(DEFAULT_THEME["accent"], DEFAULT_THEME["radius"], DEFAULT_THEME["font"])
    html = _PAGE.render(
        missing=notice,
        hint=hint,
        p="cp0-",
        locale=locale,
        t=CATALOGS[locale],
        mode="auto",
        wid="0",
        title=gettext(locale, "poll"),
        css_href=_CSS_HREF,
        js_href=_JS_HREF,
        challenge_href=_CHALLENGE_HREF,
        worker_href=_WORKER_HREF,
        theme_css=Markup(style),  # noqa: S704 -- built only from fixed theme values
        data={},
    )
    # Nothing on this page acts for the reader, so any site may frame it.
    headers = {"Content-Security-Policy": _csp("*", style), "Cache-Control": "no-store"}
    return Response(
        html, status_code=status, media_type="text/html; charset=utf-8", headers=headers
    )
