"""Tests of gato_ros.commands.eval: which action space an evaluation runs in."""

import argparse
import json

from gato_ros.commands.eval import resolve_action_space
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
