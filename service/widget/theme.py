"""A site's widget theme: the one check of its values, the defaults, and the colours drawn
from it so that any accent a site picks still meets WCAG AA."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

from service.core.errors import BadRequest

MODES = ("light", "dark", "auto")
DEFAULT_THEME = {
    "accent": "#0b5cad",
    "radius": "8",
    "font": "system-ui, sans-serif",
    "mode": "auto",
}
_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}){1,2}")
_FONT = re.compile(r"[A-Za-z0-9 ,'-]{1,80}")


def _radius(value: str) -> bool:
    # Two digits at most: int() of thousands of digits is slow, and 32 is the limit anyway.
    return value.isascii() and value.isdigit() and len(value) <= 2 and int(value) <= 32


# Theme values end up inside CSS: only shapes that cannot break out of a declaration.
# The same checks guard the admin API (stored themes) and the embed URL (per-page ones).
THEME_CHECKS: dict[str, Callable[[str], bool]] = {
    "accent": lambda v: _COLOR.fullmatch(v) is not None,
    "font": lambda v: _FONT.fullmatch(v) is not None,
    "radius": _radius,
    "mode": lambda v: v in MODES,
}


def check_theme(values: Mapping[str, str]) -> dict[str, str]:
    """A site's theme as stored, or 400 naming the first key or value that is not valid."""
    for key, value in values.items():
        check = THEME_CHECKS.get(key)
        if check is None:
            raise BadRequest(
                f"theme key {key!r} is unknown (use {', '.join(THEME_CHECKS)})", field="theme"
            )
        if not check(value):
            raise BadRequest(f"theme {key} value {value!r} is not valid", field="theme")
    return dict(values)


def _luminance(color: str) -> float:
    hexes = color[1:]
    if len(hexes) == 3:
        hexes = "".join(c * 2 for c in hexes)
    channels = [int(hexes[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two #rgb / #rrggbb colours."""
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


LIGHT = {"bg": "#ffffff", "fg": "#1a1a1a"}
DARK = {"bg": "#16181d", "fg": "#f2f2f2"}


def ui_color(accent: str, background: str, text: str) -> str:
    """The accent where it reaches 3:1 against the background (controls, bars), else text."""
    return accent if contrast(accent, background) >= 3 else text


def theme_css(accent: str, radius: str, font: str) -> str:
    """Custom properties for one theme. Sites pick any accent, so the colours drawn on it
    are chosen here to keep WCAG AA: text on the accent takes whichever of black or white
    contrasts more (always >= 4.5:1), and the accent stands in for controls and bars only
    where it reaches 3:1 against the background, else the text colour does."""
    on_accent = "#000000" if contrast(accent, "#000000") >= contrast(accent, "#ffffff") else "#fff"
    ui_light = ui_color(accent, LIGHT["bg"], LIGHT["fg"])
    ui_dark = ui_color(accent, DARK["bg"], DARK["fg"])
    # The values passed THEME_CHECKS: none can leave the declaration. The font goes last
    # because a stray quote can only spoil its own line.
    return (
        f":root{{--cp-accent:{accent};--cp-on-accent:{on_accent};--cp-ui-light:{ui_light};"
        f"--cp-ui-dark:{ui_dark};--cp-radius:{radius}px;\n"
        f"--cp-font:{font};\n}}"
    )
