"""Random and topic-action policies that the inference node runs as baselines."""

from types import SimpleNamespace

from gato_ros.nodes.action_mapping import ActionLayout, GripperConfig
from gato_ros.nodes.baseline_policies import (
    random_action_bounds, RandomPolicy, TopicActionPolicy)
import numpy as np
import pytest


def test_random_actions_stay_in_bounds_and_vary():
    """Random actions are uniform inside the bounds and differ from step to step."""
    policy = RandomPolicy([-0.1, -0.2, 0.0], [0.1, 0.2, 1.0], seed=3)
    actions = np.stack([policy.select_action({}) for _ in range(200)])
    assert actions.shape == (200, 3) and actions.dtype == np.float32
    assert np.all(actions >= [-0.1, -0.2, 0.0]) and np.all(actions <= [0.1, 0.2, 1.0])
    assert actions.std(axis=0).min() > 0.02


def test_random_bounds_rejects_inverted_ranges():
    """An inverted range (low above high) is a configuration error."""
    with pytest.raises(ValueError, match='low <= high'):
        RandomPolicy([1.0], [0.0])


def test_random_bounds_follow_step_limits_and_gripper():
    """Trajectory mode: ±max_step per joint, then the gripper command in [0, 1]."""
    layout = ActionLayout('trajectory', ('a', 'b'), GripperConfig(joint_name='g'))
    params = {'max_step': [0.1, 0.2], 'max_linear_speed_mps': 0.5,
              'max_angular_speed_radps': 1.0}
    low, high = random_action_bounds(params, layout)
    np.testing.assert_allclose(low, [-0.1, -0.2, 0.0])
    np.testing.assert_allclose(high, [0.1, 0.2, 1.0])


def test_topic_action_is_used_while_fresh_then_refused():
    """The newest action is returned until it is older than the limit."""
    clock = SimpleNamespace(now=0)
    policy = TopicActionPolicy(2, max_age_ns=100, now_ns=lambda: clock.now)
    with pytest.raises(ValueError, match='no action'):
        policy.select_action({})
    policy.put([0.5, -0.5])
    clock.now = 50
    np.testing.assert_allclose(policy.select_action({}), [0.5, -0.5])
    clock.now = 151
    with pytest.raises(ValueError, match='old'):
        policy.select_action({})


def test_topic_action_of_the_wrong_size_and_reset():
    """A wrong-sized action is refused; reset forgets the stored action."""
    policy = TopicActionPolicy(3, max_age_ns=100, now_ns=lambda: 0)
    policy.put([1.0, 2.0])
    with pytest.raises(ValueError, match='expected 3'):
        policy.select_action({})
    policy.reset()
    with pytest.raises(ValueError, match='no action'):
        policy.select_action({})
