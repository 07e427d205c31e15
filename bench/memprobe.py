"""`civicpoll serve` with a thread that writes memory figures to a file every minute.

What grows, and is it Python objects or the C allocator? Each line gives the RSS, the
objects pymalloc holds (`sys.getallocatedblocks`), the objects the cycle collector tracks
(outside the frozen start-up ones) and glibc's heap (`mallinfo2`: in use and free inside
it), then the object types that grew most since the last line. Far cheaper than
tracemalloc snapshots, which stall a server holding hundreds of streams.

    .venv/bin/python bench/memprobe.py FILE serve --port 8000 --workers 1
"""

from __future__ import annotations

import collections
import ctypes
import gc
import os
import sys
import threading
import time
from typing import TextIO


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _watch(out: TextIO, every: float = 60.0) -> None:
    libc = ctypes.CDLL("libc.so.6")
    libc.mallinfo2.restype = _MallInfo2
    started, previous = time.monotonic(), None
    while True:
        time.sleep(every)  # a sampling period in a diagnostic thread
        heap = libc.mallinfo2()
        types = collections.Counter(type(o).__name__ for o in gc.get_objects())
        out.write(
            f"t={time.monotonic() - started:.0f}s rss={_rss_mb():.1f}MB"
            f" pymalloc_blocks={sys.getallocatedblocks()} tracked={sum(types.values())}"
            f" frozen={gc.get_freeze_count()} gc_counts={gc.get_count()}"
            f" heap={heap.arena / 2**20:.1f}MB in_use={heap.uordblks / 2**20:.1f}MB"
            f" free={heap.fordblks / 2**20:.1f}MB mmapped={heap.hblkhd / 2**20:.1f}MB\n"
        )
        if previous is not None:
            grew = types.copy()
            grew.subtract(previous)
            top = ", ".join(f"{k} +{v}" for k, v in grew.most_common(12) if v > 0)
            out.write(f"  grew: {top}\n")
        out.flush()
        previous = types


def main() -> None:
    out = open(sys.argv[1], "a")  # open for the whole life of the process
    threading.Thread(target=_watch, args=(out,), daemon=True).start()
    from service.cli import main as civicpoll

    civicpoll(sys.argv[2:])


if __name__ == "__main__":
    main()
