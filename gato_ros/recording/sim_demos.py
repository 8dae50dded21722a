"""Scripted-expert demonstrations from the simulator, written as episode files (ROS-free).

The fast path to a training set: the experts of ``gato_ros.sim.experts`` drive ``ArmSim``
directly (no ROS graph, ~0.1 s an episode) and every successful episode becomes one
``gato_ros.data.Episode`` ``.npz``. Observations are made the way the ROS graph makes them:
the camera renders at the simulator node's resolution and the image observer's own
``crop_and_resize`` brings it to the model's input size, so a policy trained here sees the
same pixels when it runs through ``mujoco_arm`` -> ``image_observer``.

Episode task names are ``<arm>/<task>``, or ``<arm>/twist/<task>`` when the actions are the
tool's Cartesian twist (``action_space='twist'``; :func:`gato_ros.data.episode_task_name`).

With a ``policy_checkpoint`` the collection is one round of DAgger (Ross et al. 2011): the
trained policy drives the arm and the expert labels every state it reaches, so the data shows
the expert's answer in the states the policy's own mistakes lead to. Those episodes are all
kept, successful or not (the labels are right either way; training takes prompts only from
successful episodes), and the round reports how closely the policy's motion follows the
expert's labels (mean cosines, :func:`motion_cosines`), a competence measure finer than success.
"""

from dataclasses import dataclass
from pathlib import Path

from gato_ros.data import Episode, episode_task_name, TWIST_SIZE
from gato_ros.nodes.image_conversion import crop_and_resize
from gato_ros.policy import GatoPolicy, PolicyConfig
from gato_ros.sim.experts import ExpertConfig, make_expert
from gato_ros.sim.rollout import make_action_noise, run_episode
from gato_ros.sim.scene import ArmSim, SceneConfig, WRIST_IMAGE_KEY
import numpy as np
from tqdm import tqdm


@dataclass(frozen=True)
class DemoConfig:
    """What to record.

    Attributes:
        arm: simulated arm name.
        tasks: task names.
        episodes_per_task: successful episodes to keep per task.
        first_seed: seed of the first episode; seeds then count up (eval uses others).
        camera_size: (height, width) rendered by the simulated camera (px).
        image_size: (height, width) of the model's image observation (px).
        control_rate_hz: policy rate (Hz).
        action_noise: std of the noise added to the executed joint deltas, as a fraction of
            each joint's largest delta per period (0: none); the recorded actions are the
            expert's (see :func:`gato_ros.sim.rollout.make_action_noise`).
        action_noise_correlation_s: time constant of that noise (s); 0: white.
        policy_checkpoint: a checkpoint that drives the arm while the expert labels (DAgger);
            empty: the expert drives.
        action_decoding: the checkpoint policy's ``action_decoding`` (mode or mean).
        start_noise_rad: uniform noise on each arm joint of the home pose at every reset
            (``SceneConfig.home_noise_rad``; the default is the simulator node's). Wider
            starts make the joint angles say nothing about where the goal is, so a policy
            must find it in the image (measured: docs/training.md, "Session 4").
        action_space: ``'joint'`` deltas or the tool's ``'twist'``: what the recorded
            actions hold, and what a policy checkpoint's actions are read as.
        wrist_camera: also record the wrist camera's image (``image_wrist``, as the ROS
            graph's ``image_observer_wrist`` makes it). A policy checkpoint that reads one
            gets it whatever this says.
        push_turn: how the push expert turns its fingers across the push (``ExpertConfig``).
    """

    arm: str
    tasks: tuple
    episodes_per_task: int
    first_seed: int = 0
    camera_size: tuple = (128, 128)
    image_size: tuple = (64, 64)
    control_rate_hz: float = 10.0
    action_noise: float = 0.0
    action_noise_correlation_s: float = 0.0
    policy_checkpoint: str = ''
    action_decoding: str = 'mode'
    start_noise_rad: float = SceneConfig.home_noise_rad
    action_space: str = 'joint'
    wrist_camera: bool = False
    push_turn: str = ExpertConfig.push_turn

    def task_name(self, task):
        """Return the episode task name of a simulator task (see ``episode_task_name``)."""
        return episode_task_name(self.arm, task, self.action_space)


def to_episode(result, task_name, image_size):
    """Turn a recorded rollout into an Episode with model-sized images.

    Args:
        result: a recorded ``gato_ros.sim.rollout.EpisodeResult``.
        task_name: the episode's task name (``<arm>/<task>``).
        image_size: (height, width) of the image observation (px).

    Returns:
        Episode: joints (T, J) float32, image (T, H, W, 3) uint8, actions (T, A) float32.
    """
    observations = [policy_observation(o, image_size) for o in result.observations]
    return Episode(
        observations={key: np.stack([o[key] for o in observations])      # (T, ...)
                      for key in observations[0]},
        actions=np.stack(result.actions).astype(np.float32),               # (T, A)
        task=task_name, instruction=result.instruction,
        success=bool(result.success))


def policy_observation(observation, image_size, keys=None):
    """Return a simulator observation as the ROS graph hands it to the policy.

    Args:
        observation: ``ArmSim.observation()`` with the camera images.
        image_size: (height, width) of the model's image observations (px).
        keys: the observation keys to keep (a policy's task spec); None: all.

    Returns:
        dict: ``image`` (H, W, 3) uint8, ``image_wrist`` likewise when the simulator renders
        the wrist camera, and ``joints`` (J,) float32.
    """
    return {key: value if key == 'joints' else crop_and_resize(value, *image_size)
            for key, value in observation.items() if keys is None or key in keys}


def reads_wrist_image(spec):
    """Return whether a task spec observes the wrist camera.

    Args:
        spec: a :class:`gato_ros.data.EpisodeSpec`, or its dict form in ``gato_spec.json``.

    Returns:
        bool: whether :data:`gato_ros.sim.scene.WRIST_IMAGE_KEY` is one of its observations.
    """
    observations = spec['observations'] if isinstance(spec, dict) else spec.observations
    return WRIST_IMAGE_KEY in observations


def policy_reads_wrist_image(policy, task_names):
    """Return whether a loaded policy observes the wrist camera in any of some tasks.

    Args:
        policy: a :class:`gato_ros.policy.GatoPolicy`.
        task_names: its task names (``'<arm>/<task>'``, ...).

    Returns:
        bool: whether one of those tasks' specs has an ``image_wrist``.

    Raises:
        ValueError: for a task the policy cannot serve.
    """
    return any(reads_wrist_image(policy.task_spec(name)) for name in task_names)


# The parts of an action whose motions are compared, per action space: the twist's linear
# (m/s) and angular (rad/s) velocities apart, as one cosine over both would mix units and let
# the larger number decide; the gripper command is left out.
MOTION_PARTS = {'joint': {'joint': slice(0, -1)},
                'twist': {'linear': slice(0, 3), 'angular': slice(3, TWIST_SIZE)}}


def motion_cosines(policy_action, expert_action, action_space='joint'):
    """Return the cosine between two actions' motions, for each part of the action space.

    Args:
        policy_action: the policy's action (motion, then the gripper command).
        expert_action: the expert's action for the same state.
        action_space: ``'joint'`` (deltas) or ``'twist'`` (see :data:`MOTION_PARTS`).

    Returns:
        dict: part name -> cosine in [-1, 1]; 0 when either asks for no motion in that part.
    """
    policy_action = np.asarray(policy_action, np.float64)
    expert_action = np.asarray(expert_action, np.float64)
    cosines = {}
    for part, index in MOTION_PARTS[action_space].items():
        norms = np.linalg.norm(policy_action[index]) * np.linalg.norm(expert_action[index])
        cosines[part] = (float(policy_action[index] @ expert_action[index] / norms)
                         if norms > 0.0 else 0.0)
    return cosines


class ExpertLabelledRollout:
    """One DAgger episode for ``run_episode``: the policy drives, the expert labels.

    ``label`` is the recorded policy function and ``execute`` the perturbation that swaps in
    the policy's action; ``cosines`` says, step by step, how far the policy's motion is from
    the expert's in the states the policy reached (:func:`motion_cosines`), a measure that
    moves long before success rates do.

    Args:
        policy: the :class:`gato_ros.policy.GatoPolicy` that drives the arm.
        expert: the scripted expert whose actions are recorded.
        task_name: the policy's ``<arm>/<task>``.
        image_size: (height, width) of the model's image observation (px).
        action_space: what the actions hold, ``'joint'`` or ``'twist'``.
    """

    def __init__(self, policy, expert, task_name, image_size, action_space='joint'):
        self.policy, self.expert = policy, expert
        self.task_name, self.image_size = task_name, image_size
        self.action_space = action_space
        self.keys = policy.task_spec(task_name).observations
        self.cosines = []
        self._chosen = None

    def label(self, observation, sim):
        """Ask the policy for its action; return the expert's (what gets recorded).

        Args:
            observation: ``ArmSim.observation()`` with the camera image.
            sim: the ArmSim, read by the scripted expert.

        Returns:
            np.ndarray: the expert's action for this state.
        """
        if self._chosen is None:
            self.policy.reset(task=self.task_name, instruction=sim.instruction)
        self._chosen = self.policy.select_action(
            policy_observation(observation, self.image_size, self.keys))
        expert_action = self.expert(observation, sim)
        self.cosines.append(motion_cosines(self._chosen, expert_action, self.action_space))
        return expert_action

    def execute(self, action, sim):
        """Return the policy's action of this step (what the arm executes).

        Args:
            action: the recorded (expert's) action, not executed.
            sim: the ArmSim (unused: the policy already chose).

        Returns:
            np.ndarray: the policy's action.
        """
        return self._chosen


def _episode_functions(config, expert, policy, task, seed):
    """Return the (recorded, perturb, DAgger rollout or None) of one episode."""
    if policy is not None:
        rollout = ExpertLabelledRollout(policy, expert, config.task_name(task),
                                        config.image_size, config.action_space)
        return rollout.label, rollout.execute, rollout
    perturb = (make_action_noise(seed, config.action_noise, config.control_rate_hz,
                                 config.action_space, config.action_noise_correlation_s)
               if config.action_noise > 0.0 else None)
    return expert, perturb, None


def check_collection(count_name, count, start_noise_rad):
    """Check the settings every simulator collection shares.

    Args:
        count_name: the name of the per-task count, for the message.
        count: episodes or scenes per task.
        start_noise_rad: uniform noise on each arm joint of the home pose (rad).

    Raises:
        ValueError: on a count below 1 or a start noise outside [0, pi].
    """
    if count < 1:
        raise ValueError(f'{count_name} must be >= 1, got {count}')
    if not 0.0 <= start_noise_rad <= np.pi:
        raise ValueError(f'start_noise_rad must be in [0, pi], got {start_noise_rad}')


def collect_demonstrations(config, out_dir, progress=True):
    """Record expert-labelled episodes of each task and save them as ``.npz`` files.

    Args:
        config: a :class:`DemoConfig`.
        out_dir: destination folder (created).
        progress: show a progress bar.

    Returns:
        dict: task -> {'kept': int, 'failed': int} episodes; without a policy checkpoint
        only successful expert episodes are kept, with one every episode is, and
        ``'expert_cosines'`` is, per motion part, the mean over all steps of
        :func:`motion_cosines` between the policy's action and the expert's label.

    Raises:
        ValueError: on a non-positive episode count, a start noise outside [0, pi], or a
            checkpoint that cannot act in a task.
        FileNotFoundError: when the policy checkpoint does not exist.
    """
    check_collection('episodes_per_task', config.episodes_per_task, config.start_noise_rad)
    policy = (GatoPolicy.from_pretrained(config.policy_checkpoint,
                                         PolicyConfig(action_decoding=config.action_decoding))
              if config.policy_checkpoint else None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wrist = config.wrist_camera or (policy is not None and policy_reads_wrist_image(
        policy, [config.task_name(t) for t in config.tasks]))
    sim = ArmSim(config.arm, image_size=config.camera_size,
                 config=SceneConfig(home_noise_rad=config.start_noise_rad), wrist_image=wrist)
    counts = {}
    bar = tqdm(total=config.episodes_per_task * len(config.tasks), disable=not progress,
               desc=f'collect {config.arm}', unit='episode')
    for task in config.tasks:
        if policy is not None:
            policy.task_spec(config.task_name(task))
        expert = make_expert(task, ExpertConfig(control_rate_hz=config.control_rate_hz,
                                                action_space=config.action_space,
                                                push_turn=config.push_turn))
        kept, seed = 0, config.first_seed
        counts[task] = {'kept': 0, 'failed': 0}
        cosines = []
        while kept < config.episodes_per_task:
            recorded, perturb, rollout = _episode_functions(config, expert, policy, task, seed)
            result = run_episode(sim, recorded, task, seed, config.control_rate_hz,
                                 record=True, perturb=perturb,
                                 action_space=config.action_space)
            cosines += rollout.cosines if rollout else []
            if not result.success:
                counts[task]['failed'] += 1
            if result.success or policy is not None:
                episode = to_episode(result, config.task_name(task), config.image_size)
                episode.save(out_dir / f'{config.arm}-{task}-{seed:06d}.npz')
                kept += 1
                bar.update(1)
            seed += 1
        counts[task]['kept'] = kept
        if policy is not None:
            counts[task]['expert_cosines'] = {
                part: float(np.mean([step[part] for step in cosines]))
                for part in MOTION_PARTS[config.action_space]}
    bar.close()
    sim.close()
    return counts
