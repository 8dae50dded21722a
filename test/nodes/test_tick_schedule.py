"""Tests of gato_ros/nodes/tick_schedule.py: frames start steps, the timer is a watchdog."""

from gato_ros.nodes.tick_schedule import TickSchedule

PERIOD_NS = 100_000_000  # 10 Hz


def test_without_a_trigger_every_timer_event_steps():
    """The control timer alone: each event is a step, frames never are."""
    schedule = TickSchedule(PERIOD_NS, frame_triggered=False)
    assert [schedule.on_timer(t) for t in (0, 100, 200)] == [True] * 3
    assert not schedule.on_frame(250 * 10**6)


def test_frames_step_once_per_period_and_the_timer_waits():
    """Frames every period step; a frame early in the period and the timer in between do not."""
    schedule = TickSchedule(PERIOD_NS, frame_triggered=True)
    ms = 10**6
    assert schedule.on_frame(3 * ms)
    assert not schedule.on_timer(50 * ms)  # the watchdog: a step ran 47 ms ago
    assert not schedule.on_frame(40 * ms)  # a 30 Hz camera's next frame: too early
    assert schedule.on_frame(83 * ms)  # jitter: 80 ms after the last step is due
    assert schedule.on_frame(186 * ms)
    assert not schedule.on_timer(250 * ms)


def test_the_timer_steps_when_frames_are_late():
    """No frame for more than a period and the jitter allowance: the timer steps."""
    schedule = TickSchedule(PERIOD_NS, frame_triggered=True)
    ms = 10**6
    assert schedule.on_frame(0)
    assert not schedule.on_timer(120 * ms)
    assert schedule.on_timer(130 * ms)
    assert not schedule.on_frame(140 * ms)  # a late frame right after the watchdog's step


def test_a_new_schedule_steps_on_the_first_event():
    """At activation the first frame or timer event steps at once."""
    assert TickSchedule(PERIOD_NS, frame_triggered=True).on_frame(5)
    assert TickSchedule(PERIOD_NS, frame_triggered=True).on_timer(5)
