"""Tests for gato_ros/nodes/action_mapping.py."""

import math

from gato_ros.nodes.action_mapping import ActionLayout, GripperConfig
import numpy as np
import pytest

GRIPPER = GripperConfig(joint_name='finger', output='joint', closed_position=0.0,
                        open_position=0.04)


def test_trajectory_targets_are_measured_plus_delta_then_gripper():
    """Trajectory targets are measured plus delta then gripper."""
    layout = ActionLayout(mode='trajectory', joint_names=('a', 'b'), gripper=GRIPPER)
    assert layout.action_dim == 3
    assert layout.commanded_joints == ('a', 'b', 'finger')
    action = layout.check([0.1, -0.2, 0.75])
    targets = layout.joint_targets(action, [1.0, 2.0, 0.01])
    np.testing.assert_allclose(targets, [1.1, 1.8, 0.03])


def test_gripper_command_is_clipped_to_unit_range():
    """Gripper command is clipped to unit range."""
    assert GRIPPER.position(-3.0) == 0.0
    assert GRIPPER.position(7.0) == pytest.approx(0.04)
    reversed_gripper = GripperConfig(joint_name='f', closed_position=0.8, open_position=0.0)
    assert reversed_gripper.position(1.0) == 0.0
    assert reversed_gripper.limits == (0.0, 0.8)


def test_arm_without_gripper():
    """Arm without gripper."""
    layout = ActionLayout(mode='trajectory', joint_names=('a',))
    assert layout.action_dim == 1 and layout.commanded_joints == ('a',)
    np.testing.assert_allclose(layout.joint_targets(layout.check([0.5]), [1.0]), [1.5])


def test_servo_layout_commands_a_twist_and_a_topic_gripper():
    """Servo layout commands a twist and a topic gripper."""
    gripper = GripperConfig(joint_name='finger', output='topic')
    layout = ActionLayout(mode='servo', joint_names=('ignored',), gripper=gripper)
    assert layout.action_dim == 7
    assert layout.commanded_joints == ('finger',)
    action = layout.check([1, 2, 3, 4, 5, 6, 0.5])
    np.testing.assert_array_equal(layout.twist(action), [1, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(layout.joint_targets(action, [0.0]), [0.02])


@pytest.mark.parametrize('action, message', [
    ([0.1], r'shape \(3,\)'),
    ([0.1, math.nan, 0.0], 'finite'),
])
def test_bad_actions_are_rejected(action, message):
    """Bad actions are rejected."""
    layout = ActionLayout(mode='trajectory', joint_names=('a', 'b'), gripper=GRIPPER)
    with pytest.raises(ValueError, match=message):
        layout.check(action)


def test_measured_must_match_commanded_joints():
    """Measured must match commanded joints."""
    layout = ActionLayout(mode='trajectory', joint_names=('a', 'b'), gripper=GRIPPER)
    with pytest.raises(ValueError, match='one position per joint'):
        layout.joint_targets(layout.check([0, 0, 0]), [0.0, 0.0])


@pytest.mark.parametrize('kwargs, message', [
    ({'mode': 'cartesian'}, 'mode must be one of'),
    ({'mode': 'trajectory'}, 'needs joint_names'),
    ({'mode': 'servo', 'gripper': GRIPPER}, "output 'topic'"),
    ({'mode': 'trajectory', 'joint_names': ('finger',), 'gripper': GRIPPER}, 'must not be one'),
])
def test_bad_layouts_are_rejected(kwargs, message):
    """Bad layouts are rejected."""
    with pytest.raises(ValueError, match=message):
        ActionLayout(**kwargs)


@pytest.mark.parametrize('kwargs', [
    {'output': 'action'}, {'closed_position': 0.04}, {'open_position': math.nan},
])
def test_bad_gripper_configs_are_rejected(kwargs):
    """Bad gripper configs are rejected."""
    with pytest.raises(ValueError):
        GripperConfig(joint_name='finger', **kwargs)
