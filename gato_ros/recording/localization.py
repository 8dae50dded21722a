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

A second label, ``turn`` (:func:`expert_turn`), asks instead how far the task's scripted
expert turns the tool about the vertical before it acts (rad; tasks ``<arm>/turn/<task>``,
instructions behind :data:`TURN_INSTRUCTION_PREFIX`). Why (docs/training.md, "Session 24"
and "Session 25"): the push expert turns the hand across the block-to-zone line, and a policy
that found the block but not that line did not turn, and lost half its pushes.

With ``expert_steps`` a scene is taken part-way through the task: the twist expert first acts
a number of steps drawn from the scene's seed, and the turn label is the turn it still has to
make. Why (docs/training.md, "Session 26"): a policy has to track the remaining turn as the
hand turns, and start scenes alone show it only the first.
"""

from dataclasses import dataclass
from pathlib import Path

from gato_ros.data import Episode, episode_task_name
from gato_ros.recording.sim_demos import check_collection, policy_observation
from gato_ros.sim.experts import ExpertConfig, make_expert, rotation_yaw
from gato_ros.sim.rollout import run_episode
from gato_ros.sim.scene import ArmSim, SceneConfig
import numpy as np
from tqdm import tqdm

LOCATE_KIND = 'locate'
LOCATE_INSTRUCTION_PREFIX = 'locate: '
TURN_KIND = 'turn'
TURN_INSTRUCTION_PREFIX = 'turn: '
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
        label: ``'offset'`` (where the instructed object is, :func:`object_offset`) or
            ``'turn'`` (how far the expert turns the tool, :func:`expert_turn`).
        expert_steps: take each scene after the task's twist expert has acted a number of
            control steps drawn uniformly from [0, expert_steps] by the scene's seed (0: start
            scenes).
        push_turn: how the push expert turns its fingers across the push (``ExpertConfig``).
    """

    arm: str
    tasks: tuple
    scenes_per_task: int
    first_seed: int = 0
    camera_size: tuple = (128, 128)
    image_size: tuple = (64, 64)
    start_noise_rad: float = SceneConfig.home_noise_rad
    label: str = 'offset'
    expert_steps: int = 0
    push_turn: str = ExpertConfig.push_turn

    def __post_init__(self):
        if self.label not in LABELS:
            raise ValueError(f'label must be one of {sorted(LABELS)}, got {self.label!r}')
        if self.expert_steps < 0:
            raise ValueError(f'expert_steps must be >= 0, got {self.expert_steps}')


def localization_task_name(arm, task, label='offset'):
    """Return the task name of an arm's localization scenes of a simulator task.

    Args:
        arm: simulated arm name.
        task: simulator task name.
        label: a key of :data:`LABELS`.

    Returns:
        str: ``'<arm>/locate/<task>'``, or ``'<arm>/turn/<task>'`` for the turn label.
    """
    return episode_task_name(arm, f'{LABELS[label][0]}/{task}')


def object_offset(sim):
    """Return where the current task's instructed object is, relative to the tool.

    Args:
        sim: an ``ArmSim`` after ``reset``.

    Returns:
        np.ndarray: (3,) position of the task's ``approach_body`` minus the tool centre
        point's, in metres, in the world frame.
    """
    return sim.body_position(sim.task.approach_body) - sim.tcp_position()


def expert_turn(sim, expert):
    """Return how far the current task's scripted expert still turns the tool about world z.

    Args:
        sim: an ``ArmSim`` after ``reset``.
        expert: the task's expert; if it has not yet acted in this episode it turns to its
            first target yaw.

    Returns:
        np.ndarray: (1,) the yaw the expert is turning to minus the tool's yaw, wrapped into
        (-pi, pi], in rad: the rotation the expert's controller makes, the short way round.
    """
    turn = expert.current_yaw(sim) - rotation_yaw(sim.tcp_rotation())
    return np.array([np.pi - np.mod(np.pi - turn, 2.0 * np.pi)])


# label -> (kind in the task name, instruction prefix, label function of the sim and the
# expert that acted in it).
LABELS = {
    'offset': (LOCATE_KIND, LOCATE_INSTRUCTION_PREFIX,
               lambda sim, expert: object_offset(sim) * LABEL_UNITS_PER_M),
    'turn': (TURN_KIND, TURN_INSTRUCTION_PREFIX, expert_turn),
}


def expert_steps_of(seed, expert_steps):
    """Return how many control steps the expert acts before a scene is taken.

    Args:
        seed: the scene's seed.
        expert_steps: the most steps (``LocalizationConfig.expert_steps``).

    Returns:
        int: drawn uniformly from [0, expert_steps], the same for the same seed.
    """
    return int(np.random.default_rng(seed).integers(expert_steps + 1))


def scene_episode(sim, task, seed, config):
    """Reset the simulator to one scene (then let the expert act) and return a one-step episode.

    Args:
        sim: an ``ArmSim`` of ``config.arm`` rendering at ``config.camera_size``.
        task: simulator task name.
        seed: the scene's randomization seed.
        config: a :class:`LocalizationConfig` (its arm, image size, label, expert steps).

    Returns:
        Episode: image (1, H, W, 3) uint8, joints (1, J) float32, action (1, 3) float32 (the
        offset) or (1, 1) (the turn).
    """
    expert = make_expert(task, ExpertConfig(action_space='twist', push_turn=config.push_turn))
    steps = expert_steps_of(seed, config.expert_steps)
    if steps:
        run_episode(sim, expert, task, seed, max_steps=steps, include_images=False,
                    action_space='twist')
    else:
        sim.reset(task, seed)
    observation = policy_observation(sim.observation(), config.image_size)
    _, prefix, label_of = LABELS[config.label]
    label = np.asarray(label_of(sim, expert), np.float32)
    return Episode({key: value[None] for key, value in observation.items()},  # (1, ...)
                   label[None], localization_task_name(config.arm, task, config.label),
                   instruction=prefix + sim.instruction, success=True)


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
                kind = LABELS[config.label][0]
                episode.save(out_dir / f'{config.arm}-{kind}_{task}-{seed:06d}.npz')
                bar.update(1)
    bar.close()
    return {task: len(seeds) for task in config.tasks}
