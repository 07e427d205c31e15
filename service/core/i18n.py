"""Message catalogs (Vietnamese, English), plural forms, and locale-aware number and time
formatting."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from importlib.resources import files

LOCALES = ("vi", "en")
DEFAULT_LOCALE = "vi"

CATALOGS: Mapping[str, Mapping[str, str]] = {
    locale: json.loads(
        files("service.core").joinpath("locales", f"{locale}.json").read_text("utf-8")
    )
    for locale in LOCALES
}
_THOUSANDS = {"vi": ".", "en": ","}
# CLDR plural categories for whole numbers. A plural message is two keys, `<key>_one` and
# `<key>_other`, present in every catalog (the key sets must match); Vietnamese has one form
# and always takes `_other`. dashboard.js makes the same choice with Intl.PluralRules.
_PLURAL_RULES: Mapping[str, Callable[[int], str]] = {
    "vi": lambda n: "other",
    "en": lambda n: "one" if n == 1 else "other",
}
# The portals this serves are Vietnamese: times are shown in Vietnam time (no DST), and
# the widget's script rewrites them into the reader's own zone when it runs.
VIETNAM_TIME = timezone(timedelta(hours=7))
_MONTHS_EN = (
    "January February March April May June July August September October November December"
).split()


def gettext(locale: str, key: str, **values: object) -> str:
    text = CATALOGS[locale].get(key) or CATALOGS["en"][key]
    return text.format(**values) if values else text


def messages(locale: str, prefix: str) -> dict[str, str]:
    """The `<prefix>_*` messages of one catalog under their short names, for one page's
    templates and script (plural messages keep their `_one`/`_other` suffixes)."""
    start = f"{prefix}_"
    return {k.removeprefix(start): v for k, v in CATALOGS[locale].items() if k.startswith(start)}


def format_number(n: int, locale: str) -> str:
    """1.234 in Vietnamese, 1,234 in English."""
    return f"{n:,}".replace(",", _THOUSANDS[locale])


def plural(locale: str, key: str, n: int, /, **values: object) -> str:
    """The form of `key` that goes with `n`; `{n}` is `n` written for the locale unless given."""
    values.setdefault("n", format_number(n, locale))
    return gettext(locale, f"{key}_{_PLURAL_RULES[locale](n)}", **values)


def votes_text(n: int, locale: str) -> str:
    return plural(locale, "votes", n)


def format_time(moment: datetime, locale: str) -> str:
    local = moment.astimezone(VIETNAM_TIME)
    if locale == "vi":
        text = f"{local:%H:%M} ngày {local:%d/%m/%Y}"
    else:
        text = f"{local.day} {_MONTHS_EN[local.month - 1]} {local.year}, {local:%H:%M}"
    return f"{text} ({gettext(locale, 'time_zone')})"


def choice_rule(locale: str, low: int, high: int) -> str:
    """What the reader must choose, e.g. "Choose up to 3 options."."""
    if high == 1:
        return gettext(locale, "choose_one")
    if low == high:
        return gettext(locale, "choose_exactly", max=high)
    if low == 1:
        return gettext(locale, "choose_up_to", max=high)
    return gettext(locale, "choose_range", min=low, max=high)
