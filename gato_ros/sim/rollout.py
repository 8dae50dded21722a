"""ROS-free closed-loop episodes: observe, ask a policy for an action, execute it, repeat.

A policy function is ``policy_fn(observation, sim) -> action``: observation is
``ArmSim.observation()`` and action follows the convention of ``gato_ros.sim.experts``, in
joint deltas or, with ``action_space='twist'``, the tool's twist.
Learned policies use the observation (and ``sim.instruction``); scripted experts read the
simulator.
"""

from dataclasses import dataclass, field

from gato_ros.data import TWIST_SIZE
from gato_ros.sim.experts import (apply_action, check_action_space, ExpertConfig,
                                  joint_action, max_arm_deltas)
import numpy as np


@dataclass
class EpisodeResult:
    """What happened in one episode; observations and actions only when recorded."""

    success: bool
    steps: int
    sim_time_s: float
    unstable: bool
    instruction: str
    observations: list = field(default_factory=list)
    actions: list = field(default_factory=list)

    @property
    def frames(self) -> list:
        """Return the recorded camera images, one per step."""
        return [observation['image'] for observation in self.observations]


def run_episode(sim, policy_fn, task, seed: int, control_rate_hz: float = 10.0,
                max_steps: int = None, record: bool = False,
                include_images: bool = True, perturb=None,
                action_space: str = 'joint') -> EpisodeResult:
    """Reset the simulator and run one episode until success, instability or the step limit.

    Args:
        sim: the ArmSim to run in.
        policy_fn: callable (observation, sim) -> action.
        task: a task name or Task instance for sim.reset.
        seed: episode seed for sim.reset.
        control_rate_hz: how often the policy acts.
        max_steps: step limit; None uses the task's time limit at control_rate_hz.
        record: keep every observation and action in the result.
        include_images: render the camera into the observations (skip it for policies that
            only read the simulator, it is most of the cost).
        perturb: optional callable (action, sim) -> the action actually executed; the
            policy's own action is what gets recorded (noise-injected demonstrations).
        action_space: what the actions hold, ``'joint'`` deltas or the tool's ``'twist'``
            (see gato_ros.sim.experts.ACTION_SPACES).

    Returns:
        The EpisodeResult.

    Raises:
        ValueError: if control_rate_hz or max_steps is not positive, or the action space is
            unknown.

    """
    if not control_rate_hz > 0.0:
        raise ValueError(f'control_rate_hz must be > 0, got {control_rate_hz}')
    if max_steps is not None and max_steps < 1:
        raise ValueError(f'max_steps must be >= 1 or None, got {max_steps}')
    check_action_space(action_space)
    sim.reset(task, seed)
    period_s = 1.0 / control_rate_hz
    controller = ExpertConfig(control_rate_hz=control_rate_hz)
    if max_steps is None:
        max_steps = int(round(sim.task.time_limit_s * control_rate_hz))
    result = EpisodeResult(success=False, steps=0, sim_time_s=0.0, unstable=False,
                           instruction=sim.instruction)
    while result.steps < max_steps and not (result.success or result.unstable):
        observation = sim.observation(include_image=include_images)
        action = np.asarray(policy_fn(observation, sim), dtype=np.float32)
        if record:
            result.observations.append(observation)
            result.actions.append(action)
        executed = action if perturb is None else perturb(action, sim)
        apply_action(sim, joint_action(sim, executed, action_space, controller), period_s)
        result.steps += 1
        result.unstable = sim.is_unstable()
        result.success = not result.unstable and sim.success()
    result.sim_time_s = sim.time_s
    return result


def make_action_noise(seed: int, scale: float, control_rate_hz: float = 10.0,
                      action_space: str = 'joint', correlation_s: float = 0.0):
    """Return a perturbation adding Gaussian noise to the joint deltas (or twist) of actions.

    Demonstrations whose executed actions are perturbed while the expert's corrections are
    recorded show the way back from the small errors a learned policy makes (noise injection
    as in DART, Laskey et al. 2017); the gripper command is left as it is. White noise
    (``correlation_s`` 0) averages out within a few periods; a learned policy's errors
    persist (it aims a few degrees off for a second), so ``correlation_s`` > 0 makes the
    noise a first-order autoregressive process with that time constant and the same std,
    which carries the arm off course far enough for the expert to recover visibly.

    Args:
        seed: seed of the noise generator.
        scale: noise std as a fraction of each joint's largest delta per control period (of
            the experts' largest linear and angular speeds, for twists).
        control_rate_hz: control rate the deltas are scaled for.
        action_space: ``'joint'`` or ``'twist'``, what the perturbed actions hold.
        correlation_s: time constant of the noise (s); 0 draws it afresh every period.

    Returns:
        A callable (action, sim) -> perturbed float32 action.

    Raises:
        ValueError: if scale or correlation_s is negative or not finite, or the action
            space is unknown.

    """
    if not (scale >= 0.0 and np.isfinite(scale)):
        raise ValueError(f'noise scale must be finite and >= 0, got {scale}')
    if not (correlation_s >= 0.0 and np.isfinite(correlation_s)):
        raise ValueError(f'noise correlation must be finite and >= 0 s, got {correlation_s}')
    check_action_space(action_space)
    rng = np.random.default_rng(seed)
    period_s = 1.0 / control_rate_hz
    # AR(1): keeping `carry` of the last draw and sqrt(1 - carry^2) of a new one holds the
    # std at 1; carry 0 is white noise, drawn exactly as before the option existed.
    carry = float(np.exp(-period_s / correlation_s)) if correlation_s > 0.0 else 0.0
    state = {'draw': None}
    limits = ExpertConfig()
    max_twist = np.repeat([limits.max_speed_m_s, limits.max_angular_speed_rad_s],
                          TWIST_SIZE // 2)

    def perturb(action: np.ndarray, sim) -> np.ndarray:
        """Return the action with noise on its joint deltas (or twist)."""
        largest = (max_arm_deltas(sim.arm, period_s) if action_space == 'joint'
                   else max_twist)
        fresh = rng.normal(size=largest.shape)
        state['draw'] = (fresh if state['draw'] is None
                         else carry * state['draw'] + np.sqrt(1.0 - carry ** 2) * fresh)
        noisy = np.array(action, np.float32)
        noisy[:-1] += (state['draw'] * scale * largest).astype(np.float32)
        return noisy

    return perturb


def make_random_policy(seed: int, control_rate_hz: float = 10.0):
    """Return a policy drawing uniform actions within the arm's velocity limits.

    It is the 0% reference of expert-normalized scores.

    Args:
        seed: seed of the policy's own random generator.
        control_rate_hz: control rate the deltas are scaled for.

    Returns:
        A policy function (observation, sim) -> float32 action.

    """
    rng = np.random.default_rng(seed)
    period_s = 1.0 / control_rate_hz

    def random_policy(observation: dict, sim) -> np.ndarray:
        """Return a uniform random action: joint deltas, then a gripper command."""
        max_delta = max_arm_deltas(sim.arm, period_s)
        return np.append(rng.uniform(-max_delta, max_delta), rng.uniform()).astype(np.float32)

    return random_policy
