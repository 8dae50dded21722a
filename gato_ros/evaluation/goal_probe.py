"""Does a policy head for the goal in its image? A regression of the tool's first motion.

ROS-free (the simulator and the policy in one process, like ``collect``). Success rates stay
at zero long before a policy has learnt anything about the scene, and a direction cosine
over a handful of seeds can agree with the goal by chance of where those seeds put it. This
probe separates what the motion depends on: over many episodes, the tool's horizontal
displacement after the first few control periods is fitted, per axis, as

    moved = goal * (goal - tool at start) + start * (tool at start - mean start) + bias

The goal coefficient is the share of the offset to the task's first goal (the body its tool
approaches first) covered in those periods: the scripted expert's is clearly positive, a
policy that ignores the image scores about 0 however it moves. A negative start
coefficient means the policy returns to where starts are on average: what the image-blind
best guess (the mean goal) looks like.
"""

from dataclasses import dataclass

from gato_ros.recording.sim_demos import DemoConfig, policy_observation
from gato_ros.sim.experts import apply_action, joint_action, make_expert
from gato_ros.sim.scene import ArmSim, SceneConfig
from gato_ros.sim.tasks import make_task
import numpy as np

AXES = ('x', 'y')


@dataclass(frozen=True)
class ProbeConfig:
    """Where and how long to probe.

    Attributes:
        arm: simulated arm name.
        task: task name.
        episodes: episodes fitted (seeds ``first_seed`` on).
        steps: control periods from the start whose motion is fitted.
        first_seed: seed of the first episode.
        camera_size: (height, width) rendered by the simulated camera (px).
        image_size: (height, width) of the model's image observation (px).
        control_rate_hz: policy rate (Hz).
        start_noise_rad: uniform noise on each arm joint of the home pose at every reset.
        action_space: what the actor's actions hold, ``'joint'`` deltas or the tool's
            ``'twist'``.
        wrist_camera: the observations also hold the wrist camera's image.
    """

    arm: str
    task: str
    episodes: int = 40
    steps: int = 3
    first_seed: int = 320000
    camera_size: tuple = DemoConfig.camera_size
    image_size: tuple = DemoConfig.image_size
    control_rate_hz: float = DemoConfig.control_rate_hz
    start_noise_rad: float = SceneConfig.home_noise_rad
    action_space: str = 'joint'
    wrist_camera: bool = False

    def __post_init__(self):
        if self.episodes < 4:
            raise ValueError(f'episodes must be at least 4 (three coefficients are fitted), '
                             f'got {self.episodes}')
        if self.steps < 1:
            raise ValueError(f'steps must be positive, got {self.steps}')


@dataclass(frozen=True)
class GoalDependence:
    """Fitted coefficients, one per horizontal axis (x, y).

    Attributes:
        goal: coefficient of the offset from the tool to the goal at the start.
        start: coefficient of the tool's start offset from the mean start.
        r_squared: share of the motion's variance the fit explains.
        episodes: episodes fitted.
    """

    goal: tuple
    start: tuple
    r_squared: tuple
    episodes: int

    def summary(self) -> str:
        """Return one line: both coefficients and R^2 per axis."""
        return ', '.join(f'{axis}: goal {self.goal[i]:+.2f} start {self.start[i]:+.2f} '
                         f'(R^2 {self.r_squared[i]:.2f})' for i, axis in enumerate(AXES))


def fit_goal_dependence(moved, goal_offsets, start_positions) -> GoalDependence:
    """Fit each axis of the motion on the goal offset, the start offset and a bias.

    Args:
        moved: (N, 2) horizontal tool displacement of each episode (m).
        goal_offsets: (N, 2) goal minus tool position at the start (m).
        start_positions: (N, 2) tool position at the start (m).

    Returns:
        GoalDependence: the least-squares coefficients.

    Raises:
        ValueError: if the arrays are not (N, 2) alike with N >= 4.
    """
    moved, goals, starts = (np.asarray(a, np.float64) for a in
                            (moved, goal_offsets, start_positions))
    well_formed = moved.shape == goals.shape == starts.shape and moved.ndim == 2
    if not (well_formed and moved.shape[1] == 2 and len(moved) >= 4):
        raise ValueError(f'expected three (N, 2) arrays with N >= 4, got {moved.shape}, '
                         f'{goals.shape}, {starts.shape}')
    starts = starts - starts.mean(axis=0)
    goal, start, r_squared = [], [], []
    for k in range(2):
        design = np.stack([goals[:, k], starts[:, k], np.ones(len(moved))], axis=1)  # (N, 3)
        coefficients, *_ = np.linalg.lstsq(design, moved[:, k], rcond=None)
        residual = moved[:, k] - design @ coefficients
        variance = np.var(moved[:, k])
        goal.append(float(coefficients[0]))
        start.append(float(coefficients[1]))
        r_squared.append(float(1.0 - np.var(residual) / variance) if variance > 0 else 0.0)
    return GoalDependence(tuple(goal), tuple(start), tuple(r_squared), len(moved))


def expert_actor(task: str):
    """Return ``begin(sim) -> act(observation)`` of the task's scripted expert.

    Args:
        task: task name.
    """
    def begin(sim):
        expert = make_expert(task)  # a fresh expert: some keep a phase per episode
        return lambda observation: expert(observation, sim)
    return begin


def policy_actor(policy, task_name: str, image_size: tuple):
    """Return ``begin(sim) -> act(observation)`` of a checkpoint policy.

    Args:
        policy: a :class:`gato_ros.policy.GatoPolicy`.
        task_name: the policy's task name (``<arm>/<task>``).
        image_size: (height, width) of the model's image observation (px).
    """
    keys = policy.task_spec(task_name).observations

    def begin(sim):
        policy.reset(task=task_name, instruction=sim.instruction)
        return lambda observation: policy.select_action(
            policy_observation(observation, image_size, keys))
    return begin


def probe_goal_dependence(config: ProbeConfig, begin) -> GoalDependence:
    """Run the first ``steps`` periods of each episode and fit the tool's motion.

    Args:
        config: what to probe.
        begin: ``begin(sim) -> act(observation) -> action``, called after each reset (see
            :func:`expert_actor`, :func:`policy_actor`).

    Returns:
        GoalDependence: the fit over ``config.episodes`` episodes.
    """
    goal_body = make_task(config.task).approach_body
    sim = ArmSim(config.arm, image_size=config.camera_size,
                 config=SceneConfig(home_noise_rad=config.start_noise_rad),
                 wrist_image=config.wrist_camera)
    moved, goals, starts = [], [], []
    for seed in range(config.first_seed, config.first_seed + config.episodes):
        sim.reset(config.task, seed)
        act = begin(sim)
        start = sim.tcp_position()[:2].copy()
        goals.append(sim.body_position(goal_body)[:2] - start)
        for _ in range(config.steps):
            action = joint_action(sim, act(sim.observation()), config.action_space)
            apply_action(sim, action, 1.0 / config.control_rate_hz)
        moved.append(sim.tcp_position()[:2] - start)
        starts.append(start)
    return fit_goal_dependence(moved, goals, starts)
