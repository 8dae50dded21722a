"""Tests of gato_ros.sim.rollout: the closed loop, recording, limits and the random baseline."""

from gato_ros.sim.arms import list_arms
from gato_ros.sim.experts import make_expert
from gato_ros.sim.rollout import make_action_noise, make_random_policy, run_episode
from gato_ros.sim.scene import ArmSim
from gato_ros.sim.tasks import list_tasks
import numpy as np
import pytest

RANDOM_SEEDS = range(10)


@pytest.fixture(scope='module', params=list_arms())
def sim(request):
    """Yield one simulator per arm, shared by the tests of this module."""
    with ArmSim(request.param) as arm_sim:
        yield arm_sim


def test_expert_episode_records_observations_and_actions(sim):
    """A recorded episode keeps one observation (with image) and one action per step."""
    result = run_episode(sim, make_expert('lift_block'), 'lift_block', 4, record=True)
    assert result.success and not result.unstable
    assert result.instruction == sim.instruction and result.instruction.startswith('lift the')
    assert len(result.observations) == len(result.actions) == result.steps
    assert result.sim_time_s == pytest.approx(0.1 * result.steps)
    assert result.frames[0].shape == (64, 64, 3) and result.frames[0].dtype == np.uint8
    assert not np.array_equal(result.frames[0], result.frames[-1])
    joints = np.array([o['joints'] for o in result.observations])
    assert joints.shape == (result.steps, len(sim.joint_names)) and joints.dtype == np.float32


def test_perturbed_episode_records_the_policy_action_and_executes_the_noisy_one(sim):
    """With action noise the arm moves off the clean path but the expert's actions are kept."""
    clean = run_episode(sim, make_expert('reach_target'), 'reach_target', 2, record=True,
                        include_images=False, max_steps=10)
    executed = []
    noise = make_action_noise(seed=0, scale=0.2)

    def perturb(action, arm_sim):
        executed.append(noise(action, arm_sim))
        return executed[-1]

    noisy = run_episode(sim, make_expert('reach_target'), 'reach_target', 2, record=True,
                        include_images=False, max_steps=10, perturb=perturb)
    recorded, executed = np.array(noisy.actions), np.array(executed)
    assert recorded.shape == executed.shape == (10, len(sim.joint_names))
    np.testing.assert_array_equal(recorded[:, -1], executed[:, -1])
    max_delta = np.array(sim.arm.max_velocities[:-1]) * 0.1
    spread = np.std((executed - recorded)[:, :-1] / max_delta)
    assert 0.1 < spread < 0.3
    assert not np.allclose(clean.observations[-1]['joints'], noisy.observations[-1]['joints'])
    with pytest.raises(ValueError, match='noise scale'):
        make_action_noise(0, -0.1)


def test_twist_noise_is_a_fraction_of_the_experts_speed_limits(sim):
    """Twist noise: std = scale x 0.3 m/s (linear), x 2 rad/s (angular); gripper untouched."""
    sim.reset('reach_target', 0)
    noise = make_action_noise(seed=1, scale=0.1, action_space='twist')
    action = np.append(np.zeros(6), 1.0).astype(np.float32)
    noisy = np.array([noise(action, sim) for _ in range(2000)])
    assert noisy.shape == (2000, 7) and np.all(noisy[:, -1] == 1.0)
    np.testing.assert_allclose(noisy[:, :3].std(axis=0), 0.03, rtol=0.1)
    np.testing.assert_allclose(noisy[:, 3:6].std(axis=0), 0.2, rtol=0.1)
    with pytest.raises(ValueError, match='action_space'):
        make_action_noise(0, 0.1, action_space='cartesian')
    with pytest.raises(ValueError, match='action_space'):
        run_episode(sim, make_expert('reach_target'), 'reach_target', 0, action_space='pose')


def test_correlated_noise_keeps_its_std_and_persists_for_its_time_constant(sim):
    """AR(1) noise: the same std as white noise, lag-k correlation exp(-k period / tau)."""
    sim.reset('reach_target', 0)
    action = np.append(np.zeros(6), 1.0).astype(np.float32)
    noise = make_action_noise(seed=2, scale=0.1, action_space='twist', correlation_s=1.0)
    drawn = np.array([noise(action, sim) for _ in range(20000)])[:, :3] / 0.03  # (T, 3)
    np.testing.assert_allclose(drawn.std(axis=0), 1.0, rtol=0.1)
    for lag in (1, 10):
        correlation = np.mean(drawn[lag:] * drawn[:-lag]) / np.mean(drawn ** 2)
        assert correlation == pytest.approx(np.exp(-0.1 * lag), abs=0.05)
    white = make_action_noise(seed=2, scale=0.1, action_space='twist')
    drawn = np.array([white(action, sim) for _ in range(5000)])[:, :3]
    assert abs(np.mean(drawn[1:] * drawn[:-1]) / np.mean(drawn ** 2)) < 0.05
    with pytest.raises(ValueError, match='correlation'):
        make_action_noise(0, 0.1, correlation_s=-1.0)


def test_correlation_zero_draws_the_white_noise_of_earlier_recordings(sim):
    """correlation_s=0 gives exactly the noise the recipe's folders were collected with."""
    sim.reset('reach_target', 0)
    action = np.append(np.zeros(6), 0.0).astype(np.float32)
    noise = make_action_noise(seed=3, scale=0.03, action_space='twist', correlation_s=0.0)
    rng = np.random.default_rng(3)
    limits = np.repeat([0.3, 2.0], 3)
    for _ in range(5):
        expected = (rng.normal(size=6) * 0.03 * limits).astype(np.float32)
        np.testing.assert_array_equal(noise(action, sim)[:-1], expected)


def test_episode_stops_at_max_steps_and_skips_images_on_request(sim):
    """max_steps bounds the episode; include_images=False leaves images out."""
    result = run_episode(sim, make_random_policy(0), 'pick_place', 0, control_rate_hz=20.0,
                         max_steps=5, record=True, include_images=False)
    assert result.steps == 5 and not result.success
    assert result.sim_time_s == pytest.approx(0.25)
    assert all(set(o) == {'joints'} for o in result.observations)


def test_default_step_limit_is_the_task_time_limit(sim):
    """Without max_steps an episode lasts the task's time limit at the control rate."""
    result = run_episode(sim, make_random_policy(1), 'lift_block', 1, include_images=False)
    assert result.steps == round(sim.task.time_limit_s * 10)
    assert result.steps <= 150


def test_unstable_physics_ends_the_episode(sim, mujoco_warnings):
    """A state that blows up ends the episode at once, flagged unstable, never successful."""
    def sabotage(observation, sim_now):
        sim_now.data.qvel[0] = 1e6
        return np.zeros(len(sim_now.joint_names), dtype=np.float32)

    result = run_episode(sim, sabotage, 'reach_target', 0)
    assert result.unstable and not result.success and result.steps == 1


def test_random_policy_scores_near_zero(sim):
    """Random actions solve at most 1 in 10 episodes of any task and 5% overall."""
    rates = {}
    for task in list_tasks():
        results = [run_episode(sim, make_random_policy(seed), task, seed, include_images=False)
                   for seed in RANDOM_SEEDS]
        assert not any(result.unstable for result in results)
        rates[task] = np.mean([result.success for result in results])
    assert max(rates.values()) <= 0.1, rates
    assert np.mean(list(rates.values())) <= 0.05, rates


def test_random_policy_respects_the_velocity_limits(sim):
    """Random actions are float32 deltas within one period of the velocity limits."""
    sim.reset('reach_target', 0)
    policy = make_random_policy(3)
    actions = np.array([policy({}, sim) for _ in range(200)])
    max_step = np.array(sim.arm.max_velocities[:-1]) * 0.1
    assert actions.dtype == np.float32
    assert np.all(np.abs(actions[:, :-1]) <= max_step + 1e-6)
    assert np.all((actions[:, -1] >= 0.0) & (actions[:, -1] <= 1.0))
    assert np.array_equal(make_random_policy(3)({}, sim), actions[0])


def test_run_episode_rejects_bad_limits(sim):
    """A non-positive control rate or step limit raises ValueError."""
    with pytest.raises(ValueError, match='control_rate_hz'):
        run_episode(sim, make_random_policy(0), 'reach_target', 0, control_rate_hz=0.0)
    with pytest.raises(ValueError, match='max_steps'):
        run_episode(sim, make_random_policy(0), 'reach_target', 0, max_steps=0)
