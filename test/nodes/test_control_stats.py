"""Tests for gato_ros/nodes/control_stats.py."""

from gato_ros.nodes.control_stats import ControlStats
import pytest


def test_rate_counts_ticks_over_the_window():
    """Ticks every 50 ms give 20 Hz; the window keeps only recent ticks."""
    stats = ControlStats(window=5)
    assert stats.rate_hz == 0.0
    for i in range(10):
        stats.record_tick(i * 50_000_000)
    assert stats.rate_hz == pytest.approx(20.0)
    stats.record_tick(9 * 50_000_000 + 250_000_000)  # a 250 ms gap slows the window down
    assert stats.rate_hz == pytest.approx(4 / 0.4)


def test_latency_percentiles_in_milliseconds():
    """The median and 99th percentile come from the recorded latencies."""
    stats = ControlStats()
    assert stats.latency_ms() == (0.0, 0.0)
    for latency_s in [0.010] * 99 + [0.500]:
        stats.record_latency(latency_s)
    p50, p99 = stats.latency_ms()
    assert p50 == pytest.approx(10.0)
    assert 10.0 < p99 < 500.0
    stats.reset()
    assert stats.latency_ms() == (0.0, 0.0) and stats.rate_hz == 0.0
