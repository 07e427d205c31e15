"""The placement API's request body: a msgspec type that both validates and documents it."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from service.core.urls import MAX_PAGE_URL

PRIORITY_LIMIT = 1000


class PlacementCreate(msgspec.Struct, forbid_unknown_fields=True):
    # An exact canonical page URL, or a prefix ending in "*"; on one of the site's origins.
    match: Annotated[str, Meta(min_length=1, max_length=MAX_PAGE_URL + 1)]
    poll_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_-]{1,40}(?!\n)$")]
    priority: Annotated[int, Meta(ge=-PRIORITY_LIMIT, le=PRIORITY_LIMIT)] = 0
