"""Tests for gato_ros/commands/convert.py (``gato-ros convert``)."""

import argparse

from bag_builder import (
    BagBuilder, CAMERA, JOINT_NAMES, joint_positions, MS, T0_NS, WRIST, write_demo_bag)
from gato_ros.commands import convert
from gato_ros.recording.dataset import load_dataset
import numpy as np


def parse(argv):
    """Parse the command's options like gato_ros.cli does."""
    parser = argparse.ArgumentParser(prog='gato-ros convert')
    convert.add_arguments(parser)
    return parser.parse_args(argv)


def test_convert_command_writes_and_summarizes(tmp_path, capsys):
    """Options reach the config; the summary is printed; exit status 0."""
    bag = write_demo_bag(tmp_path / 'demo')
    out = tmp_path / 'out'
    argv = ['--bags', str(bag), '--out', str(out), '--joint-names', *JOINT_NAMES,
            '--image-topics', f'image={CAMERA}', f'image_wrist={WRIST}',
            '--image-size', '16', '24', '--keep-unsuccessful']
    assert convert.run(parse(argv)) == 0
    printed = capsys.readouterr().out
    assert 'episodes: 2 used (18 steps), 0 skipped' in printed
    assert '2 episode file(s)' in printed
    episodes = load_dataset(out)
    assert [e.success for e in episodes] == [True, False]
    assert episodes[0].observations['image_wrist'].shape == (9, 16, 24, 3)
    assert convert.run(parse(argv)) == 0
    assert 'bags: 1 (1 from cache)' in capsys.readouterr().out


def test_convert_command_exit_statuses(tmp_path, capsys):
    """1 when every bag is skipped, 2 on a malformed option or a missing bag."""
    bag = write_demo_bag(tmp_path / 'demo')
    base = ['--out', str(tmp_path / 'out'), '--joint-names', *JOINT_NAMES]
    unknown = ['--out', str(tmp_path / 'out'), '--joint-names', 'j1', 'j9', 'finger']
    assert convert.run(parse(['--bags', str(bag), *unknown])) == 1
    assert 'unknown_joints' in capsys.readouterr().out
    assert convert.run(parse(['--bags', str(bag), *base, '--image-topics', 'x'])) == 2
    assert 'KEY=TOPIC' in capsys.readouterr().err
    assert convert.run(parse(['--bags', str(tmp_path / 'nope'), *base])) == 2
    assert 'not found' in capsys.readouterr().err


def test_convert_command_twist_source_topic_and_frame(tmp_path, capsys):
    """--action-source twist with a custom twist topic and frame gives twist episodes."""
    bag = tmp_path / 'servo'
    with BagBuilder(bag) as builder:
        for i in range(20):
            t = T0_NS + 50 * i * MS
            builder.joint_state(t, JOINT_NAMES, joint_positions(t))
            builder.twist(t + 10 * MS, [0.1, 0, 0, 0, 0, 0.5], 'panda_link0',
                          topic='/servo_node/delta_twist_cmds')
    argv = ['--bags', str(bag), '--out', str(tmp_path / 'out'), '--joint-names', *JOINT_NAMES,
            '--image-topics', '--task', 'panda/twist/push', '--action-source', 'twist',
            '--twist-topic', '/servo_node/delta_twist_cmds', '--twist-frame-id', 'panda_link0']
    assert convert.run(parse(argv)) == 0, capsys.readouterr()
    (episode,) = load_dataset(tmp_path / 'out')
    assert episode.task == 'panda/twist/push' and episode.actions.shape == (len(episode), 7)
    np.testing.assert_allclose(episode.actions[:, :6], [[0.1, 0, 0, 0, 0, 0.5]] * len(episode))
