"""Scripted-expert demonstrations from the simulator, written as episode files (ROS-free).

The fast path to a training set: the experts of ``gato_ros.sim.experts`` drive ``ArmSim``
directly (no ROS graph, ~0.1 s an episode) and every successful episode becomes one
``gato_ros.data.Episode`` ``.npz``. Observations are made the way the ROS graph makes them:
the camera renders at the simulator node's resolution and the image observer's own
``crop_and_resize`` brings it to the model's input size, so a policy trained here sees the
same pixels when it runs through ``mujoco_arm`` -> ``image_observer``.

Episode task names are ``<arm>/<task>`` (:func:`gato_ros.data.episode_task_name`).

With a ``policy_checkpoint`` the collection is one round of DAgger (Ross et al. 2011): the
trained policy drives the arm and the expert labels every state it reaches, so the data shows
the expert's answer in the states the policy's own mistakes lead to. Those episodes are all
kept, successful or not (the labels are right either way; training takes prompts only from
successful episodes).
"""

from dataclasses import dataclass
from pathlib import Path

from gato_ros.data import Episode, episode_task_name
from gato_ros.nodes.image_conversion import crop_and_resize
from gato_ros.policy import GatoPolicy, PolicyConfig
from gato_ros.sim.experts import make_expert
from gato_ros.sim.rollout import make_action_noise, run_episode
from gato_ros.sim.scene import ArmSim
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
        policy_checkpoint: a checkpoint that drives the arm while the expert labels (DAgger);
            empty: the expert drives.
        action_decoding: the checkpoint policy's ``action_decoding`` (mode or mean).
    """

    arm: str
    tasks: tuple
    episodes_per_task: int
    first_seed: int = 0
    camera_size: tuple = (128, 128)
    image_size: tuple = (64, 64)
    control_rate_hz: float = 10.0
    action_noise: float = 0.0
    policy_checkpoint: str = ''
    action_decoding: str = 'mode'


def to_episode(result, arm, task, image_size):
    """Turn a recorded rollout into an Episode with model-sized images.

    Args:
        result: a recorded ``gato_ros.sim.rollout.EpisodeResult``.
        arm: simulated arm name.
        task: simulator task name.
        image_size: (height, width) of the image observation (px).

    Returns:
        Episode: joints (T, J) float32, image (T, H, W, 3) uint8, actions (T, A) float32.
    """
    observations = [policy_observation(o, image_size) for o in result.observations]
    return Episode(
        observations={key: np.stack([o[key] for o in observations])      # (T, ...)
                      for key in observations[0]},
        actions=np.stack(result.actions).astype(np.float32),               # (T, A)
        task=episode_task_name(arm, task), instruction=result.instruction,
        success=bool(result.success))


def policy_observation(observation, image_size):
    """Return a simulator observation as the ROS graph hands it to the policy.

    Args:
        observation: ``ArmSim.observation()`` with the camera image.
        image_size: (height, width) of the model's image observation (px).

    Returns:
        dict: ``image`` (H, W, 3) uint8 and ``joints`` (J,) float32.
    """
    return {'image': crop_and_resize(observation['image'], *image_size),
            'joints': observation['joints']}


def expert_labelled_rollout(policy, expert, task_name, image_size):
    """Return the two callables of a DAgger episode for ``run_episode``.

    Args:
        policy: the :class:`gato_ros.policy.GatoPolicy` that drives the arm.
        expert: the scripted expert whose actions are recorded.
        task_name: the policy's ``<arm>/<task>``.
        image_size: (height, width) of the model's image observation (px).

    Returns:
        tuple: ``(label, execute)``: ``label(observation, sim)`` asks the policy for its
        action and returns the expert's (recorded); ``execute(action, sim)`` returns the
        policy's (executed). One pair serves one episode.
    """
    chosen = []

    def label(observation, sim):
        if not chosen:
            policy.reset(task=task_name, instruction=sim.instruction)
        chosen.append(policy.select_action(policy_observation(observation, image_size)))
        return expert(observation, sim)

    def execute(action, sim):
        return chosen[-1]

    return label, execute


def _episode_functions(config, expert, policy, task, seed):
    """Return the (recorded, perturb) callables of one episode."""
    if policy is not None:
        return expert_labelled_rollout(policy, expert, episode_task_name(config.arm, task),
                                       config.image_size)
    perturb = (make_action_noise(seed, config.action_noise, config.control_rate_hz)
               if config.action_noise > 0.0 else None)
    return expert, perturb


def collect_demonstrations(config, out_dir, progress=True):
    """Record expert-labelled episodes of each task and save them as ``.npz`` files.

    Args:
        config: a :class:`DemoConfig`.
        out_dir: destination folder (created).
        progress: show a progress bar.

    Returns:
        dict: task -> {'kept': int, 'failed': int} episodes; without a policy checkpoint
        only successful expert episodes are kept, with one every episode is.

    Raises:
        ValueError: on a non-positive episode count, or a checkpoint that cannot act in a
            task.
        FileNotFoundError: when the policy checkpoint does not exist.
    """
    if config.episodes_per_task < 1:
        raise ValueError(f'episodes_per_task must be >= 1, got {config.episodes_per_task}')
    policy = (GatoPolicy.from_pretrained(config.policy_checkpoint,
                                         PolicyConfig(action_decoding=config.action_decoding))
              if config.policy_checkpoint else None)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sim = ArmSim(config.arm, image_size=config.camera_size)
    counts = {}
    bar = tqdm(total=config.episodes_per_task * len(config.tasks), disable=not progress,
               desc=f'collect {config.arm}', unit='episode')
    for task in config.tasks:
        if policy is not None:
            policy.task_spec(episode_task_name(config.arm, task))
        expert, kept, seed = make_expert(task), 0, config.first_seed
        counts[task] = {'kept': 0, 'failed': 0}
        while kept < config.episodes_per_task:
            recorded, perturb = _episode_functions(config, expert, policy, task, seed)
            result = run_episode(sim, recorded, task, seed, config.control_rate_hz,
                                 record=True, perturb=perturb)
            if not result.success:
                counts[task]['failed'] += 1
            if result.success or policy is not None:
                episode = to_episode(result, config.arm, task, config.image_size)
                episode.save(out_dir / f'{config.arm}-{task}-{seed:06d}.npz')
                kept += 1
                bar.update(1)
            seed += 1
        counts[task]['kept'] = kept
    bar.close()
    sim.close()
    return counts
