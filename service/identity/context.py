"""What identity reads from the running service, as a Protocol: services.Services satisfies
it, so that identity (and polls) never import services.py, which knows every feature."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request

if TYPE_CHECKING:
    import asyncpg
    import redis.asyncio as aioredis

    from service.core.settings import Settings
    from service.identity.keys import Hasher
    from service.identity.links import LinkTokens


class IdentityContext(Protocol):
    @property
    def settings(self) -> Settings: ...
    @property
    def pool(self) -> asyncpg.Pool: ...
    @property
    def redis(self) -> aioredis.Redis: ...
    @property
    def hasher(self) -> Hasher: ...
    @property
    def link_tokens(self) -> LinkTokens: ...


def identity_context(request: Request) -> IdentityContext:
    """The running service as identity sees it (the lifespan's state, as services() reads it)."""
    found: IdentityContext = request.scope["state"]["services"]
    return found
