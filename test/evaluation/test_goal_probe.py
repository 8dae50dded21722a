"""The goal probe: coefficients of a known linear motion, the expert against a blind actor."""

from dataclasses import replace

from gato_ros.evaluation.goal_probe import (expert_actor, fit_goal_dependence,
                                            probe_goal_dependence, ProbeConfig)
from gato_ros.sim.experts import ExpertConfig, make_expert
from gato_ros.sim.tasks import list_tasks, make_task
import numpy as np
import pytest


def test_fit_recovers_the_coefficients_of_a_linear_motion():
    """Motion built as 0.3 * goal - 0.5 * (start - mean) + 0.01 is fitted exactly."""
    rng = np.random.default_rng(0)
    goals, starts = rng.normal(size=(20, 2)), rng.normal(size=(20, 2))
    moved = 0.3 * goals - 0.5 * (starts - starts.mean(axis=0)) + 0.01
    fit = fit_goal_dependence(moved, goals, starts)
    assert fit.goal == pytest.approx((0.3, 0.3))
    assert fit.start == pytest.approx((-0.5, -0.5))
    assert fit.r_squared == pytest.approx((1.0, 1.0))
    assert fit.episodes == 20
    assert 'x: goal +0.30 start -0.50 (R^2 1.00)' in fit.summary()


def test_fit_refuses_mismatched_or_too_few_rows():
    """Arrays of other shapes, and fewer than four episodes, are refused."""
    with pytest.raises(ValueError, match=r'\(N, 2\)'):
        fit_goal_dependence(np.zeros((5, 2)), np.zeros((4, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match='N >= 4'):
        fit_goal_dependence(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)))
    with pytest.raises(ValueError, match='episodes must be at least 4'):
        ProbeConfig(arm='panda', task='reach_target', episodes=3)


def _blind_actor(sim):
    """Return an actor that always turns the base joint the same way, blind to the scene."""
    action = np.zeros(len(sim.joint_names))
    action[0] = 0.05
    return lambda observation: action


def test_the_expert_heads_for_the_goal_and_a_blind_actor_does_not():
    """The expert covers a clear share of the goal offset; a fixed motion scores about 0."""
    config = ProbeConfig(arm='panda', task='reach_target', episodes=12)
    expert = probe_goal_dependence(config, expert_actor('reach_target'))
    assert min(expert.goal) > 0.2 and min(expert.r_squared) > 0.9, expert
    blind = probe_goal_dependence(config, _blind_actor)
    assert max(abs(value) for value in blind.goal) < 0.05, blind


def test_twist_actions_are_probed_as_the_motion_they_make():
    """The expert acting in twists is probed as the same motion as in joint deltas."""
    config = ProbeConfig(arm='panda', task='reach_target', episodes=6)

    def twist_actor(sim):
        expert = make_expert('reach_target', ExpertConfig(action_space='twist'))
        return lambda observation: expert(observation, sim)

    joint = probe_goal_dependence(config, expert_actor('reach_target'))
    twist = probe_goal_dependence(replace(config, action_space='twist'), twist_actor)
    assert twist.goal == pytest.approx(joint.goal, abs=1e-3)


def test_every_task_names_a_body_to_approach():
    """Each task's approach body is in its scene."""
    config = ProbeConfig(arm='ur5e', task='reach_target', episodes=4, steps=1)
    for task in list_tasks():
        assert make_task(task).approach_body
        fit = probe_goal_dependence(replace(config, task=task), expert_actor(task))
        assert fit.episodes == 4
