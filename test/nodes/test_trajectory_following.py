"""joint_trajectory_controller semantics of the simulated arm's trajectory follower."""

from gato_ros.nodes.trajectory_following import TrajectoryFollower
import numpy as np
import pytest

NAMES = ['j1', 'j2']
LOWER = [-1.0, -2.0]
UPPER = [1.0, 2.0]


def _positions(follower, now_s):
    return follower.sample(now_s)[0]


@pytest.fixture
def follower():
    """Return a two-joint follower with limits of ±1 and ±2."""
    return TrajectoryFollower(NAMES, LOWER, UPPER)


def test_nothing_is_commanded_before_a_trajectory(follower):
    """Without an accepted trajectory there is no target."""
    assert follower.sample(0.0) is None


def test_linear_interpolation_from_the_start_state_then_hold(follower):
    """Targets move linearly from the measured state through the points, then hold."""
    note = follower.accept(['j2', 'j1'], [1.0, 2.0], [[1.0, 0.5], [0.0, 0.0]],
                           start_time_s=10.0, current_positions=[0.0, 0.0])
    assert note == ''
    np.testing.assert_allclose(_positions(follower, 10.0), [0.0, 0.0])
    np.testing.assert_allclose(_positions(follower, 10.5), [0.25, 0.5])
    np.testing.assert_allclose(_positions(follower, 11.0), [0.5, 1.0])
    np.testing.assert_allclose(_positions(follower, 11.5), [0.25, 0.5])
    np.testing.assert_allclose(_positions(follower, 30.0), [0.0, 0.0])


def test_velocities_are_the_segment_slopes(follower):
    """The sampled velocity is the current segment's slope, zero while holding the end."""
    follower.accept(NAMES, [1.0, 3.0], [[0.5, 1.0], [0.5, 0.0]], start_time_s=0.0,
                    current_positions=[0.0, 0.0])
    np.testing.assert_allclose(follower.sample(0.5)[1], [0.5, 1.0])
    np.testing.assert_allclose(follower.sample(2.0)[1], [0.0, -0.5])
    np.testing.assert_allclose(follower.sample(5.0)[1], [0.0, 0.0])


def test_future_start_waits(follower):
    """A trajectory stamped in the future starts at its stamp."""
    follower.accept(NAMES, [1.0], [[0.5, 0.5]], start_time_s=5.0, current_positions=[0, 0])
    assert follower.sample(4.9) is None
    np.testing.assert_allclose(_positions(follower, 5.5), [0.25, 0.25])


def test_new_trajectory_replaces_the_old(follower):
    """The latest accepted trajectory wins."""
    follower.accept(NAMES, [1.0], [[0.5, 0.5]], start_time_s=0.0, current_positions=[0, 0])
    follower.accept(NAMES, [1.0], [[-0.5, -0.5]], start_time_s=0.5,
                    current_positions=[0.25, 0.25])
    np.testing.assert_allclose(_positions(follower, 1.5), [-0.5, -0.5])


def test_targets_beyond_limits_are_clamped_and_reported(follower):
    """Out-of-limit positions are clamped, as ros2_control's joint limiter does."""
    note = follower.accept(NAMES, [1.0], [[5.0, 0.0]], start_time_s=0.0,
                           current_positions=[0.0, 0.0])
    assert 'j1' in note and 'j2' not in note
    np.testing.assert_allclose(_positions(follower, 2.0), [1.0, 0.0])


@pytest.mark.parametrize('names, times, positions, reason', [
    (['j1'], [1.0], [[0.0]], 'missing'),
    (['j1', 'j2', 'j3'], [1.0], [[0.0, 0.0, 0.0]], 'unknown'),
    (['j1', 'j1'], [1.0], [[0.0, 0.0]], 'duplicate'),
    (NAMES, [1.0, 1.0], [[0.0, 0.0], [0.1, 0.1]], 'strictly increasing'),
    (NAMES, [2.0, 1.0], [[0.0, 0.0], [0.1, 0.1]], 'strictly increasing'),
    (NAMES, [1.0], [[float('nan'), 0.0]], 'non-finite'),
    (NAMES, [1.0], [[0.0]], 'positions'),
    (NAMES, [], [], 'no points'),
])
def test_invalid_trajectories_are_rejected_and_keep_the_old_one(
        follower, names, times, positions, reason):
    """JTC rejects these; the trajectory being executed goes on."""
    follower.accept(NAMES, [1.0], [[0.5, 0.5]], start_time_s=0.0, current_positions=[0, 0])
    with pytest.raises(ValueError, match=reason):
        follower.accept(names, times, positions, start_time_s=0.0,
                        current_positions=[0.0, 0.0])
    np.testing.assert_allclose(_positions(follower, 1.0), [0.5, 0.5])


def test_clear_stops_commanding(follower):
    """After clear() (episode reset) nothing is commanded."""
    follower.accept(NAMES, [1.0], [[0.5, 0.5]], start_time_s=0.0, current_positions=[0, 0])
    follower.clear()
    assert follower.sample(1.0) is None
