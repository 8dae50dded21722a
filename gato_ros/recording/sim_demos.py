"""Scripted-expert demonstrations from the simulator, written as episode files (ROS-free).

The fast path to a training set: the experts of ``gato_ros.sim.experts`` drive ``ArmSim``
directly (no ROS graph, ~0.1 s an episode) and every successful episode becomes one
``gato_ros.data.Episode`` ``.npz``. Observations are made the way the ROS graph makes them:
the camera renders at the simulator node's resolution and the image observer's own
``crop_and_resize`` brings it to the model's input size, so a policy trained here sees the
same pixels when it runs through ``mujoco_arm`` -> ``image_observer``.

Episode task names are ``<arm>/<task>`` (:func:`gato_ros.data.episode_task_name`).
"""

from dataclasses import dataclass
from pathlib import Path

from gato_ros.data import Episode, episode_task_name
from gato_ros.nodes.image_conversion import crop_and_resize
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
    """

    arm: str
    tasks: tuple
    episodes_per_task: int
    first_seed: int = 0
    camera_size: tuple = (128, 128)
    image_size: tuple = (64, 64)
    control_rate_hz: float = 10.0
    action_noise: float = 0.0


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
    images = [crop_and_resize(o['image'], *image_size) for o in result.observations]
    return Episode(
        observations={'image': np.stack(images),                           # (T, H, W, 3)
                      'joints': np.stack([o['joints'] for o in result.observations])},
        actions=np.stack(result.actions).astype(np.float32),               # (T, A)
        task=episode_task_name(arm, task), instruction=result.instruction,
        success=bool(result.success))


def collect_demonstrations(config, out_dir, progress=True):
    """Record successful expert episodes of each task and save them as ``.npz`` files.

    Args:
        config: a :class:`DemoConfig`.
        out_dir: destination folder (created).
        progress: show a progress bar.

    Returns:
        dict: task -> {'kept': int, 'failed': int} expert episodes.

    Raises:
        ValueError: on a non-positive episode count.
    """
    if config.episodes_per_task < 1:
        raise ValueError(f'episodes_per_task must be >= 1, got {config.episodes_per_task}')
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sim = ArmSim(config.arm, image_size=config.camera_size)
    counts = {}
    bar = tqdm(total=config.episodes_per_task * len(config.tasks), disable=not progress,
               desc=f'collect {config.arm}', unit='episode')
    for task in config.tasks:
        expert, kept, seed = make_expert(task), 0, config.first_seed
        counts[task] = {'kept': 0, 'failed': 0}
        while kept < config.episodes_per_task:
            perturb = (make_action_noise(seed, config.action_noise, config.control_rate_hz)
                       if config.action_noise > 0.0 else None)
            result = run_episode(sim, expert, task, seed, config.control_rate_hz, record=True,
                                 perturb=perturb)
            if result.success:
                episode = to_episode(result, config.arm, task, config.image_size)
                episode.save(out_dir / f'{config.arm}-{task}-{seed:06d}.npz')
                kept += 1
                bar.update(1)
            else:
                counts[task]['failed'] += 1
            seed += 1
        counts[task]['kept'] = kept
    bar.close()
    sim.close()
    return counts
