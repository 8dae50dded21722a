"""Tests of gato_ros.evaluation.localization_score: guesses against labels, per task."""

from gato_ros.data import Episode
from gato_ros.evaluation.localization_score import score_localization, score_turns
import numpy as np
import pytest


class ReadingPolicy:
    """Guesses label x gain + noise: the label is hidden in the joints it is given."""

    def __init__(self, gain, noise_std=0.0, seed=0):
        self.gain, self.noise_std = gain, noise_std
        self.rng = np.random.default_rng(seed)
        self.resets = []

    def reset(self, task, instruction):
        """Note the scene's task and instruction."""
        self.resets.append((task, instruction))

    def select_action(self, observation):
        """Return the scaled label with noise."""
        label = observation['joints']
        return self.gain * label + self.rng.normal(0.0, self.noise_std, label.shape)


def _scenes(task, count, seed=0, width=3):
    labels = np.random.default_rng(seed).uniform(-1.0, 1.0, (count, width)).astype(np.float32)
    return [Episode({'joints': label[None]}, label[None], task, instruction=f'find {task}')
            for label in labels]


def test_a_policy_that_reads_the_label_scores_perfectly_and_one_that_guesses_does_not():
    """Perfect guesses: correlation 1, error 0; guesses without the label: neither."""
    scenes = _scenes('panda/locate/a', 40) + _scenes('panda/locate/b', 30, seed=1)
    perfect = score_localization(ReadingPolicy(1.0), scenes)
    assert list(perfect) == ['panda/locate/a', 'panda/locate/b']
    assert perfect['panda/locate/b'].scenes == 30
    for score in perfect.values():
        assert score.correlation == pytest.approx((1.0, 1.0))
        assert score.median_error_m == pytest.approx(0.0, abs=1e-6)
        assert score.median_spread_m > 0.05  # labels of +-1 unit are +-0.2 m
    guessing = score_localization(ReadingPolicy(0.0, noise_std=0.3), scenes)['panda/locate/a']
    assert max(abs(value) for value in guessing.correlation) < 0.4
    assert guessing.median_error_m > 0.5 * perfect['panda/locate/a'].median_spread_m
    assert 'correlation x 1.00 y 1.00' in perfect['panda/locate/a'].summary()


def test_the_policy_is_told_each_scenes_task_and_instruction():
    """Instructions name the object, so every scene's reaches the policy."""
    policy = ReadingPolicy(1.0)
    score_localization(policy, _scenes('panda/locate/a', 3))
    assert policy.resets == [('panda/locate/a', 'find panda/locate/a')] * 3


def test_too_few_scenes_or_scenes_that_are_not_localization_are_refused():
    """Three scenes per task at least; one timestep and three label values each."""
    with pytest.raises(ValueError, match=r"too few for \['panda/locate/a'\]"):
        score_localization(ReadingPolicy(1.0), _scenes('panda/locate/a', 2))
    with pytest.raises(ValueError, match='too few for every task'):
        score_localization(ReadingPolicy(1.0), [])
    demo = Episode({'joints': np.zeros((2, 3), np.float32)}, np.zeros((2, 8), np.float32),
                   'panda/lift_block')
    with pytest.raises(ValueError, match='one timestep labelled with 3 values'):
        score_localization(ReadingPolicy(1.0), [demo])


def test_turns_are_scored_by_correlation_error_and_sign():
    """A policy reading the turn scores 1 and same sign; a mirrored one turns the wrong way."""
    scenes = _scenes('panda/turn/push_block', 40, width=1)
    perfect = score_turns(ReadingPolicy(1.0), scenes)['panda/turn/push_block']
    assert perfect.correlation == pytest.approx(1.0)
    assert perfect.median_error_rad == pytest.approx(0.0, abs=1e-6)
    assert perfect.sign_agreement == 1.0 and perfect.median_spread_rad > 0.2
    mirrored = score_turns(ReadingPolicy(-1.0), scenes)['panda/turn/push_block']
    assert mirrored.correlation == pytest.approx(-1.0) and mirrored.sign_agreement == 0.0
    assert 'same sign 1.00, 40 scenes' in perfect.summary()
    assert perfect.to_dict()['sign_agreement'] == 1.0
    with pytest.raises(ValueError, match='a turn scene is one timestep labelled with 1 values'):
        score_turns(ReadingPolicy(1.0), _scenes('panda/locate/a', 3))
