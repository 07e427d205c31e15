"""Which placement a page gets: the one ordering rule, and what a `match` may be."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from service.core.urls import canonical_page_url, site_page_url

PREFIX = "*"


@dataclass(frozen=True, slots=True)
class Placement:
    id: int
    poll_id: str
    match: str  # a canonical URL, or one followed by "*" (a prefix)
    priority: int
    created_at: datetime

    @property
    def is_prefix(self) -> bool:
        return self.match.endswith(PREFIX)

    @property
    def stem(self) -> str:
        """The URL an exact match equals, or a prefix match starts with."""
        return self.match[:-1] if self.is_prefix else self.match


def canonical_match(match: str) -> str | None:
    """A placement's `match` in canonical form (the page rule of core/urls), or None.
    A prefix keeps its "*"; its stem is canonicalised as a page would be, so a prefix
    written with an upper-case host or a default port still matches real pages (and
    "https://portal.example*" becomes "https://portal.example/*": the whole site)."""
    prefix = match.endswith(PREFIX)
    stem = canonical_page_url(match[:-1] if prefix else match)
    if stem is None:
        return None
    return stem + PREFIX if prefix else stem


def allowed(canonical: str, origins: Collection[str]) -> bool:
    """Whether a canonical page (or a match's stem) lies on one of the site's origins: the
    on-site rule of core/urls, which votes' pages obey too."""
    return site_page_url(canonical, origins) is not None


class Ranked:
    """A site's placements, ordered once so a page view does a few dictionary reads: exact
    matches by page; prefixes by stem, tried from the longest stem length down (only one
    stem of each length can start the page); within one, higher priority, then newest."""

    def __init__(self, placements: Iterable[Placement]) -> None:
        def order(p: Placement) -> tuple[int, float, int]:
            return (-p.priority, -p.created_at.timestamp(), -p.id)

        self.exact: dict[str, list[Placement]] = {}
        self.prefixes: dict[str, list[Placement]] = {}
        for p in sorted(placements, key=order):
            (self.prefixes if p.is_prefix else self.exact).setdefault(p.stem, []).append(p)
        self.lengths = sorted({len(stem) for stem in self.prefixes}, reverse=True)

    def candidates(self, page: str) -> Iterator[Placement]:
        """The placements that apply to a canonical page, best first."""
        yield from self.exact.get(page, ())
        for length in self.lengths:
            if length <= len(page):
                yield from self.prefixes.get(page[:length], ())
