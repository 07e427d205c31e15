"""Polls and ballots built in memory, for tests that need no admin API."""

from __future__ import annotations

import dataclasses
import ipaddress
from datetime import UTC, datetime
from typing import Any

from service.polls.model import Option, Poll, Site
from service.voting.ballot import Ballot
from tests.polls.sample import a_poll


def sample_poll(poll_id: str = "wire7test", **changes: Any) -> Poll:
    """An open single-choice poll with options 11, 12, 13 on a permissive site; `changes`
    may set Poll fields, or Site fields as site_<name>."""
    site_changes = {k[5:]: v for k, v in changes.items() if k.startswith("site_")}
    site = Site(
        id=1,
        slug="mau",
        name="Mẫu",
        allowed_origins=("https://portal.example.vn",),
        default_locale="vi",
        voter_secret=b"site-secret",
        rate_per_ip_per_minute=600,
        burst_per_ip=100,
        rate_per_network_per_minute=600,
        burst_per_network=100,
        allowlisted_networks=(ipaddress.ip_network("192.0.2.0/24"),),
        require_widget_token=False,
        theme={},
    )
    now = datetime.now(UTC)
    poll_changes = {k: v for k, v in changes.items() if not k.startswith("site_")}
    options = (Option("11", "Có"), Option("12", "Không"), Option("13", "Khác"))
    return a_poll(
        dataclasses.replace(site, **site_changes),
        **{"id": poll_id, "options": options, "created_at": now, "updated_at": now} | poll_changes,
    )


def sample_ballot(poll: Poll, n: int = 0, **changes: Any) -> Ballot:
    """Ballot number `n`: its own voter, address and network unless `changes` say otherwise."""
    fields: dict[str, Any] = {
        "poll": poll,
        "choices": ("11",),
        "voter_hash": f"{n:08x}aa",
        "ip_hash": f"{n:08x}bb",
        "network_hash": f"{n:08x}cc",
        "voter_key": f"{n:08x}aa",
        "ip_key": None,
        "voter_mark_ttl": 3600,
        "ip_mark_ttl": 0,
        "limited": True,
    }
    fields.update(changes)
    return Ballot(**fields)
