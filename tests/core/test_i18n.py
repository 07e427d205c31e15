"""The one message catalog: the same keys in every locale, plural forms in pairs, and the
plural choice of each locale."""

from __future__ import annotations

import string

import pytest

from service.core.i18n import CATALOGS, LOCALES, messages, plural, votes_text


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


# A plural message is the pair <stem>_one / <stem>_other ("choose_one" alone is no plural).
PLURALS = {k.removesuffix("_other") for k in CATALOGS["en"] if k.endswith("_other")}


def test_every_locale_has_the_same_keys_and_placeholders() -> None:
    keys = set(CATALOGS["en"])
    for locale in LOCALES:
        assert set(CATALOGS[locale]) == keys, locale
    for key in keys:
        if key.removesuffix("_one") in PLURALS:
            continue  # a singular may spell its number out ("Last hour")
        assert len({frozenset(_fields(CATALOGS[loc][key])) for loc in LOCALES}) == 1, key


def test_plural_messages_come_in_pairs() -> None:
    assert {"votes", "dash_votes", "dash_last_hours"} <= PLURALS
    for stem in PLURALS:
        assert f"{stem}_one" in CATALOGS["en"], stem


@pytest.mark.parametrize(
    ("locale", "n", "text"),
    [
        ("en", 0, "0 votes"),
        ("en", 1, "1 vote"),
        ("en", 2, "2 votes"),
        ("en", 1234, "1,234 votes"),
        ("vi", 1, "1 lượt"),
        ("vi", 1234, "1.234 lượt"),
    ],
)
def test_plural_takes_the_form_of_the_locale(locale: str, n: int, text: str) -> None:
    assert plural(locale, "dash_votes", n) == text


def test_plural_fills_given_values_and_spells_singulars() -> None:
    assert plural("en", "dash_last_hours", 1) == "Last hour"
    assert plural("en", "dash_last_hours", 6) == "Last 6 hours"
    assert plural("vi", "dash_last_hours", 1) == "1 giờ qua"
    assert plural("en", "votes", 5, n="five") == "five votes"
    assert votes_text(1, "en") == "1 vote" and votes_text(1, "vi") == "1 lượt bình chọn"


def test_messages_gives_one_prefix_under_short_names() -> None:
    dash = messages("en", "dash")
    assert dash["total"] == "Total votes"
    assert dash["votes_one"] == "{n} vote" and dash["votes_other"] == "{n} votes"
    assert "poll" not in dash and not any(k.startswith("dash_") for k in dash)
    assert set(messages("vi", "dash")) == set(dash)
