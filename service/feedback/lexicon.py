"""The word lists (offensive terms, allowlist, teencode) and how a text's words are
compared with them: tokens in several forms, phrases indexed by their first word."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from service.feedback.normalise import skeleton

# ---------------------------------------------------------------- words

# A word: letters and digits (and any combining mark left unattached).
_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")
# What may separate the letters of a spelled-out word: "đ.m", "d m", "f-u-c-k", "f*u*c*k",
# "đ♥é♥o": up to three of anything that is no letter, digit or mark, but a line break.
_LETTER_GAP = re.compile(r"(?:[^\w\n\u0300-\u036f]|_){1,3}")
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
class Token:
    """One word of a text, in the forms the filters compare."""

    start: int
    end: int
    accented: str  # casefolded, stretched letters cut to two
    accented_squeezed: str  # every run of a letter cut to one
    stripped: str  # without diacritics, runs cut to two
    stripped_squeezed: str  # without diacritics, runs cut to one; the index key
    plain: str  # without diacritics, as typed
    bare: bool  # typed without any diacritics


def words_of(text: str) -> list[Token]:
    """The words of `text` (a skeleton already), single letters spelled out with dots or spaces
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
        Token(start, end, *_forms("".join(_WORD.findall(text, start, end)))) for start, end in spans
    ]


@functools.lru_cache(maxsize=1 << 16)
def _forms(word: str) -> tuple[str, str, str, str, str, bool]:
    """A word's forms, in Token's order. Cached: Vietnamese has a few thousand syllables,
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

    def match(self, token: Token) -> str | None:
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
class Phrase:
    text: str  # as the data file writes it: the moderator's detail
    words: tuple[_Word, ...]


@dataclass(frozen=True, slots=True)
class Found:
    start: int  # token indexes, end exclusive
    end: int
    stripped: bool  # a word matched only without its diacritics
    phrase: Phrase


def _phrase(text: str) -> Phrase:
    tokens = words_of(skeleton(text))
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
    return Phrase(text, tuple(words))


def _index(phrases: Iterable[Phrase]) -> dict[str, tuple[Phrase, ...]]:
    """Phrases by their first word's key, longest first: "đồ chó má" before "đồ chó"."""
    index: dict[str, list[Phrase]] = {}
    for phrase in phrases:
        index.setdefault(_squeeze(phrase.words[0].stripped), []).append(phrase)
    return {key: tuple(sorted(found, key=lambda p: -len(p.words))) for key, found in index.items()}


def find_phrases(
    index: dict[str, tuple[Phrase, ...]], tokens: list[Token], i: int
) -> Iterable[Found]:
    """Every phrase of `index` that starts at token `i`."""
    for phrase in index.get(tokens[i].stripped_squeezed, ()):
        end = i + len(phrase.words)
        if end > len(tokens):
            continue
        how = [word.match(token) for word, token in zip(phrase.words, tokens[i:end], strict=True)]
        if None not in how:
            yield Found(i, end, "stripped" in how, phrase)


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The word lists, compiled for matching: phrases indexed by their first word's key."""

    terms: dict[str, tuple[Phrase, ...]]
    prefixes: dict[str, Phrase]  # terms listed with a trailing *, by what they start with
    # The prefixes as one pattern; the second has only those without a doubled letter, for
    # stretched spellings ("fuuuck").
    prefix_pattern: re.Pattern[str]
    prefix_squeezed_pattern: re.Pattern[str]
    allowed: dict[str, tuple[Phrase, ...]]
    teencode: dict[str, str]

    @classmethod
    def build(
        cls, offensive: Iterable[str], allowlist: Iterable[str], teencode: Iterable[str] = ()
    ) -> Lexicon:
        """The lexicon of these data-file lines (comments and blank lines allowed)."""
        terms, prefixes = [], []
        for entry in _entries(offensive):
            if entry.endswith("*"):
                phrase = _phrase(entry[:-1])
                if len(phrase.words) != 1:
                    raise ValueError(f"a term ending in * must be one word: {entry!r}")
                prefixes.append(Phrase(entry, phrase.words))
            else:
                terms.append(_phrase(entry))
        expansions = {}
        for entry in _entries(teencode):
            short, sep, long = entry.partition("=")
            words = words_of(skeleton(short))
            if not sep or len(words) != 1:
                raise ValueError(f"a teencode line is `word = words`: {entry!r}")
            (word,) = words
            expansions[comparable_word(word)] = " ".join(
                comparable_word(t) for t in words_of(skeleton(long))
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

    def prefix(self, token: Token) -> Phrase | None:
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
def packaged_lexicon() -> Lexicon:
    """The packaged lists, read once."""
    data = resources.files("service.feedback").joinpath("data")

    def lines(*names: str) -> list[str]:
        return [
            line
            for name in names
            for line in data.joinpath(name).read_text(encoding="utf-8").splitlines()
        ]

    return Lexicon.build(
        lines("offensive-vi.txt", "offensive-en.txt"),
        lines("allowlist.txt"),
        lines("teencode.txt"),
    )


# ---------------------------------------------------------------- the comparable form


def comparable_word(token: Token) -> str:
    # Three or more of a letter are a stretch ("hayyy"); two may be the spelling ("xoong").
    return _RUN_THREE.sub(r"\1", token.plain)
