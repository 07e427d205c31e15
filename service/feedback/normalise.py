"""The skeleton the filters read: a text stripped of its disguises (compatibility forms,
invisible characters, look-alike letters from other scripts, decorative marks), with
Vietnamese letters and their tones kept as written."""

from __future__ import annotations

import functools
import re
import unicodedata

from confusable_homoglyphs import confusables

from service.core.invisible import default_ignorable_code_points

# The marks Vietnamese writes: five tones (grave, acute, tilde, hook, dot below) and the
# vowel marks (circumflex, breve, horn). Other marks on a Latin letter are decoration
# ("n̶g̶u̶", "ǹgü", Zalgo), and so are these where they make no Vietnamese letter.
_VIETNAMESE = frozenset(
    unicodedata.normalize("NFC", base + tone)
    for vowel in "aăâeêioôơuưy"
    for base in (vowel, vowel.upper())
    for tone in ("", "\u0300", "\u0301", "\u0303", "\u0309", "\u0323")
) | frozenset("đĐ")
# TR39 reads "đ" as d with a short stroke overlay: typed so, it is đ.
_STROKES = frozenset("\u0335\u0336")
_VIETNAMESE_MARKS = frozenset("\u0300\u0301\u0303\u0309\u0323\u0302\u0306\u031b")
_SMALL_CAPITAL = re.compile(r"LATIN LETTER SMALL CAPITAL ([A-Z])")


@functools.cache
def _fold() -> dict[str, str]:
    """Look-alike letters to the Latin letter they pass for, from Unicode TR39's
    confusables (the data confusable-homoglyphs ships). Its table is symmetric: a letter
    with exactly one entry is a source, and that entry is its prototype (a prototype has
    all its sources as entries). Only letters whose prototype is one ASCII letter are
    taken, so "đ" (prototype d + stroke) and "ơ" (o + apostrophe) stay themselves; ASCII
    itself is never folded ("0", "1" and "m" are TR39 sources too, of O, l and rn)."""
    small_capitals = {"ĸ": "k"}  # kra, the prototype of Cyrillic and Greek small ka
    for code in range(0x1D00, 0x1D2C):
        found = _SMALL_CAPITAL.fullmatch(unicodedata.name(chr(code), ""))
        if found:
            small_capitals[chr(code)] = found.group(1).lower()
    for ch in "ʙɢʜɪʟɴʀʏꜱ":  # small capitals outside that block
        found = _SMALL_CAPITAL.fullmatch(unicodedata.name(ch))
        assert found is not None, ch
        small_capitals[ch] = found.group(1).lower()
    fold = dict(small_capitals)
    data: dict[str, list[dict[str, str]]] = confusables.confusables_data
    for ch, entries in data.items():
        if len(ch) != 1 or ch.isascii() or len(entries) != 1:
            continue
        if not unicodedata.category(ch).startswith("L"):
            continue
        # Letters with a decomposition are folded through their base letter (NFKD).
        if unicodedata.normalize("NFKD", ch) != ch:
            continue
        target = entries[0]["c"]
        # TR39 takes a small capital (ᴛ, ʜ, ʙ) for the prototype of Cyrillic т, н, в: a
        # filter that reads letters case-blind takes it one step on, to t, h, b.
        target = small_capitals.get(target, target)
        if not (len(target) == 1 and target.isascii() and target.isalpha()):
            continue
        # An I-like capital's prototype is "l" (TR39 folds I to l); as a capital it is I.
        if target == "l" and ch.isupper():
            target = "I"
        fold[ch] = target
    fold.update({"Ð": "Đ", "Ɖ": "Đ"})  # eth and African D pass for Đ
    return fold


def skeleton(text: str) -> str:
    """`text` as the filters read it, in this order: compatibility forms to their plain
    letters and digits (NFKC: fullwidth, mathematical, circled, superscript), invisible
    code points removed (Default_Ignorable_Code_Point: zero-width space and joiners, soft
    hyphen, word joiner, BOM, variation selectors, tags), look-alike letters of other
    scripts folded to Latin (TR39), digits of any script to ASCII, decorative marks
    dropped, then NFC. Case, spaces and punctuation are kept: spans into the skeleton
    are what the moderator is shown."""
    if text.isascii():  # nothing to fold: the usual English comment costs nothing
        return text
    return _skeleton(text)


@functools.lru_cache(maxsize=4096)
def _skeleton(text: str) -> str:
    # Cached: a poll's recent comments are compared with every new one. One translate()
    # does all the per-character work at C speed (precomposed letters included, so
    # Vietnamese text is never decomposed); only marks left unattached by NFKC (after a
    # look-alike or an invisible character, or decoration) are looked at one by one.
    folded = unicodedata.normalize("NFKC", text).translate(_table())
    return unicodedata.normalize("NFC", _MARKED.sub(_marked, folded))


# A visible ASCII character or a Latin letter (the Latin-1, Extended-A/B and Extended
# Additional blocks: Vietnamese letters among them) and the combining marks after it,
# those of the Combining Diacritical Marks blocks, including the ones for symbols.
_MARKED = re.compile(
    "[\x21-\x7e\u00c0-\u024f\u1e00-\u1eff]"
    "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)
# Every decimal digit and precomposed letter Unicode has lies below here (the last digit,
# U+1FBF9, is a segmented one): the planes above would cost a tenth of a second to scan.
_SCANNED = 0x20000


@functools.cache
def _table() -> dict[int, str | None]:
    """translate()'s table: default-ignorable code points to nothing, look-alike letters
    to their Latin letter, decimal digits of every script to ASCII, and precomposed
    letters that are no Vietnamese letter to what the skeleton makes of their parts
    ("ü" to u, Cyrillic "ё" to e)."""
    fold = _fold()
    table: dict[int, str | None] = {ord(source): target for source, target in fold.items()}
    for code in range(0x80, _SCANNED):
        ch = chr(code)
        if unicodedata.category(ch) == "Nd":
            table[code] = str(unicodedata.decimal(ch))
            continue
        parts = unicodedata.normalize("NFD", ch)
        base, marks = fold.get(parts[0], parts[0]), parts[1:]
        if marks and (base.isascii() or base in "đĐ") and _cluster(base, marks) != ch:
            table[code] = _cluster(base, marks)
    table.update(dict.fromkeys(default_ignorable_code_points()))
    return table


def _marked(found: re.Match[str]) -> str:
    parts = unicodedata.normalize("NFD", found.group())
    return _cluster(parts[0], parts[1:])


def _cluster(base: str, marks: str) -> str:
    """A Latin letter with the marks that follow it, as the skeleton keeps them."""
    if base in "dD" and _STROKES.intersection(marks):
        return "đ" if base == "d" else "Đ"
    # Strike-through, underline and other decoration go; what Vietnamese marks are left
    # stay only if they make a Vietnamese letter.
    kept = "".join(mark for mark in marks if mark in _VIETNAMESE_MARKS)
    composed = unicodedata.normalize("NFC", base + kept)
    return composed if composed in _VIETNAMESE else base
