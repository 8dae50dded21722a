"""Tests of gato_ros.commands.demo: which of a checkpoint's tasks the demo runs."""

import argparse

from gato_ros.commands import demo
from gato_ros.commands.demo import arm_tasks, simulated_tasks
import pytest


def test_only_simulator_tasks_of_the_arm_are_run():
    """Other arms' tasks and localization scenes ('<arm>/locate/<task>') are not episodes."""
    tasks = ['panda/lift_block', 'panda/locate/lift_block', 'panda/reach_target',
             'ur5e/push_block', 'panda/unknown_task']
    assert simulated_tasks(tasks, 'panda') == ('lift_block', 'reach_target')
    assert simulated_tasks(tasks, 'ur5e') == ('push_block',)
    assert simulated_tasks(tasks, 'fr3') == ()


def test_twist_tasks_are_run_in_the_twist_action_space():
    """'<arm>/twist/<task>' episodes are the arm's tasks of the twist action space only."""
    tasks = ['panda/twist/lift_block', 'panda/locate/lift_block', 'panda/push_block',
             'panda/twist/press_button']
    assert simulated_tasks(tasks, 'panda', 'twist') == ('lift_block', 'press_button')
    assert simulated_tasks(tasks, 'panda') == ('push_block',)


def test_arms_default_to_those_the_checkpoint_covers():
    """A one-arm checkpoint runs on that arm only; a requested arm without tasks is refused."""
    tasks = ['ur5e/twist/lift_block', 'ur5e/locate/lift_block', 'ur5e/twist/push_block']
    assert arm_tasks(tasks) == {'ur5e': ('twist', ('lift_block', 'push_block'))}
    both = tasks + ['panda/reach_target']
    assert list(arm_tasks(both)) == ['panda', 'ur5e']
    assert arm_tasks(both, ['ur5e', 'panda'])['panda'] == ('joint', ('reach_target',))
    with pytest.raises(ValueError, match=r"arm\(s\) \['panda'\]"):
        arm_tasks(tasks, ['panda'])
    with pytest.raises(ValueError, match='any arm'):
        arm_tasks(['panda/locate/lift_block'])


def test_demo_options_and_the_shipped_checkpoints_arms(tmp_path):
    """Mean decoding by default; the shipped checkpoint covers both arms; unknown arms fail."""
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    args = parser.parse_args(['--out', str(tmp_path)])
    assert args.action_decoding == 'mean' and args.arms is None
    tasks = demo.checkpoint_tasks(args.checkpoint)
    assert set(arm_tasks(tasks)) == {'panda', 'ur5e'}
    with pytest.raises(SystemExit):
        parser.parse_args(['--arms', 'fr3'])
