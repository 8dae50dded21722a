"""Tests of the train command's options and data selection (training: test/test_training.py)."""

import argparse

from gato_ros.commands.train import add_arguments, exclude_tasks, train_config
from gato_ros.data import Episode
from gato_ros.training import train, TrainConfig
import numpy as np
import pytest


def _episode(task):
    return Episode({'joints': np.zeros((2, 3), np.float32)}, np.zeros((2, 4), np.float32), task)


def test_held_out_tasks_are_dropped_by_full_name_or_on_every_arm():
    """'press_button' drops it and its scenes on every arm; a full name only on that arm."""
    episodes = [_episode(t) for t in ('panda/press_button', 'ur5e/press_button',
                                      'panda/locate/press_button', 'panda/reach_target',
                                      'ur5e/reach_target')]
    kept = exclude_tasks(episodes, ['press_button'])
    assert [e.task for e in kept] == ['panda/reach_target', 'ur5e/reach_target']
    kept = exclude_tasks(episodes, ['ur5e/reach_target'])
    assert [e.task for e in kept] == ['panda/press_button', 'ur5e/press_button',
                                      'panda/locate/press_button', 'panda/reach_target']
    assert exclude_tasks(episodes, []) == episodes


def test_a_name_matching_no_episode_is_refused():
    """A typo must not silently train on every task."""
    with pytest.raises(ValueError, match=r"\['press_buton'\] match no episode"):
        exclude_tasks([_episode('panda/press_button')], ['press_buton'])


def _parse(*options):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(['--data', 'data/panda', '--out', 'runs/x', *options])


def test_options_become_the_training_settings():
    """Prompting, windows and noise reach TrainConfig; the defaults stay Gato's."""
    config = train_config(_parse('--prompt-probability', '0', '--window-timesteps', '1',
                                 '--action-input-noise', '25', '--steps', '7',
                                 '--ema-decay', '0.999'))
    assert config.prompt_probability == 0.0
    assert config.model_overrides == {'max_window_timesteps': 1}
    assert config.action_input_noise_bins == 25
    assert config.max_steps == 7 and config.ema_decay == 0.999
    assert train_config(_parse()).prompt_probability == 0.25
    assert train_config(_parse()).ema_decay == 0.0


def test_a_prompt_probability_outside_zero_one_is_refused():
    """A share above 1 is a typo, not 'always'."""
    with pytest.raises(ValueError, match='prompt_probability must be in'):
        train_config(_parse('--prompt-probability', '2'))


def test_initialization_options_choose_what_the_checkpoint_gives():
    """--init-from keeps the base's statistics; --init-weights-from only its weights."""
    fine_tune = train_config(_parse('--init-from', 'runs/base'))
    weights = train_config(_parse('--init-weights-from', 'runs/base'))
    assert (fine_tune.init_checkpoint, fine_tune.init_weights_only) == ('runs/base', False)
    assert (weights.init_checkpoint, weights.init_weights_only) == ('runs/base', True)
    assert train_config(_parse()).init_checkpoint is None
    with pytest.raises(SystemExit):
        _parse('--init-from', 'a', '--init-weights-from', 'b')


def _saved_run(directory, **options):
    """Train one step into directory with the given TrainConfig options."""
    episodes = [_episode('panda/reach_target') for _ in range(4)]
    train(episodes, TrainConfig(output_dir=str(directory), preset='gato-test', max_steps=1,
                                model_overrides={'context_length': 64}, progress=False,
                                **options))


def test_a_resumed_run_keeps_the_saved_options_not_given(tmp_path):
    """--resume alone takes the saved data options, schedule and precision; given ones win."""
    _saved_run(tmp_path, prompt_probability=0.0, batch_size=2, seed=3,
               action_input_noise_bins=5.0, normalize_by='task', learning_rate=5e-4,
               warmup_steps=7, mixed_precision='bf16', ema_decay=0.9)
    resumed = train_config(_parse('--out', str(tmp_path), '--resume', '--steps', '9'))
    assert (resumed.prompt_probability, resumed.batch_size, resumed.seed) == (0.0, 2, 3)
    assert (resumed.action_input_noise_bins, resumed.normalize_by) == (5.0, 'task')
    assert (resumed.learning_rate, resumed.warmup_steps) == (5e-4, 7)
    assert resumed.mixed_precision == 'bf16' and resumed.ema_decay == 0.9
    assert resumed.max_steps == 9 and resumed.init_checkpoint is None
    given = train_config(_parse('--out', str(tmp_path), '--resume', '--seed', '4'))
    assert (given.seed, given.prompt_probability) == (4, 0.0)
    fresh = train_config(_parse('--out', str(tmp_path)))
    assert (fresh.prompt_probability, fresh.batch_size, fresh.seed) == (0.25, 8, 0)
