"""How well a checkpoint finds the instructed object: the stage gate of the vision curriculum.

A checkpoint trained on ``collect --localization`` scenes answers each scene with its guess of
the offset from the tool to the instructed object. Per task, this compares the guesses with
the labels on scenes it was not trained on: the correlation on each horizontal axis, and the
median horizontal error against the median spread of the labels (what always answering the
mean offset would score). ROS-free.
"""

from collections import defaultdict
from dataclasses import dataclass

from gato_ros.recording.localization import LABEL_UNITS_PER_M
import numpy as np

AXES = ('x', 'y')
MIN_SCENES = 3


@dataclass(frozen=True)
class LocalizationScore:
    """One task's localization quality.

    Attributes:
        scenes: scenes scored.
        correlation: per horizontal axis, the correlation of guesses with labels.
        median_error_m: median horizontal distance between guess and label (m).
        median_spread_m: median horizontal distance of labels from their mean (m).
    """

    scenes: int
    correlation: tuple
    median_error_m: float
    median_spread_m: float

    def summary(self) -> str:
        """Return a one-line description of the score."""
        correlations = ' '.join(f'{axis} {value:.2f}' for axis, value in
                                zip(AXES, self.correlation))
        return (f'correlation {correlations}, median error {self.median_error_m:.3f} m '
                f'(label spread {self.median_spread_m:.3f} m), {self.scenes} scenes')


def _score(guesses, labels):
    """Return the LocalizationScore of (N, 3) guesses and labels in label units."""
    guesses, labels = guesses[:, :2] / LABEL_UNITS_PER_M, labels[:, :2] / LABEL_UNITS_PER_M
    correlation = tuple(float(np.corrcoef(guesses[:, axis], labels[:, axis])[0, 1])
                        for axis in range(len(AXES)))
    spread = np.linalg.norm(labels - labels.mean(axis=0), axis=1)
    return LocalizationScore(len(labels), correlation,
                             float(np.median(np.linalg.norm(guesses - labels, axis=1))),
                             float(np.median(spread)))


def score_localization(policy, scenes):
    """Ask the policy about every scene and score its guesses per task.

    Args:
        policy: a ``GatoPolicy`` trained on localization scenes (``select_action`` returns
            the guessed offset in label units).
        scenes: one-timestep ``Episode``s from ``collect --localization``.

    Returns:
        dict: task -> :class:`LocalizationScore`, in task order.

    Raises:
        ValueError: when a task has fewer than 3 scenes, an episode is not one timestep, or
            its label is not 3 values.
    """
    guesses, labels = defaultdict(list), defaultdict(list)
    for scene in scenes:
        if len(scene) != 1 or scene.actions.shape[1:] != (3,):
            raise ValueError(f'{scene.task}: a localization scene is one timestep labelled '
                             f'with 3 values, got actions of shape {scene.actions.shape}')
        policy.reset(task=scene.task, instruction=scene.instruction)
        guesses[scene.task].append(policy.select_action(scene.observation(0)))
        labels[scene.task].append(scene.actions[0])
    few = sorted(task for task, rows in labels.items() if len(rows) < MIN_SCENES)
    if few or not labels:
        raise ValueError(f'scoring needs at least {MIN_SCENES} scenes per task; too few for '
                         f'{few or "every task"}')
    return {task: _score(np.array(guesses[task]), np.array(labels[task]))
            for task in sorted(labels)}
