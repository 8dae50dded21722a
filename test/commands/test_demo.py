"""Tests of gato_ros.commands.demo: which of a checkpoint's tasks the demo runs."""

from gato_ros.commands.demo import simulated_tasks


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
