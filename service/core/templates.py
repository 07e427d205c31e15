"""The one Jinja2 environment: every feature package's `templates/` folder, autoescaped."""

from __future__ import annotations

import jinja2

from service.core.assets import ASSETS

# A package that renders HTML adds its name here; template names are unique across them.
TEMPLATE_PACKAGES = ("service.widget", "service.live", "service.console")

templates = jinja2.Environment(
    loader=jinja2.ChoiceLoader([jinja2.PackageLoader(name) for name in TEMPLATE_PACKAGES]),
    # User text is escaped everywhere: in HTML and in the results image alike.
    autoescape=jinja2.select_autoescape(("html", "svg")),
    trim_blocks=True,
    lstrip_blocks=True,
    auto_reload=False,
)
# {{ asset("dashboard.js") }}: the file's versioned URL, cacheable for a year.
templates.globals["asset"] = lambda name: ASSETS[name].href


def template_source(name: str) -> bytes:
    """A template's raw bytes, for build hashes that must change when it does."""
    source, _, _ = templates.loader.get_source(templates, name)  # type: ignore[union-attr]
    return source.encode()
