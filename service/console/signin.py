"""Signing in and out: the sign-in form (its own CSRF token before any session exists),
within the process's hash budget, throttled per account, address and network, one answer
for every wrong e-mail or password."""

from __future__ import annotations

import secrets

from starlette.requests import Request
from starlette.responses import Response

from service.console import hashing, passwords, sessions, throttle
from service.console.web import (
    Form,
    Page,
    console_page,
    language,
    redirect,
    render,
    secure_cookies,
)
from service.core.errors import BadRequest
from service.core.http import cookie, raw_header
from service.core.validation import parse_form, read_body
from service.identity.address import client_ip, network_of
from service.identity.audit import audit
from service.identity.keys import SIGN_IN_FORM, digest, matches
from service.identity.principal import Principal
from service.ops.metrics import SIGNIN_REFUSED
from service.services import services

PRE_COOKIE = "cp_signin"  # ties the sign-in form's CSRF token to this browser


def _person(user_id: int) -> Principal:
    """The person as the audit log names them (signing in and out needs no scope)."""
    return Principal(None, frozenset(), frozenset(), user_id)


def _form_token(secret: bytes, pre: str) -> str:
    return digest(secret, SIGN_IN_FORM, pre)


def _next(target: str) -> str:
    """Only a console path, so the form cannot send a person off to another site."""
    safe = (
        target.startswith("/console")
        and "\\" not in target
        and target.isascii()
        and target.isprintable()
        and len(target) <= 2000
    )
    return target if safe else "/console"


def _form(request: Request, lang: str, status: int = 200, **context: object) -> Response:
    svc = services(request)
    pre = cookie(raw_header(request, b"cookie"), PRE_COOKIE)
    fresh = not pre or len(pre) > 64 or not pre.isascii()
    if fresh:
        pre = secrets.token_urlsafe(24)
    assert pre is not None
    context.setdefault("next", _next(request.query_params.get("next", "/console")))
    context.setdefault("email", "")
    response = render(
        request,
        "console_signin.html",
        lang,
        None,
        status,
        csrf=_form_token(svc.settings.secret_key, pre),
        **context,
    )
    if fresh:
        response.set_cookie(
            PRE_COOKIE,
            pre,
            path="/console",
            httponly=True,
            samesite="lax",
            secure=secure_cookies(svc),
        )
    return response


async def signin_form(request: Request) -> Response:
    return _form(request, language(request))


async def signin(request: Request) -> Response:
    svc = services(request)
    lang = language(request)
    t = Page(request, svc, None, lang).t
    secret = svc.settings.secret_key
    try:
        form = Form(parse_form(await read_body(request)))
    except BadRequest:
        form = Form([])
    pre = cookie(raw_header(request, b"cookie"), PRE_COOKIE) or ""
    if not pre or not matches(secret, SIGN_IN_FORM, pre, form.get("csrf") or ""):
        return _form(request, lang, 403, problem=t["csrf"])
    email = form.get("email").strip().lower()[:254]
    if not email.isprintable():
        email = ""  # PostgreSQL refuses NUL; no account has such an address anyway
    password = form.get("password")
    target = _next(form.get("next", "/console"))

    def refused(problem: str, retry_after: int) -> Response:
        response = _form(request, lang, 429, problem=problem, email=email, next=target)
        response.headers["Retry-After"] = str(retry_after)
        return response

    # The process's hash budget first: during a flood it refuses without a database trip.
    wait = svc.signin_budget.take()
    if wait:
        SIGNIN_REFUSED.labels("budget").inc()
        return refused(t["busy"], wait)
    peer = request.client.host if request.client else None
    address = client_ip(request.scope["headers"], peer, svc.settings.trusted_proxies)
    k = throttle.keys(secret, email, address, network_of(address))
    async with svc.pool.acquire() as con:
        reserved = await throttle.reserve(con, k)
        row = None
        if reserved is not None:
            row = await con.fetchrow(
                "SELECT id, password_hash, disabled_at FROM users WHERE email = $1", email
            )
    if reserved is None:
        svc.signin_budget.give_back()  # nothing was hashed
        SIGNIN_REFUSED.labels("throttled").inc()
        return refused(t["throttled"], int(throttle.WINDOW.total_seconds()))
    # An unknown e-mail verifies against a dummy hash: the same time, the same budget and
    # the same reservation as a wrong password, so neither the timing nor the limit tells.
    # No connection is held while the hash runs.
    stored = row["password_hash"] if row else None
    good = await hashing.verify(stored, password)
    if row is None or not good or row["disabled_at"] is not None:
        # The reserved row stays: it is this failure.
        return _form(request, lang, 401, problem=t["wrong_login"], email=email, next=target)
    # Hashes made with older costs are remade at a good sign-in (the thread, not the loop).
    old = passwords.needs_rehash(row["password_hash"])
    rehashed = await hashing.hash_password(password) if old else None
    async with svc.pool.acquire() as con, con.transaction():
        await throttle.clear_account(con, k)
        if rehashed is not None:
            await con.execute(
                "UPDATE users SET password_hash = $2 WHERE id = $1", row["id"], rehashed
            )
        session_id = await sessions.start(con, secret, row["id"])
        await audit(
            con,
            _person(row["id"]),
            action="sign_in",
            object_type="user",
            object_id=str(row["id"]),
        )
    response = redirect(target)
    response.set_cookie(
        sessions.COOKIE,
        session_id,
        path="/console",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(svc),
    )
    response.delete_cookie(PRE_COOKIE, path="/console")
    return response


@console_page()
async def signout(page: Page) -> Response:
    assert page.session is not None
    async with page.svc.pool.acquire() as con, con.transaction():
        await sessions.end(con, page.session)
        user_id = page.session.user_id
        await audit(
            con, _person(user_id), action="sign_out", object_type="user", object_id=str(user_id)
        )
    response = redirect("/console/login")
    response.delete_cookie(sessions.COOKIE, path="/console")
    return response
