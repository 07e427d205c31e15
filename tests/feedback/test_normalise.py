"""The skeleton the filters read: disguises removed, Vietnamese kept as written."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.feedback.normalise import _fold, skeleton

VIETNAMESE_LETTERS = [
    unicodedata.normalize("NFC", base + tone)
    for vowel in "aăâeêioôơuưy"
    for base in (vowel, vowel.upper())
    for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
] + ["đ", "Đ"]
PANGRAM = "Con hổ ngủ say dưới gốc cây đa; ông Đức ở Phường Bến Nghé nói: “Ừ, được thôi!”"


def test_every_vietnamese_letter_is_kept() -> None:
    assert len(VIETNAMESE_LETTERS) == 146
    for letter in VIETNAMESE_LETTERS:
        assert skeleton(letter) == letter, letter
        assert skeleton(unicodedata.normalize("NFD", letter)) == letter, letter
    assert skeleton(PANGRAM) == PANGRAM


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        (
            "\uff26\uff55\uff4c\uff4c\uff57\uff49\uff44\uff54\uff48 \uff11\uff12\uff13",
            "Fullwidth 123",
        ),
        ("\U0001d41b\U0001d428\U0001d425\U0001d41d", "bold"),  # mathematical alphanumerics
        ("x\u200by\u200cz\u200d\u2060\ufeff\u00ad", "xyz"),  # invisible code points
        ("\u0441\u043e\u0440\u0443", "copy"),  # Cyrillic letters that pass for Latin
        ("\u0391\u0392\u0395", "ABE"),  # Greek capitals
        ("\u0406\u0399", "II"),  # I-like capitals read as I, not as TR39's l
        ("\u0442\u043d\u0432\u043a", "thbk"),  # Cyrillic small letters shaped like capitals
        ("\u0435\u0302\u0301", "ế"),  # a Cyrillic е under Vietnamese marks composes
        ("d\u0335", "đ"),
        ("n\u0336g\u0336u\u0336", "ngu"),  # decoration dropped
        ("\u00fc\u00f1", "un"),  # marks Vietnamese does not write
        ("a\u0301\u0300", "a"),  # two tones: no Vietnamese letter
        ("\u0660\u0669\u0967", "091"),  # digits of other scripts
        ("\u0439\u0451", "\u0439e"),  # Cyrillic й has no Latin look-alike; ё passes for e
        ("👍\ufe0f", "👍"),
    ],
)
def test_disguises_are_removed(text: str, seen: str) -> None:
    assert skeleton(text) == seen


def test_the_fold_maps_letters_of_other_scripts_to_one_ascii_letter() -> None:
    fold = _fold()
    assert len(fold) > 300
    for source, target in fold.items():
        assert not source.isascii(), source
        assert (len(target) == 1 and target.isascii() and target.isalpha()) or target == "Đ"
    # Vietnamese letters are never folded: TR39 reads đ as d + stroke, ơ as o + apostrophe.
    assert not set(fold) & set(VIETNAMESE_LETTERS)
    assert fold["\u0430"] == "a" and fold["\u03bf"] == "o" and fold["\u0585"] == "o"


# No deadline: a wall clock is no test (the first example also builds the tables).
@settings(deadline=None)
@given(st.text())
def test_the_skeleton_is_its_own_skeleton(text: str) -> None:
    once = skeleton(text)
    assert skeleton(once) == once


@settings(deadline=None)
@given(st.text(alphabet=st.sampled_from([*VIETNAMESE_LETTERS, *"bcdghklmnpqrstvx ,.?!0123"])))
def test_vietnamese_text_is_its_own_skeleton(text: str) -> None:
    assert skeleton(text) == text


def test_every_decimal_digit_is_mapped() -> None:
    """_SCANNED bounds the scan for digits: none of Unicode's lies beyond it."""
    digits = [chr(c) for c in range(0x80, 0x110000) if unicodedata.category(chr(c)) == "Nd"]
    assert len(digits) > 600
    for digit in digits:
        assert skeleton(f"a{digit}") == f"a{unicodedata.decimal(digit)}", f"U+{ord(digit):04X}"
