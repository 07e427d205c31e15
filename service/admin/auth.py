"""Admin API tokens: issue, hash, check scope and site."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg
from starlette.requests import Request

from service.core.errors import Forbidden, NotFound, Unauthorized
from service.services import services
from service.storage.db import Conn

SCOPES = ("polls:read", "polls:write", "sites:admin", "comments:moderate")
TOKEN_PREFIX = "cp_"  # noqa: S105 -- a public marker, not a secret


@dataclass(frozen=True)
class Principal:
    token_id: int
    scopes: frozenset[str]
    site_id: int | None  # None: every site

    @property
    def actor(self) -> str:
        return f"token:{self.token_id}"

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the {scope} scope", code="missing_scope")

    def sees(self, site_id: int) -> bool:
        return self.site_id is None or self.site_id == site_id

    def check_site(self, site_id: int) -> None:
        # Another site's object is reported missing, never forbidden, so that a
        # site-scoped token cannot learn what other sites hold.
        if not self.sees(site_id):
            raise NotFound("no such object")


def hash_token(secret_key: bytes, token: str) -> str:
    return hmac.new(secret_key, token.encode(), hashlib.sha256).hexdigest()


async def create_token(
    con: Conn,
    secret_key: bytes,
    scopes: list[str],
    site_id: int | None,
    label: str = "",
) -> tuple[int, str]:
    """Store a new token's hash; the plain token is returned once and never kept."""
    unknown = set(scopes) - set(SCOPES)
    if unknown or not scopes:
        raise ValueError(f"scopes must be a non-empty subset of {', '.join(SCOPES)}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id: int = await con.fetchval(
        "INSERT INTO api_tokens (token_hash, label, scopes, site_id) VALUES ($1, $2, $3, $4)"
        " RETURNING id",
        hash_token(secret_key, token),
        label,
        sorted(set(scopes)),
        site_id,
    )
    return token_id, token


async def authenticate(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        raise Unauthorized(
            "send an API token: Authorization: Bearer cp_...",
            headers={"WWW-Authenticate": 'Bearer realm="civicpoll"'},
        )
    token_hash = hash_token(services(request).settings.secret_key, token.strip())
    pool: asyncpg.Pool = services(request).pool
    row = await pool.fetchrow(
        "UPDATE api_tokens SET last_used_at = now()"
        " WHERE token_hash = $1 AND revoked_at IS NULL"
        " RETURNING id, token_hash, scopes, site_id",
        token_hash,
    )
    # The lookup is by hash; the constant-time comparison guards against any future
    # change of the lookup (a prefix index, a cache) turning into a timing oracle.
    if row is None or not hmac.compare_digest(row["token_hash"], token_hash):
        raise Unauthorized(
            "the API token is unknown or revoked",
            code="invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Principal(row["id"], frozenset(row["scopes"]), row["site_id"])


async def require_scope(request: Request, scope: str) -> Principal:
    """The request's principal, refused unless its token carries `scope`."""
    principal = await authenticate(request)
    principal.require(scope)
    return principal
