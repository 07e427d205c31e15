"""Comment filters: what holds a citizen's comment for a moderator (a hold, never a refusal)."""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources

REASONS = ("offensive", "link", "phone", "repeated", "duplicate", "near_duplicate")

# A near duplicate needs some text to be near: two "Đồng ý" are exact duplicates or nothing.
NEAR_DUPLICATE_MIN_CHARS = 20
NEAR_DUPLICATE_SIMILARITY = 0.9
# "hayyyyy", "!!!!!!": six of one character in a row. Digits (1000000) and dots (an
# ellipsis written long) are ordinary.
REPEATED_MIN_RUN = 6


@dataclass(frozen=True, slots=True)
class Hold:
    """Why a comment waits for a moderator: `reason` is one of REASONS, `detail` a short
    note for the moderator (the matched term, the link, the comment it repeats)."""

    reason: str
    detail: str


# ---------------------------------------------------------------- words

# A word: letters and digits (and any combining mark NFC left unattached).
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")
# What may separate the letters of a spelled-out word: "đ.m", "d m", "f-u-c-k", "f*u*c*k".
_LETTER_GAP = re.compile(r"[\s.*\-_+~|/\\'`^]{1,3}")
_RUN_ANY = re.compile(r"([^\W\d_])\1+")
_RUN_THREE = re.compile(r"([^\W\d_])\1{2,}")


def _strip(word: str) -> str:
    """`word` without diacritics: Vietnamese tones and vowel marks gone, đ read as d."""
    decomposed = unicodedata.normalize("NFD", word.replace("đ", "d"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _squeeze(word: str) -> str:
    """Every run of one letter down to one: "ngguuu" -> "ngu"."""
    return _RUN_ANY.sub(r"\1", word)


def _squeeze_to_two(word: str) -> str:
    """Runs of three or more down to two, which keeps "ass" apart from "as"."""
    return _RUN_THREE.sub(r"\1\1", word)


@dataclass(slots=True)
class _Token:
    """One word of a text, in the forms the filters compare."""

    start: int
    end: int
    accented: str  # casefolded, stretched letters cut to two
    accented_squeezed: str  # every run of a letter cut to one
    stripped: str  # without diacritics, runs cut to two
    stripped_squeezed: str  # without diacritics, runs cut to one; the index key
    plain: str  # without diacritics, as typed
    bare: bool  # typed without any diacritics


def _tokens(text: str) -> list[_Token]:
    """The words of `text` (NFC already), single letters spelled out with dots or spaces
    joined into one word ("Đ.m" -> "đm"), with spans into `text`."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(text)]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        start, end = words[i]
        j = i
        while (
            j + 1 < len(words)
            and _is_letter(text, words[j])
            and _is_letter(text, words[j + 1])
            and _LETTER_GAP.fullmatch(text, words[j][1], words[j + 1][0])
        ):
            j += 1
        if j > i:
            spans.append((start, words[j][1]))
        else:
            spans.append((start, end))
        i = j + 1
    return [
        _Token(start, end, *_forms("".join(_WORD.findall(text, start, end))))
        for start, end in spans
    ]


@functools.lru_cache(maxsize=1 << 16)
def _forms(word: str) -> tuple[str, str, str, str, str, bool]:
    """A word's forms, in _Token's order. Cached: Vietnamese has a few thousand syllables,
    and the forms cost more than the lookups that use them."""
    word = word.casefold()
    stripped = _strip(word)
    if not _RUN_ANY.search(stripped):  # the usual word: no letter twice in a row
        return word, word, stripped, stripped, stripped, stripped == word
    return (
        _squeeze_to_two(word),
        _squeeze(word),
        _squeeze_to_two(stripped),
        _squeeze(stripped),
        stripped,
        stripped == word,
    )


def _is_letter(text: str, span: tuple[int, int]) -> bool:
    return span[1] - span[0] == 1 and text[span[0]].isalpha()


# ---------------------------------------------------------------- word lists


@dataclass(frozen=True, slots=True)
class _Word:
    """One word of a listed term or allowlisted phrase."""

    accented: str
    stripped: str
    # Without a doubled letter, the word also matches any stretched spelling ("fuuuck");
    # with one ("ass"), only its own doubling, so "as" stays an ordinary word.
    accented_single: bool
    stripped_single: bool

    def match(self, token: _Token) -> str | None:
        """ "as-written" when `token` is this word, "stripped" when it is this word typed
        without diacritics, None when it is not this word."""
        if token.accented == self.accented or (
            self.accented_single and token.accented_squeezed == self.accented
        ):
            return "as-written"
        if token.bare and (
            token.stripped == self.stripped
            or (self.stripped_single and token.stripped_squeezed == self.stripped)
        ):
            return "stripped"
        return None


@dataclass(frozen=True, slots=True)
class _Phrase:
    text: str  # as the data file writes it: the moderator's detail
    words: tuple[_Word, ...]


@dataclass(frozen=True, slots=True)
class _Found:
    start: int  # token indexes, end exclusive
    end: int
    stripped: bool  # a word matched only without its diacritics
    phrase: _Phrase


def _phrase(text: str) -> _Phrase:
    tokens = _tokens(unicodedata.normalize("NFC", text))
    if not tokens:
        raise ValueError(f"no words in list entry {text!r}")
    words = []
    for token in tokens:
        accented = token.accented
        stripped = _strip(accented)
        words.append(
            _Word(
                accented, stripped, _squeeze(accented) == accented, _squeeze(stripped) == stripped
            )
        )
    return _Phrase(text, tuple(words))


def _index(phrases: Iterable[_Phrase]) -> dict[str, tuple[_Phrase, ...]]:
    """Phrases by their first word's key, longest first: "đồ chó má" before "đồ chó"."""
    index: dict[str, list[_Phrase]] = {}
    for phrase in phrases:
        index.setdefault(_squeeze(phrase.words[0].stripped), []).append(phrase)
    return {key: tuple(sorted(found, key=lambda p: -len(p.words))) for key, found in index.items()}


def _find(index: dict[str, tuple[_Phrase, ...]], tokens: list[_Token], i: int) -> Iterable[_Found]:
    """Every phrase of `index` that starts at token `i`."""
    for phrase in index.get(tokens[i].stripped_squeezed, ()):
        end = i + len(phrase.words)
        if end > len(tokens):
            continue
        how = [word.match(token) for word, token in zip(phrase.words, tokens[i:end], strict=True)]
        if None not in how:
            yield _Found(i, end, "stripped" in how, phrase)


@dataclass(frozen=True, slots=True)
class _Lexicon:
    """The word lists, compiled for matching: phrases indexed by their first word's key."""

    terms: dict[str, tuple[_Phrase, ...]]
    prefixes: dict[str, _Phrase]  # terms listed with a trailing *, by what they start with
    # The prefixes as one pattern; the second has only those without a doubled letter, for
    # stretched spellings ("fuuuck").
    prefix_pattern: re.Pattern[str]
    prefix_squeezed_pattern: re.Pattern[str]
    allowed: dict[str, tuple[_Phrase, ...]]
    teencode: dict[str, str]

    @classmethod
    def build(
        cls, offensive: Iterable[str], allowlist: Iterable[str], teencode: Iterable[str] = ()
    ) -> _Lexicon:
        """The lexicon of these data-file lines (comments and blank lines allowed)."""
        terms, prefixes = [], []
        for entry in _entries(offensive):
            if entry.endswith("*"):
                phrase = _phrase(entry[:-1])
                if len(phrase.words) != 1:
                    raise ValueError(f"a term ending in * must be one word: {entry!r}")
                prefixes.append(_Phrase(entry, phrase.words))
            else:
                terms.append(_phrase(entry))
        expansions = {}
        for entry in _entries(teencode):
            short, sep, long = entry.partition("=")
            words = _tokens(unicodedata.normalize("NFC", short))
            if not sep or len(words) != 1:
                raise ValueError(f"a teencode line is `word = words`: {entry!r}")
            (word,) = words
            expansions[_comparable_word(word)] = " ".join(
                _comparable_word(t) for t in _tokens(unicodedata.normalize("NFC", long))
            )
        return cls(
            terms=_index(terms),
            prefixes={p.words[0].accented: p for p in prefixes},
            prefix_pattern=_alternatives(p.words[0].accented for p in prefixes),
            prefix_squeezed_pattern=_alternatives(
                p.words[0].accented for p in prefixes if p.words[0].accented_single
            ),
            allowed=_index(_phrase(entry) for entry in _entries(allowlist)),
            teencode=expansions,
        )

    def prefix(self, token: _Token) -> _Phrase | None:
        """The term listed with a trailing * that `token` begins with, if any."""
        found = self.prefix_pattern.match(token.accented) or self.prefix_squeezed_pattern.match(
            token.accented_squeezed
        )
        return self.prefixes[found.group()] if found else None


def _alternatives(words: Iterable[str]) -> re.Pattern[str]:
    """One pattern matching any of `words`, the longest first; matching nothing if none."""
    ordered = sorted(set(words), key=lambda w: (-len(w), w))
    return re.compile("|".join(map(re.escape, ordered)) or "(?!)")


def _entries(lines: Iterable[str]) -> Iterable[str]:
    for line in lines:
        entry = line.split("#", 1)[0].strip()
        if entry:
            yield entry


@functools.cache
def _lexicon() -> _Lexicon:
    """The packaged lists, read once."""
    data = resources.files("service.feedback").joinpath("data")

    def lines(*names: str) -> list[str]:
        return [
            line
            for name in names
            for line in data.joinpath(name).read_text(encoding="utf-8").splitlines()
        ]

    return _Lexicon.build(
        lines("offensive-vi.txt", "offensive-en.txt"),
        lines("allowlist.txt"),
        lines("teencode.txt"),
    )


# ---------------------------------------------------------------- the comparable form


def _comparable_word(token: _Token) -> str:
    # Three or more of a letter are a stretch ("hayyy"); two may be the spelling ("xoong").
    return _RUN_THREE.sub(r"\1", token.plain)


def normalize(text: str) -> str:
    """The form two comments are compared in: NFC, casefolded, without diacritics (đ as d),
    spelled-out letters joined, stretched letters cut, teencode expanded ("ko dc" ->
    "khong duoc"), words separated by one space and nothing else."""
    teencode = _lexicon().teencode
    words = (_comparable_word(t) for t in _tokens(unicodedata.normalize("NFC", text)))
    return " ".join(teencode.get(word, word) for word in words)


@functools.lru_cache(maxsize=4096)
def _comparable(text: str) -> str:
    """normalize(), or for a text with no words at all ("👍", "???") the text itself with
    its spacing collapsed: one emoji must not duplicate another. Cached: the same recent
    comments are compared against every new one."""
    return normalize(text) or " ".join(unicodedata.normalize("NFC", text).casefold().split())


def fingerprint(text: str) -> str:
    """A short stable hash of the comparable form, for exact-duplicate lookup in SQL:
    16 hex digits, the same for two texts exactly when screen() calls them duplicates."""
    return hashlib.blake2b(_comparable(text).encode(), digest_size=8).hexdigest()


# ---------------------------------------------------------------- the filters


def screen(text: str, recent: Sequence[str] = ()) -> Hold | None:
    """Why `text` should wait for a moderator, or None. `recent` holds the bodies of the
    poll's recent comments (not `text` itself) for the duplicate checks. The first reason
    found, in the order of REASONS, is the one given."""
    nfc = unicodedata.normalize("NFC", text)
    return (
        _offensive(nfc, _lexicon())
        or _link(nfc)
        or _phone(nfc)
        or _repeated(nfc)
        or _duplicate(text, recent)
    )


def _offensive(text: str, lexicon: _Lexicon) -> Hold | None:
    tokens = _tokens(text)
    allowed = [found for i in range(len(tokens)) for found in _find(lexicon.allowed, tokens, i)]
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
        for found in _find(lexicon.terms, tokens, i):
            if not excused(found.start, found.end, found.stripped):
                return _offensive_hold(text, tokens[found.start], tokens[found.end - 1], found)
        prefix = lexicon.prefix(token)
        if prefix is not None and not excused(i, i + 1, False):
            return _offensive_hold(text, token, token, _Found(i, i + 1, False, prefix))
    return None


def _offensive_hold(text: str, first: _Token, last: _Token, found: _Found) -> Hold:
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
    # "abc chấm com": a link spelled out to get past filters like this one.
    r"|\b(?:chấm|cham|dot)\s*(?:com|vn|net|org)\b",
    re.IGNORECASE,
)


def _link(text: str) -> Hold | None:
    found = _LINK.search(text.casefold())
    return Hold("link", _excerpt(found.group())) if found else None


# A Vietnamese number: 0 or +84 / 84 / 0084, then 9 digits (mobile) or 10 (landline 02x),
# grouped by spaces, dots, dashes or brackets ("(+84) 912", "(024) 3825"). The shortest
# that ends on a non-digit is tried first, so "0912 345 678 9" still finds the phone.
_PHONE = re.compile(r"(?<![\d+])(?:\+|00)?(?:84|0)(?:[ .\-()]{0,2}\d){8,10}?(?!\d)")
_MOBILE = re.compile(r"0[35789]\d{8}")
_LANDLINE = re.compile(r"02\d{9}")


def _phone(text: str) -> Hold | None:
    for found in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", found.group())
        if digits.startswith("0084"):
            digits = "0" + digits[4:]
        elif digits.startswith("84"):
            digits = "0" + digits[2:]
        if _MOBILE.fullmatch(digits) or _LANDLINE.fullmatch(digits):
            return Hold("phone", found.group())
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
