"""``gato-ros collect``: expert demonstrations, then a DAgger round that reports agreement."""

import re

from gato_ros.cli import main
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
