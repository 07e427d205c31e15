"""Which characters a reader cannot see: Unicode's Default_Ignorable_Code_Point property
(zero-width space and joiners, soft hyphen, word joiner, BOM, variation selectors, tag
characters, Hangul fillers), which the standard library's unicodedata does not carry."""

from __future__ import annotations

import bisect
import re
import unicodedata

# DerivedCoreProperties.txt (Unicode 15.0), Default_Ignorable_Code_Point, as inclusive
# ranges. The property is stable: code points are added to it only from the reserved
# ranges already listed here (2065, FFF0..FFF8, E0000..E0FFF).
_DEFAULT_IGNORABLE = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian variation selectors and vowel separator
    (0x200B, 0x200F),  # zero-width space, non-joiner, joiner; LRM, RLM
    (0x202A, 0x202E),  # bidi embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidi isolates, deprecated formats
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors 1-16
    (0xFEFF, 0xFEFF),  # zero-width no-break space (BOM)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # reserved
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical beam and phrase controls
    (0xE0000, 0xE0FFF),  # tag characters, variation selectors 17-256, reserved
)
_STARTS = [start for start, _ in _DEFAULT_IGNORABLE]
_IGNORABLE_RUN = re.compile(
    "[" + "".join(f"{chr(start)}-{chr(end)}" for start, end in _DEFAULT_IGNORABLE) + "]+"
)
# Not default-ignorable, yet drawn as nothing: the blank Braille cell, a favourite of
# "empty" messages.
_BLANK = frozenset("\u2800")


def is_default_ignorable(ch: str) -> bool:
    """Whether `ch` has the Default_Ignorable_Code_Point property."""
    code = ord(ch)
    i = bisect.bisect_right(_STARTS, code) - 1
    return i >= 0 and code <= _DEFAULT_IGNORABLE[i][1]


def without_default_ignorables(text: str) -> str:
    """`text` with every default-ignorable code point removed."""
    if text.isascii():  # the usual comment: nothing to remove, and no need to look
        return text
    return _IGNORABLE_RUN.sub("", text)


def default_ignorable_code_points() -> list[int]:
    """Every default-ignorable code point, for tables that remove them in one pass."""
    return [code for start, end in _DEFAULT_IGNORABLE for code in range(start, end + 1)]


def is_invisible(ch: str) -> bool:
    """Whether `ch` shows nothing by itself: space, a format character (category Cf), a
    default-ignorable code point or a blank Braille cell."""
    return (
        ch.isspace() or ch in _BLANK or unicodedata.category(ch) == "Cf" or is_default_ignorable(ch)
    )


def shows_nothing(text: str) -> bool:
    """Whether a reader would see `text` as empty."""
    return all(is_invisible(ch) for ch in text)
