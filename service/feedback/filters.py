"""PLACEHOLDER until the filters branch lands: the interface only."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

REASONS = ("offensive", "link", "phone", "repeated", "duplicate", "near_duplicate")


@dataclass(frozen=True, slots=True)
class Hold:
    reason: str
    detail: str


def normalize(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).casefold().split())


def fingerprint(text: str) -> str:
    return hashlib.blake2b(normalize(text).encode(), digest_size=8).hexdigest()


def screen(text: str, recent: Sequence[str] = ()) -> Hold | None:
    norm = normalize(text)
    if "http" in norm or "www." in norm:
        return Hold("link", "a link")
    if "vcl" in norm.split():
        return Hold("offensive", "vcl")
    for other in recent:
        if normalize(other) == norm:
            return Hold("duplicate", "same as a recent comment")
    return None
