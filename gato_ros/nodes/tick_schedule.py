"""When the inference node runs a control step: on fresh camera frames, or on its timer.

A control timer alone samples the camera at an arbitrary phase. With a 10 Hz camera and a
10 Hz timer, each command used an image between about 0 and 100 ms old, the phase set by when
the processes started, and kept for the whole run: the same checkpoint measured a p50
latency of 69 ms on one start and 113 ms on another. With a trigger key, a step runs as soon
as a new observation of that key arrives, at most about once per control period. The timer
keeps running at ``control_rate_hz`` as a watchdog: it steps only when frames are late (a
dropped frame, a stopped camera), so the loop keeps its rate and the node's staleness checks
decide whether anything is published.
"""

# Arrival jitter allowed, as a fraction of the control period: a frame this much early still
# starts a step, and the watchdog waits this much past a period before stepping without one.
JITTER_FRACTION = 0.25


class TickSchedule:
    """Decide which trigger arrivals and timer events start a control step."""

    def __init__(self, period_ns: int, frame_triggered: bool):
        """Create a schedule that has not stepped yet (one per activation): any event steps.

        Args:
            period_ns: Control period (ns), ``1 / control_rate_hz``.
            frame_triggered: Whether trigger observations start steps (else the timer alone).
        """
        self._period_ns = period_ns
        self._frame_triggered = frame_triggered
        self._last_step_ns = None

    def on_frame(self, now_ns: int) -> bool:
        """Return whether a trigger observation arriving now starts a step (and note it).

        Args:
            now_ns: Node clock time of the arrival (ns).

        Returns:
            bool: True at most about once per period; always False without a trigger.
        """
        return self._frame_triggered and self._step_due(now_ns, 1.0 - JITTER_FRACTION)

    def on_timer(self, now_ns: int) -> bool:
        """Return whether the control timer firing now starts a step (and note it).

        Args:
            now_ns: Node clock time of the timer event (ns).

        Returns:
            bool: Always True without a trigger; with one, only when no step ran for more
            than a period and the jitter allowance.
        """
        return self._step_due(now_ns, 1.0 + JITTER_FRACTION if self._frame_triggered else 0.0)

    def _step_due(self, now_ns: int, periods: float) -> bool:
        due = (self._last_step_ns is None
               or now_ns - self._last_step_ns >= periods * self._period_ns)
        if due:
            self._last_step_ns = now_ns
        return due
