"""Tests for gato_ros/nodes/safety.py: the guarantees listed in its module docstring."""

import math

from gato_ros.nodes.safety import limit_twist, SafetyConfig, SafetyFilter
import numpy as np
import pytest

CONFIG = SafetyConfig(
    joint_names=('a', 'b', 'c'),
    position_lower=(-1.0, 0.0, -3.0),
    position_upper=(1.0, 2.0, 3.0),
    max_step=(0.1, 0.05, 0.5),
)
LOWER, UPPER = np.array(CONFIG.position_lower), np.array(CONFIG.position_upper)
STEP = np.array(CONFIG.max_step)
EPS = 1e-12


def test_random_targets_never_leave_limits_or_jump():
    """Random targets never leave limits or jump."""
    rng = np.random.default_rng(0)
    safety = SafetyFilter(CONFIG)
    measured = np.array([0.5, 1.0, -2.0])
    previous = measured  # the first command starts from the measured state
    for _ in range(500):
        target = rng.uniform(-10.0, 10.0, size=3)
        command = safety.apply(target, measured)
        measured = command + rng.normal(0, 0.01, 3)  # later measurements only lag behind
        assert np.all(command >= LOWER) and np.all(command <= UPPER)
        assert np.all(np.abs(command - previous) <= STEP + EPS)
        previous = command


def test_reachable_target_is_passed_unchanged():
    """Reachable target is passed unchanged."""
    safety = SafetyFilter(CONFIG)
    measured = np.array([0.0, 1.0, 0.0])
    target = measured + np.array([0.05, -0.02, 0.4])
    np.testing.assert_allclose(safety.apply(target, measured), target)


def test_first_command_starts_from_measured_state_not_previous_session():
    """First command starts from measured state not previous session."""
    safety = SafetyFilter(CONFIG)
    for _ in range(30):  # walk far away from the new measured state
        safety.apply([1.0, 2.0, 3.0], [0.0, 1.0, 0.0])
    safety.reset()
    assert not safety.seeded
    measured = np.array([-0.5, 0.5, -1.0])
    command = safety.apply([1.0, 2.0, 3.0], measured)
    np.testing.assert_allclose(command, measured + STEP)
    assert safety.seeded


def test_measured_slightly_outside_limits_is_clipped_first():
    """Measured slightly outside limits is clipped first."""
    safety = SafetyFilter(CONFIG)
    command = safety.apply([1.5, 1.0, 0.0], [1.005, 1.0, 0.0])
    np.testing.assert_allclose(command, [1.0, 1.0, 0.0])


def test_measured_far_outside_limits_refuses_to_move():
    """Measured far outside limits refuses to move."""
    safety = SafetyFilter(CONFIG)
    with pytest.raises(ValueError, match="joint 'b' is measured at 2.5000"):
        safety.apply([0.0, 1.9, 0.0], [0.0, 2.5, 0.0])
    assert not safety.seeded


@pytest.mark.parametrize('target, measured, message', [
    ([0.0, math.nan, 0.0], [0.0, 1.0, 0.0], 'target positions must be finite'),
    ([0.0, 1.0, 0.0], [math.inf, 1.0, 0.0], 'measured positions must be finite'),
    ([0.0, 1.0], [0.0, 1.0, 0.0], r'target must have shape \(3,\)'),
])
def test_bad_input_is_rejected_without_changing_state(target, measured, message):
    """Bad input is rejected without changing state."""
    safety = SafetyFilter(CONFIG)
    first = safety.apply([0.0, 1.0, 0.0], [0.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=message):
        safety.apply(target, measured)
    following = safety.apply([1.0, 2.0, 3.0], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(following, first + STEP)


@pytest.mark.parametrize('kwargs', [
    {'position_lower': (0.0, 0.0)},
    {'position_lower': (1.0, 0.0, 0.0)},
    {'position_upper': (1.0, math.inf, 3.0)},
    {'max_step': (0.1, 0.0, 0.1)},
    {'seed_tolerance': -0.1},
])
def test_bad_config_is_rejected(kwargs):
    """Bad config is rejected."""
    fields = {'joint_names': ('a', 'b', 'c'), 'position_lower': (-1.0, -1.0, -1.0),
              'position_upper': (1.0, 1.0, 1.0), 'max_step': (0.1, 0.1, 0.1)}
    with pytest.raises(ValueError):
        SafetyConfig(**{**fields, **kwargs})


def test_twist_speeds_are_limited_keeping_direction():
    """Twist speeds are limited keeping direction."""
    limited = limit_twist([3.0, 4.0, 0.0, 0.0, 0.0, 2.0], 0.5, 1.0)
    np.testing.assert_allclose(limited, [0.3, 0.4, 0.0, 0.0, 0.0, 1.0])


def test_slow_twist_is_unchanged():
    """Slow twist is unchanged."""
    twist = [0.01, -0.02, 0.03, 0.1, 0.0, -0.1]
    np.testing.assert_array_equal(limit_twist(twist, 0.5, 1.0), twist)


@pytest.mark.parametrize('twist', [[0.0] * 5, [0.0, 0.0, math.nan, 0.0, 0.0, 0.0]])
def test_bad_twist_is_rejected(twist):
    """Bad twist is rejected."""
    with pytest.raises(ValueError, match='6 finite values'):
        limit_twist(twist, 0.5, 1.0)
