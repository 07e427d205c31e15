"""Which characters show nothing: Default_Ignorable_Code_Point and the blanks beside it."""

from __future__ import annotations

import unicodedata

import pytest

from service.core.invisible import (
    is_default_ignorable,
    is_invisible,
    shows_nothing,
    without_default_ignorables,
)

# The first and last code point of each range in DerivedCoreProperties.txt (15.0).
IGNORABLE = "\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b\u180f\u200b\u200f\u202a\u202e"
IGNORABLE += "\u2060\u206f\u3164\ufe00\ufe0f\ufeff\uffa0\ufff0\ufff8"
IGNORABLE += "\U0001bca0\U0001bca3\U0001d173\U0001d17a\U000e0000\U000e0fff"
# Their neighbours, and characters that look empty-ish but are not default-ignorable.
SHOWN = "\u00ac\u00ae\u034e\u0350\u061b\u115e\u1161\u17b3\u17b6\u180a\u1810\u200a\u2010"
SHOWN += "\u2029\u202f\u205f\u2070\u3163\u3165\ufdff\ufe10\ufefe\uff9f\uffa1\ufff9"
SHOWN += "\U0001bc9f\U0001bca4\U0001d172\U0001d17b\U000dffff\U000e1000a"


@pytest.mark.parametrize("ch", IGNORABLE)
def test_default_ignorable_code_points(ch: str) -> None:
    assert is_default_ignorable(ch), f"U+{ord(ch):04X}"
    assert is_invisible(ch)


@pytest.mark.parametrize("ch", SHOWN)
def test_their_neighbours_are_not_default_ignorable(ch: str) -> None:
    assert not is_default_ignorable(ch), f"U+{ord(ch):04X}"


def test_the_table_agrees_with_the_categories_it_names() -> None:
    """Every default-ignorable code point the standard library knows is a format
    character, a mark, a filler letter or unassigned: never a digit, a symbol or a space."""
    for code in range(0x110000):
        ch = chr(code)
        if is_default_ignorable(ch):
            assert unicodedata.category(ch) in ("Cf", "Mn", "Lo", "Cn"), f"U+{code:04X}"


def test_text_that_shows_nothing() -> None:
    assert shows_nothing("")
    assert shows_nothing(" \u200b\t\u2800\u3164\ufe0f")
    assert not shows_nothing("\u200bx")
    assert not shows_nothing("👍\ufe0f")
    assert without_default_ignorables("đ\u200bé\u00ado\ufe0f") == "đéo"
    assert without_default_ignorables("plain ascii") == "plain ascii"
