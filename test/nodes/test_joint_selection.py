"""Tests for gato_ros/nodes/joint_selection.py."""

import math

from gato_ros.nodes.joint_selection import JointSelectionConfig, JointStateCache
import numpy as np
import pytest

JOINTS = ('shoulder', 'elbow', 'wrist')


def make_cache(**kwargs):
    """Build a cache over JOINTS."""
    return JointStateCache(JointSelectionConfig(joint_names=JOINTS, **kwargs))


def test_selects_configured_joints_in_configured_order():
    """Selects configured joints in configured order."""
    cache = make_cache()
    assert cache.update(['extra', 'wrist', 'shoulder', 'elbow', 'other'],
                        [9.0, 3.0, 1.0, 2.0, 8.0], [], 5_000_000_000)
    sample = cache.sample()
    assert sample.values.dtype == np.float32
    np.testing.assert_array_equal(sample.values, [1.0, 2.0, 3.0])
    assert sample.stamp_ns == 5_000_000_000
    assert cache.value_names == ['shoulder/position', 'elbow/position', 'wrist/position']


def test_velocities_follow_positions():
    """Velocities follow positions."""
    cache = make_cache(include_velocities=True)
    cache.update(['wrist', 'elbow', 'shoulder'], [3.0, 2.0, 1.0], [-3.0, -2.0, -1.0], 1)
    np.testing.assert_array_equal(cache.sample().values, [1, 2, 3, -1, -2, -3])
    assert cache.value_names[3:] == ['shoulder/velocity', 'elbow/velocity', 'wrist/velocity']


def test_partial_messages_are_merged():
    """Partial messages are merged."""
    cache = make_cache(max_skew_s=0.05)
    cache.update(['shoulder', 'elbow'], [1.0, 2.0], [], 1_000_000_000)
    assert cache.sample() is None  # wrist never seen
    cache.update(['wrist'], [3.0], [], 1_020_000_000)
    sample = cache.sample()
    np.testing.assert_array_equal(sample.values, [1, 2, 3])
    assert sample.stamp_ns == 1_000_000_000  # the oldest joint decides the age


def test_joint_that_stops_publishing_makes_samples_stale():
    """Joint that stops publishing makes samples stale."""
    cache = make_cache(max_skew_s=0.05)
    cache.update(['shoulder', 'elbow'], [1.0, 2.0], [], 1_000_000_000)
    cache.update(['wrist'], [3.0], [], 1_000_000_000)
    assert cache.sample() is not None
    cache.update(['shoulder', 'elbow'], [1.5, 2.5], [], 1_200_000_000)
    assert cache.sample() is None
    cache.update(['wrist'], [3.5], [], 1_200_000_000)
    np.testing.assert_array_equal(cache.sample().values, [1.5, 2.5, 3.5])


def test_message_without_configured_joints_is_ignored():
    """Message without configured joints is ignored."""
    cache = make_cache()
    assert not cache.update(['finger'], [math.nan], [], 1_000_000_000)
    assert cache.sample() is None


@pytest.mark.parametrize('names, positions, velocities, message', [
    (['shoulder', 'elbow', 'shoulder'], [1, 2, 3], [], 'more than once'),
    (['shoulder', 'elbow', 'wrist'], [1, 2], [], '3 names but 2 positions'),
    (['shoulder', 'elbow', 'wrist'], [1, 2, 3], [0, 0], '2 velocities'),
    (['shoulder', 'elbow', 'wrist'], [1, math.nan, 3], [], "position of joint 'elbow'"),
    (['shoulder', 'elbow', 'wrist'], [1, 2, math.inf], [], "position of joint 'wrist'"),
])
def test_inconsistent_messages_are_rejected_whole(names, positions, velocities, message):
    """Inconsistent messages are rejected whole."""
    cache = make_cache()
    cache.update(JOINTS, [0.0, 0.0, 0.0], [], 1_000_000_000)
    with pytest.raises(ValueError, match=message):
        cache.update(names, positions, velocities, 2_000_000_000)
    sample = cache.sample()
    np.testing.assert_array_equal(sample.values, [0, 0, 0])
    assert sample.stamp_ns == 1_000_000_000


def test_non_finite_velocity_is_rejected_when_used():
    """Non finite velocity is rejected when used."""
    cache = make_cache(include_velocities=True)
    with pytest.raises(ValueError, match="velocity of joint 'shoulder'"):
        cache.update(JOINTS, [1, 2, 3], [math.nan, 0, 0], 1_000_000_000)


def test_missing_velocities_are_rejected_when_used():
    """Missing velocities are rejected when used."""
    cache = make_cache(include_velocities=True)
    with pytest.raises(ValueError, match='no velocities'):
        cache.update(JOINTS, [1, 2, 3], [], 1_000_000_000)


def test_extra_joint_values_are_not_checked():
    """Extra joint values are not checked."""
    cache = make_cache()
    cache.update(list(JOINTS) + ['broken'], [1, 2, 3, math.nan], [], 1_000_000_000)
    np.testing.assert_array_equal(cache.sample().values, [1, 2, 3])


def test_stamp_going_backwards_is_rejected():
    """Stamp going backwards is rejected."""
    cache = make_cache()
    cache.update(JOINTS, [1, 2, 3], [], 2_000_000_000)
    with pytest.raises(ValueError, match="joint 'elbow' went backwards"):
        cache.update(['elbow'], [5.0], [], 1_500_000_000)
    np.testing.assert_array_equal(cache.sample().values, [1, 2, 3])
    cache.update(['elbow'], [5.0], [], 2_000_000_000)  # the same stamp again is accepted
    np.testing.assert_array_equal(cache.sample().values, [1, 5, 3])


def test_clear_forgets_stamps():
    """Clear forgets stamps."""
    cache = make_cache()
    cache.update(JOINTS, [1, 2, 3], [], 2_000_000_000)
    cache.clear()
    assert cache.sample() is None
    cache.update(JOINTS, [4, 5, 6], [], 1_000_000_000)
    np.testing.assert_array_equal(cache.sample().values, [4, 5, 6])


@pytest.mark.parametrize('kwargs', [
    {'joint_names': ()}, {'joint_names': ('a', 'a')}, {'joint_names': ('a',), 'max_skew_s': -1},
])
def test_bad_config_is_rejected(kwargs):
    """Bad config is rejected."""
    with pytest.raises(ValueError):
        JointSelectionConfig(**kwargs)
