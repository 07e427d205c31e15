"""The embed page's HTML: rendered once for everything that shapes it (EmbedPages, a
bounded memo owned by the services object); served whole to everyone, cacheable by a
shared cache, when it holds no reader's state, or around fresh form tokens when it is one
reader's own; and the friendly pages for a poll that is not there or may not be shown
where it is framed."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response

from service.core.assets import ASSETS
from service.core.http import PreparedResponse, not_modified
from service.core.i18n import CATALOGS, DEFAULT_LOCALE, LOCALES, choice_rule, format_time, gettext
from service.core.templates import template_source, templates
from service.feedback.scales import end_labels, value_label
from service.identity.tokens import widget_token
from service.polls.model import Poll
from service.widget.discussion import COMMENT_MESSAGES, PublishedComments, comments_section
from service.widget.figures import point_label, result_rows
from service.widget.outcomes import DONE, OUTCOME_MESSAGES, hidden_note, script_messages
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
# A page that is the same for every reader of its URL may sit in a shared cache (a CDN in
# front of the service) this long: seconds, so a closed poll or new results show soon.
# It depends on nothing in the request but its URL; Accept-Encoding is named for the
# caches that compress.
SHARED_CACHE = b"public, max-age=5, s-maxage=5"
SHARED_VARY = b"Accept-Encoding"


@dataclass(frozen=True)
class Rendered:
    """One rendered page, split where each form's hidden fields go (a reader's own page
    carries fresh tokens there; the shared page nothing)."""

    parts: tuple[bytes, ...]  # one more than the page has forms
    etag: str
    headers: tuple[tuple[bytes, bytes], ...]  # content type and CSP

    @property
    def body(self) -> bytes:
        """The page with no per-reader fields: the one every reader may share."""
        return b"".join(self.parts)

    @property
    def head(self) -> bytes:
        return self.parts[0]

    @property
    def tail(self) -> bytes:
        return b"".join(self.parts[1:])


@dataclass(frozen=True)
class _Hot:
    poll: Poll
    page: Rendered


# What becomes of own words (feedback/own_words.first_state): public at once only on a
# post-moderated poll; waiting for a moderator otherwise, and never shown without comments.
_OTHER_HINTS = {
    "premoderated": "other_text_premoderated",
    "postmoderated": "other_text_public",
    "off": "other_text_private",
}


def _csp(frame_ancestors: str, style: str) -> str:
    digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    return (
        "default-src 'none'; script-src 'self'; connect-src 'self'; "
        f"style-src 'self' 'sha256-{digest}'; form-action 'self'; base-uri 'none'; "
        f"frame-ancestors {frame_ancestors}"
    )


def _scale(poll: Poll, locale: str) -> dict[str, Any] | None:
    """A scale question's points as the form draws them, or None for choices."""
    if not poll.is_rating:
        return None
    low, high = end_labels(poll, locale)
    stars = poll.kind == "rating" and poll.scale == "stars"
    style = "likert" if poll.kind == "likert" else ("stars" if stars else "number")
    points = []
    for option in poll.options:
        value = option.value if option.value is not None else 0
        points.append(
            {
                "value": value,
                # A star's visible label is its number; a screen reader hears "4 stars".
                "text": str(value) if stars else value_label(poll, value, locale),
                "spoken": point_label(poll, value, locale) if stars else "",
            }
        )
    values = [o.value for o in poll.options if o.value is not None]
    return {
        "style": style,
        "points": points,
        "low": low,
        "high": high,
        "rule": gettext(locale, "choose_rating", low=min(values), high=max(values)),
    }


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
    comments: dict[str, Any] | None = None,
    comment_note: str | None = None,
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
    scale = _scale(poll, locale)
    rule = scale["rule"] if scale else choice_rule(locale, poll.min_choices, poll.max_choices)
    if phase == "closed" and message is None:
        message_text = gettext(locale, "poll_closed")
    elif message == "choice_rule":
        message_text = rule
    elif message is not None:
        message_text = gettext(locale, message)
    else:
        message_text = None
    discussion = comments_section(poll, view, phase, comments, comment_note)
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
        scale=scale,
        show_form=show_form,
        action=f"/v1/polls/{poll.id}/votes" + (f"?{view.query}" if view.query else ""),
        input_type="radio" if poll.max_choices == 1 else "checkbox",
        rule=rule,
        other_hint=gettext(locale, _OTHER_HINTS[poll.comments]),
        hidden_fields=_SLOT,
        page=view.page,
        results_href=(
            f"/embed/{poll.id}?{query}view=results"
            if poll.results_visibility in ("always", "after_vote")
            else None
        ),
        comments_href=(
            f"/embed/{poll.id}?{query}view=comments" if poll.comments != "off" else None
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
        results=result_rows(results, locale, poll) if results else None,
        results_heading=gettext(locale, "final_results" if phase == "closed" else "results"),
        live=results is not None and phase == "open",
        discussion=discussion,
        data={
            "poll": poll.id,
            "locale": locale,
            "min": poll.min_choices,
            "max": poll.max_choices,
            "rule": rule,
            "rating": poll.is_rating,
            "stars": scale is not None and scale["style"] == "stars",
            "comments_href": (
                f"/embed/{poll.id}?{query}view=comments" if poll.comments != "off" else None
            ),
            "note": hidden_note(poll),
            "codes": OUTCOME_MESSAGES,
            "comment_codes": COMMENT_MESSAGES if poll.comments != "off" else {},
            "messages": {k: CATALOGS[locale][k] for k in script_messages(poll)},
        },
    )
    parts = tuple(part.encode() for part in html.split(_SLOT))
    ancestors = " ".join(("'self'", *allowed_origins(poll, own_origin)[1:]))
    digest = hashlib.blake2b(repr((_BUILD, key)).encode(), digest_size=12).hexdigest()
    headers = (
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-security-policy", _csp(ancestors, style).encode()),
    )
    return Rendered(parts, digest, headers)


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
        self.comments = PublishedComments()

    def hot(self, poll_id: str, request_key: bytes, poll: Poll) -> Rendered | None:
        """The public form page kept for this request (its raw query, and the framing
        page when one stands in for `page`), if made from this very poll object (a
        changed poll is a new object in the poll cache)."""
        hot = self._hot.get((poll_id, request_key))
        return hot.page if hot is not None and hot.poll is poll else None

    def keep_hot(self, poll_id: str, request_key: bytes, poll: Poll, page: Rendered) -> None:
        """Remember a public form page for `hot`: only pages that are the same for every
        reader of this URL."""
        if len(self._hot) >= self._limit:
            self._hot.clear()
        self._hot[(poll_id, request_key)] = _Hot(poll, page)

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
        comments: dict[str, Any] | None = None,
        comment_note: str | None = None,
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
            _comments_key(comments),
            comment_note,
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
                comments=comments,
                comment_note=comment_note,
            )
        return page


def _comments_key(comments: dict[str, Any] | None) -> Any:
    if comments is None:
        return None
    items = tuple(
        (c["id"], c.get("name"), c["body"], str(c["created_at"])) for c in comments["items"]
    )
    return items, comments.get("next_cursor")


def shared_page(request: Request, page: Rendered, vary: bytes = SHARED_VARY) -> Response:
    """A page that is the same for every reader of its URL: no token, no reader's state,
    so a shared cache may keep it a few seconds and hand it to anyone."""
    etag = f'W/"{page.etag}"'
    headers = [
        *page.headers,
        (b"etag", etag.encode()),
        (b"cache-control", SHARED_CACHE),
        (b"vary", vary),
    ]
    if not_modified(request, etag):
        return PreparedResponse(b"", headers, 304)
    return PreparedResponse(page.body, headers)


def personal_page(page: Rendered, secret_key: bytes, poll_id: str, voter: str | None) -> Response:
    """One reader's own page (an outcome to show, or their portal's signed voter id):
    never stored by anyone, each form with a fresh single-use token."""
    headers = [*page.headers, (b"cache-control", b"private, no-store")]
    chunks = [page.parts[0]]
    for part in page.parts[1:]:
        fields = f'<input type="hidden" name="token" value="{widget_token(secret_key, poll_id)}">'
        if voter:
            fields += f'<input type="hidden" name="voter" value="{escape(voter)}">'
        chunks += [fields.encode(), part]
    return PreparedResponse(b"".join(chunks), headers)


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
    # The framer's origin (checked by foreign_framer) hears the notice's height, as an
    # allowed host hears the poll's: the frame shrinks to the notice, no blank gap below.
    return _notice_page(locale, gettext(locale, "frame_refused"), hint, 403, origin=framer)


def _notice_page(
    locale: str, notice: str, hint: str | None, status: int, *, origin: str | None = None
) -> Response:
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
        origin=origin,
    )
    # Nothing on this page acts for the reader, so any site may frame it.
    headers = {"Content-Security-Policy": _csp("*", style), "Cache-Control": "no-store"}
    return Response(
        html, status_code=status, media_type="text/html; charset=utf-8", headers=headers
    )
