"""The columns an admin change may set, and the one `UPDATE ... SET` clause built over them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Column name -> the placeholder's cast. These names are the only text ever put into a
# SET clause: they are constants of this module, so no key a client sends (a JSON field
# name, a query parameter) can reach the SQL; values always travel as $n parameters.
SITE_SETTABLE: Mapping[str, str] = {
    "name": "",
    "allowed_origins": "",
    "default_locale": "",
    "voter_secret": "",
    "rate_per_ip_per_minute": "",
    "burst_per_ip": "",
    "rate_per_network_per_minute": "",
    "burst_per_network": "",
    "allowlisted_networks": "::cidr[]",
    "require_widget_token": "",
    "theme": "",
    "limits": "",
}
POLL_SETTABLE: Mapping[str, str] = {
    "question": "",
    "description": "",
    "kind": "",
    "min_choices": "",
    "max_choices": "",
    "locale": "",
    "results_visibility": "",
    "dedupe_mode": "",
    "dedupe_window_hours": "",
    "opens_at": "",
    "closes_at": "",
    "scale": "",
    "scale_range": "",
    "low_label": "",
    "high_label": "",
    "comments": "",
    "max_comments_per_voter": "",
}


def set_clause(
    settable: Mapping[str, str], values: Mapping[str, Any], first: int = 2
) -> tuple[str, list[Any]]:
    """`col = $first, col = $first+1, ...` for the columns `values` sets, and the
    arguments in the same order. A key outside `settable` is a bug, never SQL."""
    unknown = set(values) - set(settable)
    if unknown:
        raise ValueError(f"not a settable column: {sorted(unknown)[0]}")
    sets: list[str] = []
    args: list[Any] = []
    for column, cast in settable.items():
        if column in values:
            args.append(values[column])
            sets.append(f"{column} = ${first + len(args) - 1}{cast}")
    return ", ".join(sets), args
