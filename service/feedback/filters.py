"""Comment filters: what holds a citizen's comment for a moderator (a hold, never a refusal)."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency

from service.feedback.lexicon import (
    Found,
    Lexicon,
    Token,
    comparable_word,
    find_phrases,
    packaged_lexicon,
    words_of,
)
from service.feedback.normalise import skeleton

REASONS = ("offensive", "link", "phone", "repeated", "duplicate", "near_duplicate")

# A near duplicate needs some text to be near: two "Đồng ý" are exact duplicates or nothing.
NEAR_DUPLICATE_MIN_CHARS = 20
NEAR_DUPLICATE_SIMILARITY = 0.9
# "hayyyyy", "!!!!!!": six of one character in a row. Digits (1000000) and dots (an
# ellipsis written long) are ordinary.
REPEATED_MIN_RUN = 6
# The shortest number libphonenumber takes as valid for Viet Nam: 1800 lines, 8 digits.
_PHONE_MIN_DIGITS = 8


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a comment waits for a moderator: `reason` is one of REASONS, `detail` a short
    note for the moderator (the matched term, the link, the comment it repeats)."""

    reason: str
    detail: str


def normalize(text: str) -> str:
    """The form two comments are compared in: the skeleton (normalise.skeleton),
    casefolded, without diacritics (đ as d), spelled-out letters joined, stretched letters
    cut, teencode expanded ("ko dc" -> "khong duoc"), words separated by one space and
    nothing else."""
    teencode = packaged_lexicon().teencode
    words = (comparable_word(t) for t in words_of(skeleton(text)))
    return " ".join(teencode.get(word, word) for word in words)


@functools.lru_cache(maxsize=4096)
def _comparable(text: str) -> str:
    """normalize(), or for a text with no words at all ("👍", "???") its skeleton with
    the spacing collapsed: one emoji must not duplicate another. Cached: the same recent
    comments are compared against every new one."""
    return normalize(text) or " ".join(skeleton(text).casefold().split())


def fingerprint(text: str) -> str:
    """A short stable hash of the comparable form, for exact-duplicate lookup in SQL:
    16 hex digits, the same for two texts exactly when screen() calls them duplicates."""
    return hashlib.blake2b(_comparable(text).encode(), digest_size=8).hexdigest()


# ---------------------------------------------------------------- the filters


def screen(text: str, recent: Sequence[str] = ()) -> Hold | None:
    """Why `text` should wait for a moderator, or None. `recent` holds the bodies of the
    poll's recent comments (not `text` itself) for the duplicate checks. The first reason
    found, in the order of REASONS, is the one given. Every rule reads the skeleton, so
    an invisible character or a look-alike letter changes nothing."""
    seen = skeleton(text)
    hold = _offensive(seen, packaged_lexicon()) or _link(seen) or _phone(seen)
    if hold is not None:
        # The detail quotes the skeleton; say so when it is not what the writer typed, so
        # that a moderator knows the text was dressed up to pass (an evader, not a slip).
        if seen != unicodedata.normalize("NFC", text):
            return Hold(hold.reason, f"{hold.detail} (disguised)")
        return hold
    return _repeated(seen) or _duplicate(text, recent)


def _offensive(text: str, lexicon: Lexicon) -> Hold | None:
    tokens = words_of(text)
    allowed = [f for i in range(len(tokens)) for f in find_phrases(lexicon.allowed, tokens, i)]
    # A comment typed entirely without diacritics says nothing about which word "ngu" is
    # (ngu, ngủ, ngũ): there an allowlisted reading wins even over an exact spelling.
    all_bare = all(token.bare for token in tokens)

    def excused(start: int, end: int, stripped: bool) -> bool:
        return any(
            a.start <= start
            and end <= a.end
            and (not a.stripped or stripped or all_bare)  # as-written allowlist wins always
            for a in allowed
        )

    for i, token in enumerate(tokens):
        for found in find_phrases(lexicon.terms, tokens, i):
            if not excused(found.start, found.end, found.stripped):
                return _offensive_hold(text, tokens[found.start], tokens[found.end - 1], found)
        prefix = lexicon.prefix(token)
        if prefix is not None and not excused(i, i + 1, False):
            return _offensive_hold(text, token, token, Found(i, i + 1, False, prefix))
    return None


def _offensive_hold(text: str, first: Token, last: Token, found: Found) -> Hold:
    return Hold("offensive", f"{_excerpt(text[first.start : last.end])} ~ {found.phrase.text}")


# Domains people paste: generic and Vietnamese top-level names, short-link hosts (bit.ly,
# t.co, t.me). Not "to", "in", "be", "us": "agree.to" is a missing space, not a link.
_TLDS = (
    "com|net|org|info|biz|vn|io|co|me|ly|gl|xyz|top|site|online|shop|store|app|dev|link"
    "|click|club|live|tv|ru|cn|asia|pro|page|ws|cc|gg|id|uk|tk|ml|ga|cf|gq"
)
_LINK = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|\b(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:" + _TLDS + r")\b(?:/\S*)?"
    # "abc chấm com": a link spelled out to get past filters like this one; "abc . com",
    # the dot set apart (for the commonest names only: "ý . Có" is a stray dot).
    r"|\b(?:chấm|cham|dot)\s*(?:com|vn|net|org)\b"
    r"|\b[a-z0-9-]+(?:\s+\.\s*|\s*\.\s+)(?:com|vn|net|org)\b",
    re.IGNORECASE,
)
# "example[.]com", "example(dot)com", "example。com": a dot written so as not to be one.
_DOT = re.compile(r"\s*[\[(]\s*(?:\.|dot|chấm|cham)\s*[\])]\s*|。", re.IGNORECASE)
# "h t t p s://", "e x a m p l e . c o m": characters spelled out one space apart, read
# together (only for this rule: "Q 1 và Q 3" is no word).
_SPACED_OUT = re.compile(r"(?<!\S)(?:\S ){2,}\S+")


def _link(text: str) -> Hold | None:
    text = _DOT.sub(".", text.casefold())
    found = _LINK.search(text)
    if found is None:
        found = _LINK.search(_SPACED_OUT.sub(lambda m: m.group().replace(" ", ""), text))
    return Hold("link", _excerpt(found.group())) if found else None


# Phones are found by libphonenumber's matcher, with the numbering plan of Viet Nam for
# numbers written without a country code: it knows which prefixes and lengths are
# numbers (mobile 03x, 05x, 07x, 08x, 09x; landlines 02x; 1800/1900 lines), and any
# spacing between digits. Two corrections around it:
# - it skips a number glued to letters ("zalo0912345678") and some separators: those
#   become spaces first;
# - it also takes a number without its trunk 0 ("912 345 678"), and so reads figures
#   ("348 / 409 / 432 ms", "203.0.113.0/24") as phones: only a number written to be
#   dialled (trunk 0, country code, a 1800/1900 line) is held.
_DIALLED = re.compile(r"[(\s]*(?:\+|0|84|1[89]00)")
_GLUED = re.compile(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])|[_*~|]")


def _phone(text: str) -> Hold | None:
    if sum(ch.isdigit() for ch in text) < _PHONE_MIN_DIGITS:
        return None  # the usual comment: too few digits for any number
    spaced = _GLUED.sub(" ", text)
    for found in phonenumbers.PhoneNumberMatcher(spaced, "VN", leniency=Leniency.VALID):
        if _DIALLED.match(found.raw_string):
            return Hold("phone", found.raw_string)
    return None


_REPEATED = re.compile(rf"([^\s\d.…])\1{{{REPEATED_MIN_RUN - 1},}}")


def _repeated(text: str) -> Hold | None:
    found = _REPEATED.search(text.casefold())
    if found is None:
        return None
    return Hold("repeated", f"{found.group(1)!r} {len(found.group())} times")


def _duplicate(text: str, recent: Sequence[str]) -> Hold | None:
    mine = _comparable(text)
    others = [(_comparable(body), body) for body in recent]
    for other, body in others:
        if other == mine:
            return Hold("duplicate", f"same as {_excerpt(body)}")
    if len(mine) < NEAR_DUPLICATE_MIN_CHARS:
        return None
    for other, body in others:
        if len(other) >= NEAR_DUPLICATE_MIN_CHARS:
            similarity = _similarity(mine, other)
            if similarity >= NEAR_DUPLICATE_SIMILARITY:
                return Hold("near_duplicate", f"{similarity:.0%} like {_excerpt(body)}")
    return None


def _similarity(a: str, b: str) -> float:
    """How alike two comparable forms are, 0 to 1: for texts of about the same length, the
    larger of the words in common (a reordered copy) and the letter triples in common (a
    copy with a few letters changed). Sets, not difflib: its ratio costs tens of
    milliseconds for two 1,000-character comments, and a comment meets up to 50 of them."""
    length = 2 * min(len(a), len(b)) / (len(a) + len(b))
    if length < NEAR_DUPLICATE_SIMILARITY:
        return length
    words_a, words_b = _words(a), _words(b)
    shared = len(words_a & words_b) / len(words_a | words_b)
    if shared >= NEAR_DUPLICATE_SIMILARITY:
        return shared
    triples_a, triples_b = _triples(a), _triples(b)
    return max(shared, 2 * len(triples_a & triples_b) / (len(triples_a) + len(triples_b)))


@functools.lru_cache(maxsize=4096)
def _words(comparable: str) -> frozenset[str]:
    return frozenset(comparable.split())


@functools.lru_cache(maxsize=4096)
def _triples(comparable: str) -> frozenset[str]:
    return frozenset(comparable[i : i + 3] for i in range(len(comparable) - 2))


def _excerpt(text: str, limit: int = 40) -> str:
    """`text` quoted on one line, cut to `limit` characters for a moderator's list."""
    flat = " ".join(text.split())
    return f'"{flat}"' if len(flat) <= limit else f'"{flat[: limit - 1]}…"'
