"""The filters' caches of derived text forms stay small however many comments pass."""

from __future__ import annotations

import gc
import itertools
import tracemalloc

from service.feedback import filters

CACHE_BUDGET = 4 * 2**20  # bytes, for every cache of derived forms together


def test_caches_of_derived_text_forms_stay_within_a_few_megabytes() -> None:
    # Every comment a new text (as nearly all are), each compared with the one before,
    # many more of them than any cache holds: what the caches keep once full.
    texts = [f"Ý kiến số {n}: cần công khai chi phí và tiến độ dự án." for n in range(5_000)]
    filters.screen(texts[0], [])  # the lexicon and tables, loaded once
    gc.collect()
    tracemalloc.start(1)
    try:
        before = tracemalloc.get_traced_memory()[0]
        for previous, text in itertools.pairwise(texts):
            filters.screen(text, [previous])
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < CACHE_BUDGET, f"{kept / 2**20:.1f} MB kept after {len(texts)} comments"
