"""Signed, expiring view keys: the dashboard links an admin shares with a newsroom, each
tied to the API token that minted it, so revoking the token shuts its links."""

from __future__ import annotations

import asyncio
import time

import asyncpg
from starlette.requests import Request

from service.identity.context import identity_context
from service.identity.keys import VIEW_LINK, digest, matches

# Longest key: a 10-digit expiry, a 19-digit token id, a 32-digit MAC and two dots.
_MAX_KEY = 64
_MAX_CACHED = 4096  # distinct minting tokens; only genuine keys (MAC checked) get here


def _mac(secret: bytes, subject: str, expires_at: int, token_id: int) -> str:
    return digest(secret, VIEW_LINK, f"{subject}.{expires_at}.{token_id}")


def view_key(secret: bytes, subject: str, expires_at: int, token_id: int) -> str:
    """`<expiry>.<token id>.<mac>` opening the live view of `subject` ("poll:ID" or
    "site:SLUG") until `expires_at`, while the token `token_id` that minted it lives."""
    return f"{expires_at}.{token_id}.{_mac(secret, subject, expires_at, token_id)}"


def key_token(secret: bytes, key: str, *subjects: str, now: float | None = None) -> int | None:
    """The id of the token that minted `key` when it is a live, genuine view key for one
    of `subjects`; else None. Whether that token is still unrevoked is LinkTokens' part.

    Keys of the first format (`<expiry>.<mac>`, no token id) open nothing: they could
    not be revoked short of rotating SECRET_KEY for up to 30 days, which is exactly the
    hole this format closes; an admin mints a new link once (the API answers at once)."""
    # ASCII first: "²" passes isdigit() but not int(), and compare_digest refuses non-ASCII.
    if len(key) > _MAX_KEY or not key.isascii():
        return None
    expires, _, rest = key.partition(".")
    token, _, mac = rest.partition(".")
    if not (expires.isdigit() and token.isdigit() and expires.isascii() and token.isascii()):
        return None
    if int(expires) < (time.time() if now is None else now):
        return None
    token_id = int(token)
    for subject in subjects:
        if matches(secret, VIEW_LINK, f"{subject}.{int(expires)}.{token_id}", mac):
            return token_id
    return None


class LinkTokens:
    """Whether the tokens behind dashboard links are unrevoked, as this process last saw.

    One primary-key lookup per token per `ttl` seconds, shared by every request asking
    meanwhile, so a viral dashboard costs PostgreSQL nothing per view; a revocation takes
    effect within `ttl` seconds (LINK_TOKEN_RECHECK_SECONDS) in every process."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._seen: dict[int, tuple[float, asyncio.Task[bool]]] = {}

    async def live(self, pool: asyncpg.Pool, token_id: int) -> bool:
        entry = self._seen.get(token_id)
        if entry is None or (entry[1].done() and time.monotonic() >= entry[0]):
            if len(self._seen) >= _MAX_CACHED:
                self._seen.clear()
            # A task of its own: a viewer who gives up must not cancel the others' answer.
            lookup = asyncio.create_task(self._look_up(pool, token_id))
            entry = self._seen[token_id] = (time.monotonic() + self.ttl, lookup)
        return await asyncio.shield(entry[1])

    async def _look_up(self, pool: asyncpg.Pool, token_id: int) -> bool:
        try:
            live = await pool.fetchval(
                "SELECT revoked_at IS NULL FROM api_tokens WHERE id = $1", token_id
            )
        except BaseException:
            # A fault is no answer to keep: the next viewer asks again (this one gets 503).
            self._seen.pop(token_id, None)
            raise
        return live is True  # None: no such token (deleted with its site)

    def forget(self) -> None:
        """Drop what this process has seen (tests; an operator's revocation is just waited out)."""
        self._seen.clear()


async def link_opens(request: Request, key: str, *subjects: str) -> bool:
    """True when `key` is a live, genuine view key for one of `subjects` whose minting
    token is not revoked."""
    ctx = identity_context(request)
    token_id = key_token(ctx.settings.secret_key, key, *subjects)
    if token_id is None:
        return False
    return await ctx.link_tokens.live(ctx.pool, token_id)
