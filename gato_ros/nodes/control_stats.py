"""Achieved control rate and observation-to-command latency of the inference node.

Latency is measured from the acquisition stamp of the OLDEST observation a command was built
from to the moment the command is published, on the node clock: it covers transport, waiting
for the next tick and inference, which is what the robot experiences.
"""

from collections import deque

import numpy as np


class ControlStats:
    """Sliding-window statistics of control ticks and command latencies."""

    def __init__(self, window=200):
        """Create empty statistics.

        Args:
            window: Number of most recent ticks and latencies kept.
        """
        self._ticks_ns = deque(maxlen=window)
        self._latencies_s = deque(maxlen=window)

    def reset(self):
        """Forget every tick and latency (e.g. at activation)."""
        self._ticks_ns.clear()
        self._latencies_s.clear()

    def record_tick(self, now_ns):
        """Record the start of a control tick.

        Args:
            now_ns: Node clock time of the tick (ns).
        """
        self._ticks_ns.append(now_ns)

    def record_latency(self, latency_s):
        """Record the latency of one published command.

        Args:
            latency_s: Seconds from observation acquisition to publication.
        """
        self._latencies_s.append(latency_s)

    @property
    def rate_hz(self):
        """Ticks per second over the window.

        Returns:
            float: 0 with fewer than two ticks or no elapsed time.
        """
        if len(self._ticks_ns) < 2:
            return 0.0
        span_ns = self._ticks_ns[-1] - self._ticks_ns[0]
        return (len(self._ticks_ns) - 1) / (span_ns * 1e-9) if span_ns > 0 else 0.0

    def latency_ms(self):
        """Median and 99th percentile latency over the window.

        Returns:
            tuple[float, float]: (p50, p99) in ms; zeros before the first command.
        """
        if not self._latencies_s:
            return 0.0, 0.0
        p50, p99 = np.percentile(np.asarray(self._latencies_s), [50, 99]) * 1e3
        return float(p50), float(p99)
