"""Prometheus metrics: one registry for the process, rendered at /metrics."""

from __future__ import annotations

import functools
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

REGISTRY = CollectorRegistry(auto_describe=True)
# Series labelled by poll: they reveal a poll's figures (also of polls whose results are
# hidden), so /metrics shows them only to an all-sites API token with polls:read.
POLL_REGISTRY = CollectorRegistry(auto_describe=True)
_Async = TypeVar("_Async", bound=Callable[..., Awaitable[Any]])


# The figures every request or vote updates are plain ints, read at scrape time:
# prometheus_client's values take a lock on every update (several per vote, a couple of
# percent of its CPU), and this service updates them from one thread only.


class PlainCounter(Collector):
    """A counter with one label, created with all its label values."""

    def __init__(
        self,
        name: str,
        doc: str,
        label: str,
        values: Iterable[str],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self._name, self._doc, self._label = name, doc, label
        self.values: Tally[str] = Tally(dict.fromkeys(values, 0))
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(self._name, self._doc, labels=[self._label])
        for value, n in self.values.items():
            family.add_metric([value], n)
        yield family


class PlainHistogram(Collector):
    def __init__(
        self,
        name: str,
        doc: str,
        buckets: tuple[float, ...],
        registry: CollectorRegistry = REGISTRY,
    ) -> None:
        self._name, self._doc = name, doc
        self._bounds = buckets
        self._counts = [0] * (len(buckets) + 1)
        self._sum = 0.0
        registry.register(self)

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self._bounds, value)] += 1  # le: bound inclusive
        self._sum += value

    def collect(self) -> Iterator[Metric]:
        cumulative, running = [], 0
        for bound, n in zip((*self._bounds, float("inf")), self._counts, strict=True):
            running += n
            cumulative.append(("+Inf" if bound == float("inf") else str(bound), running))
        yield HistogramMetricFamily(self._name, self._doc, buckets=cumulative, sum_value=self._sum)


OUTCOMES = (
    "accepted",
    "duplicate",
    "rate_limited",
    "invalid",
    "closed",
    "replayed",
    "token_reused",
    "failed",
    "challenged",  # over a limit, asked for a proof of work
    "solved",  # came back with a valid proof (counted or held)
    "held",  # written to the ledger as held, out of the tally
    "released",  # held, then released into the tally by an editor
    "discarded",  # held, then discarded by an editor
)
VOTES = PlainCounter("civicpoll_votes", "Vote attempts by outcome.", "outcome", OUTCOMES)
VOTE_SECONDS = PlainHistogram(
    "civicpoll_vote_seconds",
    "Time to answer a vote, ledger commit included.",
    (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
DECIDE_BATCH = PlainHistogram(
    "civicpoll_decide_batch_votes",
    "Votes decided per Redis round trip.",
    (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
LEDGER_BATCH = PlainHistogram(
    "civicpoll_ledger_batch_votes",
    "Votes written per ledger commit.",
    (1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)
HTTP_REQUESTS = PlainCounter(
    "civicpoll_http_requests",
    "HTTP requests by status class.",
    "status",
    ("1xx", "2xx", "3xx", "4xx", "5xx"),
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
    registry=POLL_REGISTRY,
)
REBUILDS = Counter(
    "civicpoll_count_rebuilds_total",
    "Counts rebuilt from the ledger.",
    ["reason"],
    registry=REGISTRY,
)
DECIDE_REFUSALS = Counter(
    "civicpoll_decide_refusals_total",
    "Votes answered 503 without a decision: waited past the queue budget, reached Redis"
    " after their deadline (Redis stalled), or came while the poll's counts were rebuilt.",
    ["reason"],
    registry=REGISTRY,
)
STREAMS = Gauge("civicpoll_open_streams", "Open live-result streams.", registry=REGISTRY)
LEDGER_SECONDS = PlainHistogram(
    "civicpoll_ledger_commit_seconds",
    "Time to write one batch of votes to the ledger (connection wait included).",
    (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
REBUILDS_RUNNING = Gauge(
    "civicpoll_rebuilds_running",
    "Count rebuilds from the ledger running in this process now.",
    registry=REGISTRY,
)
# Read at scrape time (ops/probes.py), at most every few seconds.
DEPENDENCY_UP = Gauge(
    "civicpoll_dependency_up",
    "1 when the dependency answered the last probe, else 0.",
    ["dependency"],
    registry=REGISTRY,
)
MODERATION_WAITING = Gauge(
    "civicpoll_moderation_waiting",
    "Comments and own words waiting for a moderator, by state (pending, held).",
    ["state"],
    registry=REGISTRY,
)
MODERATION_OLDEST = Gauge(
    "civicpoll_moderation_oldest_seconds",
    "Age of the oldest comment waiting for a moderator (0 when none waits).",
    registry=REGISTRY,
)


def running(gauge: Gauge) -> Callable[[_Async], _Async]:
    """Decorate a coroutine function so that `gauge` counts its calls in progress
    (prometheus_client's track_inprogress decorator would only see the coroutine made)."""

    def decorate(function: _Async) -> _Async:
        @functools.wraps(function)
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            with gauge.track_inprogress():
                return await function(*args, **kwargs)

        return cast(_Async, wrapper)

    return decorate


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
POLL_REGISTRY.register(_PollFigures(POLL_FIGURES))
SIGNIN_HASHES = Counter(
    "civicpoll_signin_hashes_total",
    "Password verifications sign-in ran (a dummy one for an unknown e-mail included).",
    registry=REGISTRY,
)
SIGNIN_REFUSED = Counter(
    "civicpoll_signin_refused_total",
    "Sign-ins answered 429 without hashing: over the process's hash budget, or an account,"
    " address or network over its failed-attempt limit.",
    ["reason"],
    registry=REGISTRY,
)
