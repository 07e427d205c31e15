"""The canonical page URL: the one key placements and per-page polls share."""

from __future__ import annotations

import pytest

from service.core.urls import canonical_page_url


@pytest.mark.parametrize(
    ("page", "canonical"),
    [
        ("https://portal.example.vn/a", "https://portal.example.vn/a"),
        ("HTTPS://Portal.Example.VN/Tin-Tuc", "https://portal.example.vn/Tin-Tuc"),
        ("https://portal.example.vn:443/a", "https://portal.example.vn/a"),
        ("http://portal.example.vn:80/a", "http://portal.example.vn/a"),
        ("https://portal.example.vn:8443/a", "https://portal.example.vn:8443/a"),
        ("https://portal.example.vn/a#binh-luan", "https://portal.example.vn/a"),
        ("https://portal.example.vn", "https://portal.example.vn/"),
        (
            "https://portal.example.vn/a?utm_source=fb&id=7&fbclid=x&UTM_Medium=y&p=2",
            "https://portal.example.vn/a?id=7&p=2",
        ),
        ("https://portal.example.vn/a?gclid=1&zarsrc=30", "https://portal.example.vn/a"),
        ("https://portal.example.vn/a?b=2&a=1", "https://portal.example.vn/a?b=2&a=1"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("ftp://portal.example.vn/a", None),
        ("javascript:alert(1)", None),
        ("https:///a", None),
        ("https://user:pw@portal.example.vn/a", None),
        ("https://portal.example.vn/a\x00", None),
        ("https://portal.example.vn:99999/a", None),
        ("https://portal.example.vn/" + "a" * 600, None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_page_url(page: str | None, canonical: str | None) -> None:
    assert canonical_page_url(page) == canonical
