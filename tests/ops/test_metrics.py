"""The plain-int counters and histograms the hot paths update, as Prometheus reads them,
and the vote outcomes they count."""

from __future__ import annotations

from typing import Any

import httpx
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from service.ops.metrics import PlainCounter, PlainHistogram
from tests.voting.test_fair_limits import challenged, limit_site, solved, solved_votes
from tests.voting.voter import vote


def test_histogram_buckets_are_cumulative_and_bounds_inclusive() -> None:
    registry = CollectorRegistry()
    histogram = PlainHistogram("t_seconds", "Test.", (0.1, 1.0), registry=registry)
    for value in (0.05, 0.1, 0.5, 1.0, 3.0):
        histogram.observe(value)
    text = generate_latest(registry).decode()
    assert 't_seconds_bucket{le="0.1"} 2.0' in text
    assert 't_seconds_bucket{le="1.0"} 4.0' in text
    assert 't_seconds_bucket{le="+Inf"} 5.0' in text
    assert "t_seconds_count 5.0" in text
    assert "t_seconds_sum 4.65" in text


def test_counter_shows_every_label_value_from_the_start() -> None:
    registry = CollectorRegistry()
    counter = PlainCounter("t_things", "Test.", "kind", ("a", "b"), registry=registry)
    counter.values["b"] += 3
    text = generate_latest(registry).decode()
    assert 't_things_total{kind="a"} 0.0' in text
    assert 't_things_total{kind="b"} 3.0' in text


# The vote outcomes a scrape of /metrics shows, as the vote path and the review move them.


async def scraped(client: httpx.AsyncClient, outcome: str) -> float:
    """civicpoll_votes_total{outcome=...} as a Prometheus scrape reads it."""
    r = await client.get("/metrics")
    assert r.status_code == 200
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            if sample.name == "civicpoll_votes_total" and sample.labels == {"outcome": outcome}:
                return sample.value
    raise AssertionError(f"no civicpoll_votes_total{{outcome={outcome!r}}}")


async def held_votes(client, admin, make_poll, n: int) -> tuple[dict[str, Any], list[str]]:
    """A poll with `n` votes held for review (over the solved budget), and their ids."""
    await limit_site(admin, solved_burst_per_ip=1, solved_per_ip_per_minute=1)
    poll = await make_poll()
    ip = "198.51.100.60"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    assert await solved_votes(client, poll, ip, 1 + n) == [201] + [202] * n
    listed = (await admin.get(f"/v1/admin/polls/{poll['id']}/held")).json()
    return poll, [v["id"] for group in listed["groups"] for v in group["votes"]]


async def test_a_solved_challenge_counts_as_solved(client, admin, make_poll, state) -> None:
    await limit_site(admin)
    poll = await make_poll()
    ip = "198.51.100.61"
    assert (await vote(client, poll, ip=ip)).status_code == 201
    proof = solved(await challenged(client, poll, ip))
    before = await scraped(client, "solved")
    assert (await vote(client, poll, ip=ip, altcha=proof)).status_code == 201
    assert await scraped(client, "solved") == before + 1
    # A proof sent again is not solved again.
    assert (await vote(client, poll, ip=ip, altcha=proof)).status_code == 409
    assert await scraped(client, "solved") == before + 1


async def test_released_votes_count_as_released(client, admin, make_poll, state) -> None:
    poll, ids = await held_votes(client, admin, make_poll, 2)
    before = await scraped(client, "released")
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/held/release", json={"ids": ids})
    assert r.status_code == 200 and r.json()["released"] == 2
    assert await scraped(client, "released") == before + 2


async def test_discarded_votes_count_as_discarded(client, admin, make_poll, state) -> None:
    poll, _ = await held_votes(client, admin, make_poll, 1)
    before = await scraped(client, "discarded")
    r = await admin.post(f"/v1/admin/polls/{poll['id']}/held/discard", json={"all": True})
    assert r.status_code == 200 and r.json()["discarded"] == 1
    assert await scraped(client, "discarded") == before + 1
