"""What every console page shares: the signed-in person (or the sign-in page), the CSRF
check on every state-changing request, the page language, and HTML answers with the
console's headers (no framing, no caching, scripts only from our own origin)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from service.console import sessions
from service.console.sessions import Session
from service.console.words import Words
from service.core.errors import Forbidden, ServiceError
from service.core.http import cookie, raw_header, status_of
from service.core.i18n import DEFAULT_LOCALE, LOCALES, format_number, format_time, messages
from service.core.templates import templates
from service.core.validation import parse_form, read_body
from service.services import Services, services

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; frame-src 'self'; form-action 'self'; base-uri 'none';"
    " frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
LANG_COOKIE = "cp_lang"
_MESSAGES = {locale: messages(locale, "console") for locale in LOCALES}
_WORDS = {locale: Words(_MESSAGES[locale]) for locale in LOCALES}
_STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Form:
    """A urlencoded form's fields: the first value of a name, or all of them."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self.pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        return next((v for k, v in self.pairs if k == name), default)

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.pairs if k == name]

    def __contains__(self, name: str) -> bool:
        return any(k == name for k, _ in self.pairs)


@dataclass
class Page:
    """One console request: who asks, in which language, and the form they sent."""

    request: Request
    svc: Services
    session: Session | None
    lang: str
    form: Form = field(default_factory=lambda: Form([]))

    @property
    def t(self) -> Mapping[str, str]:
        return _MESSAGES[self.lang]

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        return render(self.request, template, self.lang, self.session, status, **context)

    @property
    def confirmed(self) -> bool:
        """Whether the person said yes on the confirmation page (`ask`)."""
        return self.form.get("confirmed") == "1"

    def ask(
        self, *, title: str, message: str, button: str, back: str, warning: str = ""
    ) -> Response:
        """A destructive action's confirmation: the same form posted to the same address
        again, with `confirmed`; the CSRF token is the session's, as on every form."""
        fields = [(k, v) for k, v in self.form.pairs if k not in ("csrf", "confirmed")]
        return self.render(
            "console_ask.html",
            title=title,
            message=message,
            button=button,
            back=back,
            warning=warning,
            fields=fields,
        )


def language(request: Request) -> str:
    lang = request.query_params.get("lang") or cookie(raw_header(request, b"cookie"), LANG_COOKIE)
    return lang if lang in LOCALES else DEFAULT_LOCALE


def secure_cookies(svc: Services) -> bool:
    return svc.settings.public_url.startswith("https://")


def render(
    request: Request,
    template: str,
    lang: str,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> Response:
    t = _MESSAGES[lang]
    svc = services(request)
    # Admins hear that this service is reached at an address its codes do not name.
    elsewhere = svc.hosts.elsewhere if session and "sites:admin" in session.principal.scopes else []
    other = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    html = templates.get_template(template).render(
        t=t,
        lang=lang,
        session=session,
        path=request.url.path,
        other_lang=request.url.path + "?" + urlencode([*other, ("lang", _other(lang))]),
        other_lang_name=t["lang_" + _other(lang)],
        num=lambda n: format_number(n, lang),
        when=lambda moment: format_time(moment, lang) if moment else "",
        say=_WORDS[lang],
        elsewhere=elsewhere,
        public_url=svc.settings.public_url,
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=HEADERS)
    if request.query_params.get("lang") in LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            lang,
            max_age=365 * 86400,
            path="/console",
            samesite="lax",
            httponly=True,
            secure=secure_cookies(svc),
        )
    return response


def _other(lang: str) -> str:
    return "en" if lang == "vi" else "vi"


def redirect(url: str) -> Response:
    # 303: the browser follows a POST's answer with a GET (no re-posting on reload).
    return RedirectResponse(url, status_code=303, headers=HEADERS)


def _same_origin(request: Request, svc: Services) -> bool:
    """A browser names the page that sent a request; another origin's page may not post
    here (the CSRF token already stops it; this refuses it before the form is read)."""
    origin = raw_header(request, b"origin")
    return origin is None or origin.decode("latin-1") == svc.own_origin


Handler = Callable[[Page], Awaitable[Response]]


def console_page(scope: str | None = None) -> Callable[[Handler], Callable[..., Any]]:
    """A page for a signed-in person (others go to the sign-in page) holding `scope`;
    a state-changing request must carry the session's CSRF token (else 403)."""

    def wrap(handler: Handler) -> Callable[..., Any]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            svc = services(request)
            lang = language(request)
            async with svc.pool.acquire() as con:
                session = await sessions.find(
                    con,
                    svc.settings.secret_key,
                    cookie(raw_header(request, b"cookie"), sessions.COOKIE),
                )
            if session is None:
                if request.method in _STATE_CHANGING:
                    return error_page(request, lang, None, Forbidden(_MESSAGES[lang]["csrf"]))
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return redirect(f"/console/login?next={quote(target, safe='')}")
            page = Page(request, svc, session, lang)
            try:
                if request.method in _STATE_CHANGING:
                    if not _same_origin(request, svc):
                        raise Forbidden(page.t["csrf"], code="csrf")
                    page.form = Form(parse_form(await read_body(request)))
                    sent = page.form.get("csrf") or request.headers.get("x-csrf-token")
                    if not sessions.csrf_matches(session, sent):
                        raise Forbidden(page.t["csrf"], code="csrf")
                if scope is not None:
                    if scope not in session.principal.scopes:
                        raise Forbidden(page.t["not_allowed"], code="missing_scope")
                return await handler(page)
            except ServiceError as exc:
                return error_page(request, lang, session, exc)

        return endpoint

    return wrap


def error_page(request: Request, lang: str, session: Session | None, exc: ServiceError) -> Response:
    return render(request, "console_error.html", lang, session, status_of(exc), error=exc)
