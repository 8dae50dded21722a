"""Tests of gato_ros.commands.eval: the action space of an evaluation, baseline storage."""

import argparse
import json

from gato_ros.commands import eval as eval_command
from gato_ros.commands.eval import load_baselines, resolve_action_space, update_baselines
import pytest


def _args(checkpoint='', policy='checkpoint', action_space='auto', arm='panda'):
    return argparse.Namespace(checkpoint=str(checkpoint), policy=policy,
                              action_space=action_space, arm=arm)


def test_auto_takes_the_checkpoints_action_space_per_arm(tmp_path):
    """A checkpoint of <arm>/twist/<task> episodes runs in twist; other arms, baselines joint."""
    (tmp_path / 'gato_spec.json').write_text(json.dumps({'tasks': {
        'panda/twist/lift_block': {}, 'panda/locate/lift_block': {}, 'ur5e/lift_block': {}}}))
    assert resolve_action_space(_args(tmp_path)) == 'twist'
    assert resolve_action_space(_args(tmp_path, arm='ur5e')) == 'joint'
    assert resolve_action_space(_args(tmp_path, action_space='joint')) == 'joint'
    assert resolve_action_space(_args(policy='expert')) == 'joint'
    assert resolve_action_space(_args(policy='expert', action_space='twist')) == 'twist'
    with pytest.raises(FileNotFoundError):
        resolve_action_space(_args(tmp_path / 'missing'))


def test_baselines_are_stored_per_action_space(tmp_path):
    """A twist baseline run adds its own keys and leaves the joint rates of the task alone."""
    path = tmp_path / 'baselines.json'
    path.write_text(json.dumps({'ur5e': {'lift_block': {'random': 0.0, 'random_episodes': 3}}}))
    report = {'arm': 'ur5e', 'action_space': 'twist',
              'tasks': {'lift_block': {'success_rate': 0.25, 'episodes': 4}}}
    update_baselines(path, report, 'random')
    assert load_baselines(path) == {'ur5e': {'lift_block': {
        'random': 0.0, 'random_episodes': 3, 'random_twist': 0.25, 'random_twist_episodes': 4}}}


def test_a_run_that_stops_keeps_the_finished_tasks_report(tmp_path, monkeypatch, capsys):
    """The graph stops answering in the second task: exit status 1, the first task on disk."""
    def stopping_evaluate(config, on_task_done):
        assert config.ready_timeout_s == 300.0
        on_task_done({'arm': 'panda', 'tasks': {'reach_target': {'success_rate': 1.0}},
                      'unfinished_tasks': ['press_button']})
        raise TimeoutError('timed out after 300 s waiting for the agent to compute actions')
    monkeypatch.setattr(eval_command, 'evaluate', stopping_evaluate)
    parser = argparse.ArgumentParser()
    eval_command.add_arguments(parser)
    path = tmp_path / 'panda.json'
    args = parser.parse_args(['--policy', 'expert', '--tasks', 'reach_target', 'press_button',
                              '--ready-timeout-s', '300', '--json', str(path)])
    assert eval_command.run(args) == 1
    assert json.loads(path.read_text())['unfinished_tasks'] == ['press_button']
    out = capsys.readouterr().out
    assert 'the evaluation stopped: timed out after 300 s' in out
    assert f'{path} holds the 1 task(s) finished before it' in out
