"""The lab workflow end to end: record through ROS -> convert -> train -> evaluate through ROS."""

from gato_ros.commands.eval import load_baselines
from gato_ros.evaluation.runner import EvalConfig, evaluate
from gato_ros.recording.dataset import convert_bags, load_dataset
from gato_ros.recording.recorder import (
    arm_conversion_config, record_demonstrations, RecordConfig)
from gato_ros.training import train, TrainConfig
import numpy as np
import pytest

pytestmark = [pytest.mark.dds, pytest.mark.sim, pytest.mark.slow]
SEEDS = 2
# Each scene is recorded this many times: the timing of a ROS loop varies from run to run, so
# one demonstration per scene is too narrow for the evaluation's own closed loop.
TAKES = 3
# Each scene is evaluated in three graph starts: a rate over six episodes, passing at 3 of 6
# (random 0.1 + 0.4). Four episodes passing at 3 of 4 failed about once in ten runs, which
# an episode success of ~85% explains; at that rate 3 of 6 fails once in ~170 runs. (Session
# 26: 18 of 18 episodes in three runs beside other jobs.)
EVAL_ROUNDS = 3
MARGIN = 0.4


def test_a_policy_trained_on_recorded_bags_beats_random_on_their_scenes(tmp_path):
    """A tiny model learns two recorded reach_target scenes and solves them through ROS.

    Trained with action-input noise and decoded by the expected value: without them one
    episode in three failed (see docs/training.md).

    The easy task: the evaluation replays the recorded seeds, so the model has to tell the
    two scenes apart from the image and reproduce the demonstrations, not generalize. The
    margin is taken over the shipped random baseline (config/baselines.json).
    """
    recorded = [episode for take in range(TAKES) for episode in record_demonstrations(
        RecordConfig(arm='panda', tasks=('reach_target',), episodes=SEEDS,
                     out_dir=str(tmp_path / f'bags{take}'), log_dir=str(tmp_path / 'logs')),
        progress=False)]
    assert [e.success for e in recorded] == [True] * SEEDS * TAKES
    convert_bags([e.path for e in recorded], arm_conversion_config('panda'), tmp_path / 'data')
    episodes = load_dataset(tmp_path / 'data')
    assert [e.task for e in episodes] == ['panda/reach_target'] * SEEDS * TAKES
    checkpoint = train(episodes, TrainConfig(
        output_dir=str(tmp_path / 'checkpoint'), preset='gato-test', max_steps=400,
        batch_size=4, learning_rate=3e-3, warmup_steps=20, val_fraction=0.0, eval_every=0,
        save_every=0, num_threads=1, progress=False, action_input_noise_bins=25))
    rates = []
    for round_index in range(EVAL_ROUNDS):
        report, _ = evaluate(EvalConfig(
            arm='panda', tasks=('reach_target',), episodes=SEEDS, first_seed=0,
            checkpoint_path=str(checkpoint), out_dir=str(tmp_path / f'eval{round_index}'),
            baselines=load_baselines(None), action_decoding='mean'),
            progress=lambda line: None)
        rates.append(report['tasks']['reach_target']['success_rate'])
    random_rate = report['tasks']['reach_target']['random_success_rate']
    assert random_rate is not None
    assert np.mean(rates) >= random_rate + MARGIN, rates
