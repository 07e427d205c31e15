"""CPU of one placement lookup's walk (placements/rules.Ranked) and of canonicalising the
page, for a site with few and with the most placements (1,000): interleaved rounds, medians.
Run: .venv/bin/python bench/placement_rank.py"""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime, timedelta

from service.core.urls import canonical_page_url
from service.placements.rules import Placement, Ranked

ORIGIN = "https://portal.example.vn"
PAGE = f"{ORIGIN}/chuyen-muc-7/bai-viet-so-12345.html?utm_source=zalo&id=9"


def site(n: int, lengths: bool = False) -> Ranked:
    """n section prefixes; with `lengths`, each of another length (the worst case: every
    length is tried, the page's own section last)."""
    now = datetime.now(UTC)
    return Ranked(
        Placement(
            i,
            f"p{i}",
            f"{ORIGIN}/{'x' * i if lengths else ''}chuyen-muc-{i}/*",
            i % 3,
            now - timedelta(seconds=i),
        )
        for i in range(n)
    )


def per_lookup(ranked: Ranked, rounds: int = 2000) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        page = canonical_page_url(PAGE)
        assert page is not None
        next(iter(ranked.candidates(page)), None)
    return (time.perf_counter() - started) / rounds * 1e6


def main() -> None:
    sites = {
        "10 placements": site(10),
        "1,000 placements": site(1000),
        "1,000 placements, 1,000 prefix lengths": site(1000, lengths=True),
    }
    timings: dict[str, list[float]] = {name: [] for name in sites}
    for _ in range(15):
        for name, ranked in sites.items():
            timings[name].append(per_lookup(ranked))
    for name, values in timings.items():
        print(f"{name}: median {statistics.median(values):.1f} µs a lookup")


if __name__ == "__main__":
    main()
