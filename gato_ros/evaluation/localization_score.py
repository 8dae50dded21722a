"""How well a checkpoint finds the instructed object: the stage gate of the vision curriculum.

A checkpoint trained on ``collect --localization`` scenes answers each scene with its guess of
the offset from the tool to the instructed object. Per task, this compares the guesses with
the labels on scenes it was not trained on: the correlation on each horizontal axis, and the
median horizontal error against the median spread of the labels (what always answering the
mean offset would score). ROS-free.

Turn scenes (``collect --localization-label turn``) are scored by :func:`score_turns`: the
correlation of the guessed turns with the labels, the median error and spread in rad, and how
often a guess turns the tool the labelled way where the label is a real turn.
"""

from collections import defaultdict
from dataclasses import dataclass

from gato_ros.recording.localization import LABEL_UNITS_PER_M
import numpy as np

AXES = ('x', 'y')
MIN_SCENES = 3
# Turns smaller than this are within the start pose's own yaw noise: their sign is not scored.
TURN_SIGN_MIN_RAD = 0.3


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

    def to_dict(self) -> dict:
        """Return the score as JSON-ready values."""
        return {'scenes': self.scenes, 'correlation': list(self.correlation),
                'median_error_m': self.median_error_m, 'median_spread_m': self.median_spread_m}


def _score(guesses, labels):
    """Return the LocalizationScore of (N, 3) guesses and labels in label units."""
    guesses, labels = guesses[:, :2] / LABEL_UNITS_PER_M, labels[:, :2] / LABEL_UNITS_PER_M
    correlation = tuple(float(np.corrcoef(guesses[:, axis], labels[:, axis])[0, 1])
                        for axis in range(len(AXES)))
    spread = np.linalg.norm(labels - labels.mean(axis=0), axis=1)
    return LocalizationScore(len(labels), correlation,
                             float(np.median(np.linalg.norm(guesses - labels, axis=1))),
                             float(np.median(spread)))


@dataclass(frozen=True)
class TurnScore:
    """One task's turn-reading quality.

    Attributes:
        scenes: scenes scored.
        correlation: correlation of the guessed turns with the labels.
        median_error_rad: median absolute difference between guess and label (rad).
        median_spread_rad: median absolute distance of labels from their mean (rad).
        sign_agreement: share of scenes labelled with a turn above
            :data:`TURN_SIGN_MIN_RAD` whose guess turns the same way (nan when none is).
    """

    scenes: int
    correlation: float
    median_error_rad: float
    median_spread_rad: float
    sign_agreement: float

    def summary(self) -> str:
        """Return a one-line description of the score."""
        return (f'correlation {self.correlation:.2f}, median error {self.median_error_rad:.2f}'
                f' rad (label spread {self.median_spread_rad:.2f} rad), same sign '
                f'{self.sign_agreement:.2f}, {self.scenes} scenes')

    def to_dict(self) -> dict:
        """Return the score as JSON-ready values."""
        return {'scenes': self.scenes, 'correlation': self.correlation,
                'median_error_rad': self.median_error_rad,
                'median_spread_rad': self.median_spread_rad,
                'sign_agreement': self.sign_agreement}


def _turn_score(guesses, labels):
    """Return the TurnScore of (N, 1) guesses and labels in rad."""
    guesses, labels = guesses[:, 0], labels[:, 0]
    turns = np.abs(labels) > TURN_SIGN_MIN_RAD
    agreement = (float(np.mean(np.sign(guesses[turns]) == np.sign(labels[turns])))
                 if turns.any() else float('nan'))
    return TurnScore(len(labels), float(np.corrcoef(guesses, labels)[0, 1]),
                     float(np.median(np.abs(guesses - labels))),
                     float(np.median(np.abs(labels - labels.mean()))), agreement)


def _ask(policy, scenes, width, what):
    """Return task -> (N, width) guesses and labels, checking each scene's shape and count."""
    guesses, labels = defaultdict(list), defaultdict(list)
    for scene in scenes:
        if len(scene) != 1 or scene.actions.shape[1:] != (width,):
            raise ValueError(f'{scene.task}: a {what} scene is one timestep labelled '
                             f'with {width} values, got actions of shape {scene.actions.shape}')
        policy.reset(task=scene.task, instruction=scene.instruction)
        guesses[scene.task].append(policy.select_action(scene.observation(0)))
        labels[scene.task].append(scene.actions[0])
    few = sorted(task for task, rows in labels.items() if len(rows) < MIN_SCENES)
    if few or not labels:
        raise ValueError(f'scoring needs at least {MIN_SCENES} scenes per task; too few for '
                         f'{few or "every task"}')
    return {task: (np.array(guesses[task]), np.array(labels[task])) for task in sorted(labels)}


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
    return {task: _score(*answers)
            for task, answers in _ask(policy, scenes, 3, 'localization').items()}


def score_turns(policy, scenes):
    """Ask the policy about every turn scene and score its guesses per task.

    Args:
        policy: a ``GatoPolicy`` trained on turn scenes (``select_action`` returns the
            guessed turn in rad).
        scenes: one-timestep ``Episode``s from ``collect --localization-label turn``.

    Returns:
        dict: task -> :class:`TurnScore`, in task order.

    Raises:
        ValueError: when a task has fewer than 3 scenes, an episode is not one timestep, or
            its label is not 1 value.
    """
    return {task: _turn_score(*answers)
            for task, answers in _ask(policy, scenes, 1, 'turn').items()}
