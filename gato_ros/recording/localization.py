"""Object-localization scenes from the simulator: vision pretraining before behaviour cloning.

Why (measured in docs/training.md, "Session 6" and "Vision curriculum"): a policy cloned from
demonstrations from scratch learns to read its own joint angles, and a model asked where a
3-pixel block is finds it only while nothing larger changes in the image. Trained first on
scenes where the arm's start pose barely varies (``start_noise_rad`` 0.05), then on scenes
where it varies (0.25), it finds the block in every image; behaviour cloning from those
weights (``gato-ros train --init-weights-from``) gave the first policy that heads for the goal.

Each scene is a one-timestep ``Episode``: what the policy observes when an episode of a task
starts (the image as the ROS graph makes it, the joints, the instruction), labelled with where
the instructed object (the task's ``approach_body``: the goal disc, the block, the top block,
the goal button) is relative to the tool centre point, in metres times
:data:`LABEL_UNITS_PER_M`, stored as the episode's action. Task names are
``<arm>/locate/<task>``: the labels get their own statistics (``gato_ros.data.task_family``),
never mixed with the arm's joint actions. The instruction is the task's behind
:data:`LOCATE_INSTRUCTION_PREFIX`, so that a model trained on scenes and demonstrations
together (co-training) can tell which answer is asked of it. ROS-free.
"""

from dataclasses import dataclass
from pathlib import Path

from gato_ros.data import Episode, episode_task_name
from gato_ros.recording.sim_demos import check_collection, policy_observation
from gato_ros.sim.scene import ArmSim, SceneConfig
import numpy as np
from tqdm import tqdm

LOCATE_KIND = 'locate'
LOCATE_INSTRUCTION_PREFIX = 'locate: '
# Label units per metre: 5 brings the table's offsets to about [-1, 1], the range the action
# tokens resolve.
LABEL_UNITS_PER_M = 5.0


@dataclass(frozen=True)
class LocalizationConfig:
    """What to record.

    Attributes:
        arm: simulated arm name.
        tasks: task names.
        scenes_per_task: scenes (seeds) per task.
        first_seed: seed of the first scene; seeds then count up.
        camera_size: (height, width) rendered by the simulated camera (px).
        image_size: (height, width) of the model's image observation (px).
        start_noise_rad: uniform noise on each arm joint of the home pose.
    """

    arm: str
    tasks: tuple
    scenes_per_task: int
    first_seed: int = 0
    camera_size: tuple = (128, 128)
    image_size: tuple = (64, 64)
    start_noise_rad: float = SceneConfig.home_noise_rad


def localization_task_name(arm, task):
    """Return the task name of an arm's localization scenes of a simulator task.

    Args:
        arm: simulated arm name.
        task: simulator task name.

    Returns:
        str: ``'<arm>/locate/<task>'``.
    """
    return episode_task_name(arm, f'{LOCATE_KIND}/{task}')


def object_offset(sim):
    """Return where the current task's instructed object is, relative to the tool.

    Args:
        sim: an ``ArmSim`` after ``reset``.

    Returns:
        np.ndarray: (3,) position of the task's ``approach_body`` minus the tool centre
        point's, in metres, in the world frame.
    """
    return sim.body_position(sim.task.approach_body) - sim.tcp_position()


def scene_episode(sim, task, seed, config):
    """Reset the simulator to one scene and return it as a one-timestep episode.

    Args:
        sim: an ``ArmSim`` of ``config.arm`` rendering at ``config.camera_size``.
        task: simulator task name.
        seed: the scene's randomization seed.
        config: a :class:`LocalizationConfig` (its arm and image size).

    Returns:
        Episode: image (1, H, W, 3) uint8, joints (1, J) float32, action (1, 3) float32.
    """
    sim.reset(task, seed)
    observation = policy_observation(sim.observation(), config.image_size)
    label = (object_offset(sim) * LABEL_UNITS_PER_M).astype(np.float32)
    return Episode({key: value[None] for key, value in observation.items()},  # (1, ...)
                   label[None], localization_task_name(config.arm, task),       # (1, 3)
                   instruction=LOCATE_INSTRUCTION_PREFIX + sim.instruction, success=True)


def collect_localization_scenes(config, out_dir, progress=True):
    """Record each task's scenes and save them as ``.npz`` episode files.

    Args:
        config: a :class:`LocalizationConfig`.
        out_dir: destination folder (created).
        progress: show a progress bar.

    Returns:
        dict: task -> scenes written.

    Raises:
        ValueError: on a non-positive scene count or a start noise outside [0, pi].
    """
    check_collection('scenes_per_task', config.scenes_per_task, config.start_noise_rad)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    seeds = range(config.first_seed, config.first_seed + config.scenes_per_task)
    bar = tqdm(total=len(seeds) * len(config.tasks), disable=not progress,
               desc=f'locate {config.arm}', unit='scene')
    with ArmSim(config.arm, image_size=config.camera_size,
                config=SceneConfig(home_noise_rad=config.start_noise_rad)) as sim:
        for task in config.tasks:
            for seed in seeds:
                episode = scene_episode(sim, task, seed, config)
                episode.save(out_dir / f'{config.arm}-{LOCATE_KIND}_{task}-{seed:06d}.npz')
                bar.update(1)
    bar.close()
    return {task: len(seeds) for task in config.tasks}
