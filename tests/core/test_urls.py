"""core/urls.py: the page a vote or widget carries, and whether it is the site's."""

from __future__ import annotations

import pytest

from service.core.urls import page_on_site

SITE = ("https://portal.example.vn", "http://127.0.0.2:8080")


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://portal.example.vn/tin/bai-1?s=1#x", "https://portal.example.vn/tin/bai-1"),
        ("https://PORTAL.example.vn/a", "https://PORTAL.example.vn/a"),
        ("http://127.0.0.2:8080/a", "http://127.0.0.2:8080/a"),
        ("http://127.0.0.2:8081/a", None),  # another port is another origin
        ("http://portal.example.vn/a", None),  # another scheme too
        ("https://portal.example.vn.evil.example/a", None),
        ("https://evil.example/?u=https://portal.example.vn/", None),
        ("javascript:alert(1)", None),
        ("", None),
        (None, None),
    ],
)
def test_only_pages_on_the_sites_origins_are_kept(url: str | None, kept: str | None) -> None:
    assert page_on_site(url, SITE) == kept
