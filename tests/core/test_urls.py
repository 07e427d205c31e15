"""core/urls.py: the page rule (clean_page_url), the on-site rule (site_page_url) and the
canonical page (canonical_page_url) that placements and per-page polls key by."""

from __future__ import annotations

import pytest

from service.core.urls import canonical_page_url, site_page_url

ALLOWED = ("https://portal.example.vn", "http://localhost:8080", "https://[2001:db8::1]")


@pytest.mark.parametrize(
    ("page", "kept"),
    [
        ("https://portal.example.vn/tin/a?utm=x#c", "https://portal.example.vn/tin/a"),
        ("https://PORTAL.example.vn/a", "https://PORTAL.example.vn/a"),
        ("https://portal.example.vn:443/a", "https://portal.example.vn:443/a"),
        ("http://localhost:8080/", "http://localhost:8080/"),
        ("https://[2001:db8::1]/x", "https://[2001:db8::1]/x"),
        ("https://evil.example/a", None),
        ("https://portal.example.vn.evil.example/a", None),
        ("https://evil.example/https://portal.example.vn/a", None),
        ("http://portal.example.vn/a", None),  # another scheme is another origin
        ("https://portal.example.vn:8443/a", None),
        ("http://localhost/a", None),
        ("http://localhost:99999/a", None),
        ("https://u:p@portal.example.vn/a", None),
        ("javascript:alert(1)", None),
        ("", None),
        (None, None),
    ],
)
def test_only_pages_on_an_allowed_origin_are_kept(page: str | None, kept: str | None) -> None:
    assert site_page_url(page, ALLOWED) == kept


def test_an_origin_stored_with_its_default_port_matches_pages_without_it() -> None:
    assert site_page_url("https://a.vn/x", ["https://a.vn:443"]) == "https://a.vn/x"
    assert site_page_url("https://a.vn:443/x", ["https://a.vn"]) == "https://a.vn:443/x"


def test_no_allowed_origins_keeps_no_page() -> None:
    assert site_page_url("https://portal.example.vn/a", ()) is None


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


FRAMING_SITE = ("https://portal.example.vn", "http://127.0.0.2:8080")


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
def test_a_framing_page_is_kept_only_on_site(url: str | None, kept: str | None) -> None:
    assert site_page_url(url, FRAMING_SITE) == kept
