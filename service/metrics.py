"""Prometheus metrics: one registry for the process, rendered at /metrics."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Iterator, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)

VOTES = Counter(
    "civicpoll_votes_total", "Vote attempts by outcome.", ["outcome"], registry=REGISTRY
)
VOTE_SECONDS = Histogram(
    "civicpoll_vote_seconds",
    "Time to answer a vote, ledger commit included.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
    registry=REGISTRY,
)
DECIDE_BATCH = Histogram(
    "civicpoll_decide_batch_votes",
    "Votes decided per Redis round trip.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
LEDGER_BATCH = Histogram(
    "civicpoll_ledger_batch_votes",
    "Votes written per ledger commit.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
    registry=REGISTRY,
)
DEPENDENCY_ERRORS = Counter(
    "civicpoll_dependency_errors_total",
    "Failed calls to a dependency.",
    ["dependency"],
    registry=REGISTRY,
)
COMPENSATION_FAILURES = Counter(
    "civicpoll_compensation_failures_total",
    "Votes the ledger refused whose Redis counts could not be taken back.",
    registry=REGISTRY,
)
COUNT_DRIFT = Gauge(
    "civicpoll_count_drift_votes",
    "Redis total minus ledger total, per poll, at the last reconciliation.",
    ["poll"],
    registry=REGISTRY,
)
REBUILDS = Counter(
    "civicpoll_count_rebuilds_total",
    "Counts rebuilt from the ledger.",
    ["reason"],
    registry=REGISTRY,
)
STREAMS = Gauge("civicpoll_open_streams", "Open live-result streams.", registry=REGISTRY)
HTTP_REQUESTS = Counter(
    "civicpoll_http_requests_total",
    "HTTP requests by route group and status class.",
    ["status"],
    registry=REGISTRY,
)


class _PollFigures(Collector):
    """civicpoll_poll_votes_total{poll, outcome}: integrity figures per poll, read at
    scrape time from the tally the vote path keeps anyway."""

    def __init__(self, per_poll: Mapping[str, Tally[str]]) -> None:
        self._per_poll = per_poll

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "civicpoll_poll_votes",
            "Vote attempts per poll by outcome (this process).",
            labels=["poll", "outcome"],
        )
        for poll_id, figures in list(self._per_poll.items()):
            for outcome, n in figures.items():
                family.add_metric([poll_id, outcome], n)
        yield family


# Per poll, since the process started; shared by every app of the process (one in
# production) and bounded by the tally that fills it.
POLL_FIGURES: dict[str, Tally[str]] = {}
REGISTRY.register(_PollFigures(POLL_FIGURES))
