"""What the comment filters cost per text: screen() over a fixed corpus (everyday
Vietnamese comments, a few English ones, long ones, ones with numbers and links),
against 50 recent comments like the comment path. Prints the median microseconds per
text over several passes. Compare two checkouts by running each in turn, interleaved:

    for i in 1 2 3 4 5; do for t in OLD NEW; do (cd $t && python bench/filters.py); done; done
"""

from __future__ import annotations

import statistics
import time

from service.feedback.filters import screen

SENTENCES = [
    "Tôi đồng ý đóng phố Hàng Bồ cho ô tô vào cuối tuần",
    "Đường Điện Biên Phủ đông xe quá, cần thêm xe buýt",
    "Người dân cần được hỏi ý kiến trước khi làm",
    "Thủ tục hành chính còn rườm rà, mong được cải thiện",
    "Cầu Long Biên cần được bảo tồn ❤️",
    "Liên hệ 0912 345 678 để biết thêm",
    "Xem chi tiết tại https://example.org/x",
    "Giá 1.000.000 đồng cho 2 người, năm 2025",
    "I think this is a good idea for the city",
    "Ý kiến khác: nên làm thí điểm ở một phường trước",
]
CORPUS = [*SENTENCES, " ".join(SENTENCES * 4)[:1000], " ".join(SENTENCES[:5] * 3)]
RECENT = tuple(f"{s} ({i})" for i, s in enumerate(SENTENCES * 5))


def one_pass(round_: int) -> float:
    """Microseconds per text for one pass over the corpus. Every text is new (a number
    of its own), as a new comment is; the recent ones stay cached, as they do."""
    start = time.perf_counter()
    for i in range(20):
        for text in CORPUS:
            screen(f"{text} lần {round_}.{i}", RECENT)
    return (time.perf_counter() - start) / (20 * len(CORPUS)) * 1e6


def main() -> None:
    screen("warm up", RECENT)
    print(f"{statistics.median(one_pass(r) for r in range(15)):.1f} µs per text")


if __name__ == "__main__":
    main()
