"""Who acts on the admin side: a Principal (an API token or a console person) and the
bearer-token authentication that makes one."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import asyncpg
from starlette.requests import Request

from service.core.errors import Forbidden, NotFound, Unauthorized
from service.identity.context import identity_context
from service.identity.keys import API_TOKEN, digest, matches
from service.storage.db import Conn

SCOPES = ("polls:read", "polls:write", "sites:admin", "comments:moderate")
TOKEN_PREFIX = "cp_"  # noqa: S105 -- a public marker, not a secret


@dataclass(frozen=True)
class Principal:
    """Who acts: an API token (token_id) or a console person (user_id), with the scopes
    and sites they act with. `site_ids` None: every site."""

    token_id: int | None
    scopes: frozenset[str]
    site_ids: frozenset[int] | None
    user_id: int | None = None

    @classmethod
    def for_token(cls, token_id: int, scopes: frozenset[str], site_id: int | None) -> Principal:
        return cls(token_id, scopes, None if site_id is None else frozenset((site_id,)))

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.token_id is not None:
            return f"token:{self.token_id}"
        return "cli"  # the operator at the command line (civicpoll user ...)

    @property
    def all_sites(self) -> bool:
        return self.site_ids is None

    @property
    def site_list(self) -> list[int] | None:
        """The sites as a query parameter: `($1::bigint[] IS NULL OR site_id = ANY($1))`."""
        return None if self.site_ids is None else sorted(self.site_ids)

    @property
    def site_id(self) -> int | None:
        """The one site of a site-scoped token (None: every site). A person may work on
        several sites: code that may serve one asks `site_list` or `sees` instead."""
        if self.site_ids is None:
            return None
        if len(self.site_ids) != 1:
            raise TypeError("this principal works on several sites: use site_list")
        return next(iter(self.site_ids))

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise Forbidden(f"this token lacks the {scope} scope", code="missing_scope")

    def sees(self, site_id: int) -> bool:
        return self.site_ids is None or site_id in self.site_ids

    def check_site(self, site_id: int) -> None:
        # Another site's object is reported missing, never forbidden, so that a
        # site-scoped token cannot learn what other sites hold.
        if not self.sees(site_id):
            raise NotFound("no such object")


def hash_token(secret_key: bytes, token: str) -> str:
    return digest(secret_key, API_TOKEN, token)


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


async def bearer_principal(pool: asyncpg.Pool, secret_key: bytes, header: str) -> Principal:
    """The principal of an `Authorization: Bearer cp_...` header, or 401."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.startswith(TOKEN_PREFIX):
        raise Unauthorized(
            "send an API token: Authorization: Bearer cp_...",
            headers={"WWW-Authenticate": 'Bearer realm="civicpoll"'},
        )
    token_hash = hash_token(secret_key, token.strip())
    row = await pool.fetchrow(
        "UPDATE api_tokens SET last_used_at = now()"
        " WHERE token_hash = $1 AND revoked_at IS NULL"
        " RETURNING id, token_hash, scopes, site_id",
        token_hash,
    )
    # The lookup is by hash; the constant-time comparison guards against any future
    # change of the lookup (a prefix index, a cache) turning into a timing oracle.
    if row is None or not matches(secret_key, API_TOKEN, token.strip(), row["token_hash"]):
        raise Unauthorized(
            "the API token is unknown or revoked",
            code="invalid_token",
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    return Principal.for_token(row["id"], frozenset(row["scopes"]), row["site_id"])


async def authenticate(request: Request) -> Principal:
    ctx = identity_context(request)
    header = request.headers.get("authorization", "")
    return await bearer_principal(ctx.pool, ctx.settings.secret_key, header)


async def require_scope(request: Request, scope: str) -> Principal:
    """The request's principal, refused unless its token carries `scope`."""
    principal = await authenticate(request)
    principal.require(scope)
    return principal
