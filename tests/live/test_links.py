"""Signed view keys (service/live/links.py): they open their subject until they expire."""

from __future__ import annotations

from service.live.links import key_opens, view_key

SECRET = b"s" * 40


def test_a_key_opens_its_subject_until_it_expires() -> None:
    key = view_key(SECRET, "poll:abc", 2_000)
    assert key_opens(SECRET, key, "poll:abc", now=1_999)
    assert key_opens(SECRET, key, "site:news", "poll:abc", now=1_999)
    assert not key_opens(SECRET, key, "poll:abc", now=2_001)
    assert not key_opens(SECRET, key, "poll:other", now=1_999)
    assert not key_opens(b"t" * 40, key, "poll:abc", now=1_999)


def test_a_malformed_key_opens_nothing() -> None:
    for key in ("", "soon.abc", "2000", "2000." + "0" * 70):
        assert not key_opens(SECRET, key, "poll:abc", now=0)
