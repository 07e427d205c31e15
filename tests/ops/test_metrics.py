"""The plain-int counters and histograms the hot paths update, as Prometheus reads them."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from service.ops.metrics import PlainCounter, PlainHistogram


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
