"""Tests for gato_ros/nodes/trajectory.py against joint_trajectory_controller's rules."""

import math

from builtin_interfaces.msg import Time
from gato_ros.nodes.trajectory import (
    build_gripper_command, build_joint_trajectory, build_twist, duration_from_seconds)
import numpy as np
import pytest

JOINTS = ['shoulder', 'elbow', 'wrist']


def seconds(duration):
    """Convert a builtin_interfaces Duration to seconds."""
    return duration.sec + duration.nanosec * 1e-9


def test_trajectory_follows_controller_rules():
    """Trajectory follows controller rules."""
    msg = build_joint_trajectory(JOINTS, np.array([0.1, -0.2, 0.3]), 0.1)
    assert msg.header.stamp.sec == 0 and msg.header.stamp.nanosec == 0  # start now
    assert list(msg.joint_names) == JOINTS
    assert len(msg.points) == 1
    point = msg.points[0]
    assert list(point.positions) == [0.1, -0.2, 0.3]
    assert len(point.velocities) == 0 and len(point.accelerations) == 0
    assert seconds(point.time_from_start) == pytest.approx(0.1)
    assert point.time_from_start.nanosec < 1_000_000_000


def test_duration_carries_whole_seconds():
    """Duration carries whole seconds."""
    duration = duration_from_seconds(2.25)
    assert (duration.sec, duration.nanosec) == (2, 250_000_000)


@pytest.mark.parametrize('names, positions, time_s, message', [
    (JOINTS, [0.0, 0.0], 0.1, '3 finite positions'),
    (JOINTS, [0.0, math.nan, 0.0], 0.1, '3 finite positions'),
    (['a', 'a'], [0.0, 0.0], 0.1, 'unique'),
    ([], [], 0.1, 'non-empty'),
    (JOINTS, [0.0, 0.0, 0.0], 0.0, 'time_from_start_s must be > 0'),
    (JOINTS, [0.0, 0.0, 0.0], math.inf, 'time_from_start_s must be > 0'),
])
def test_invalid_trajectories_are_refused(names, positions, time_s, message):
    """Invalid trajectories are refused."""
    with pytest.raises(ValueError, match=message):
        build_joint_trajectory(names, positions, time_s)


def test_gripper_command_is_a_one_element_array():
    """Gripper command is a one element array."""
    assert list(build_gripper_command(0.02).data) == [0.02]
    with pytest.raises(ValueError, match='finite'):
        build_gripper_command(math.nan)


def test_twist_is_stamped_framed_and_limited():
    """Twist is stamped framed and limited."""
    stamp = Time(sec=12, nanosec=5)
    msg = build_twist([0.6, 0.0, 0.8, 0.0, 0.2, 0.0], 'tool0', stamp, 0.5, 1.0)
    assert msg.header.frame_id == 'tool0'
    assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (12, 5)
    linear = [msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z]
    angular = [msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z]
    np.testing.assert_allclose(linear, [0.3, 0.0, 0.4])
    np.testing.assert_allclose(angular, [0.0, 0.2, 0.0])


def test_twist_needs_a_frame():
    """Twist needs a frame."""
    with pytest.raises(ValueError, match='frame_id'):
        build_twist([0.0] * 6, '', Time(), 0.5, 1.0)
