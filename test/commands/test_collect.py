"""``gato-ros collect``: expert demonstrations, then a DAgger round that reports agreement."""

import re

from gato_ros.cli import main
from gato_ros.data import Episode
import numpy as np
import pytest

pytestmark = [pytest.mark.sim, pytest.mark.usefixtures('one_torch_thread')]


def test_a_twist_dagger_round_reports_linear_and_angular_agreement(tmp_path, capsys):
    """The round's line gives the twist's linear and angular motion cosines apart."""
    demos = tmp_path / 'demos'
    assert main(['collect', '--arm', 'panda', '--tasks', 'reach_target', '--episodes', '1',
                 '--action-space', 'twist', '--out', str(demos)]) == 0
    assert ('panda/twist/reach_target: 1 episodes kept, 0 expert failures skipped'
            in capsys.readouterr().out)
    checkpoint = tmp_path / 'twist'
    assert main(['train', '--data', str(demos), '--preset', 'gato-test', '--steps', '1',
                 '--batch-size', '2', '--window-timesteps', '1', '--out', str(checkpoint)]) == 0
    capsys.readouterr()
    assert main(['collect', '--arm', 'panda', '--tasks', 'reach_target', '--episodes', '1',
                 '--action-space', 'twist', '--policy-checkpoint', str(checkpoint),
                 '--first-seed', '100', '--out', str(tmp_path / 'dagger')]) == 0
    line = capsys.readouterr().out.strip()
    assert re.fullmatch(r'panda/twist/reach_target: 1 episodes kept, [01] policy failures kept, '
                        r'policy/expert motion cosine linear -?[01]\.\d\d, angular -?[01]\.\d\d',
                        line), line


def test_correlated_noise_carries_the_arm_further_off_than_white_noise(tmp_path, capsys):
    """--action-noise-correlation-s: same seeds, the expert's actions kept, larger detours."""
    paths = {}
    for name, extra in (('white', []), ('drift', ['--action-noise-correlation-s', '1.0'])):
        out = tmp_path / name
        assert main(['collect', '--arm', 'ur5e', '--tasks', 'push_block', '--episodes', '3',
                     '--first-seed', '900000', '--start-noise', '0.25', '--action-noise',
                     '0.2', '--action-space', 'twist', '--out', str(out)] + extra) == 0
        assert '3 episodes kept, 0 expert failures skipped' in capsys.readouterr().out
        paths[name] = [Episode.load(path) for path in sorted(out.glob('*.npz'))]
    steps = {name: sum(len(e) for e in episodes) for name, episodes in paths.items()}
    assert steps['drift'] > steps['white']
    for white, drift in zip(paths['white'], paths['drift']):
        assert white.instruction == drift.instruction  # the same scenes
        assert np.abs(drift.actions[:, :3]).max() <= 0.3 + 1e-6  # the expert's own commands
    # A time constant without noise would silently record clean demonstrations.
    assert main(['collect', '--arm', 'ur5e', '--tasks', 'push_block', '--episodes', '1',
                 '--action-noise-correlation-s', '1.0', '--out', str(tmp_path / 'bad')]) == 2
    assert 'give --action-noise too' in capsys.readouterr().out
    assert not (tmp_path / 'bad').exists()


def test_push_turn_left_records_the_push_expert_turning_counterclockwise(tmp_path, capsys):
    """--push-turn left: where the folded yaw turns the hand clockwise first, it turns left."""
    first_yaw_rates = {}
    for turn in ('folded', 'left'):
        out = tmp_path / turn
        assert main(['collect', '--arm', 'ur5e', '--tasks', 'push_block', '--episodes', '1',
                     '--first-seed', '3', '--action-space', 'twist', '--push-turn', turn,
                     '--out', str(out)]) == 0
        first_yaw_rates[turn] = Episode.load(next(out.glob('*.npz'))).actions[0, 5]
    assert first_yaw_rates['folded'] < -1.5 and first_yaw_rates['left'] > 1.5
