"""Tests for gato_ros/nodes/inference_config.py and gato_ros/nodes/task_inputs.py."""

from pathlib import Path

from gato_ros.data import TensorSpec
from gato_ros.nodes.inference_config import (
    action_layout, check_policy, check_trigger_key, command_topic, observed_keys,
    safety_config)
from gato_ros.nodes.task_inputs import check_instruction, load_prompt
import pytest
import yaml

DEFAULTS = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / 'config' / 'inference_node.yaml').read_text())[
        'inference_node']['ros__parameters']
SPEC = {'image': TensorSpec('image', (32, 32, 3)), 'joints': TensorSpec('continuous', (8,))}


def params(**changes):
    """Return the default inference parameters with some changed."""
    return {**DEFAULTS, **changes}


def test_default_layout_is_the_panda_with_its_finger():
    """The defaults command seven arm joints and the finger inside the trajectory."""
    layout = action_layout(params())
    assert layout.action_dim == 8
    assert layout.commanded_joints[-1] == 'panda_finger_joint1'
    safety = safety_config(params(), layout)
    assert safety.position_lower[-1] == 0.0 and safety.position_upper[-1] == 0.04
    assert safety.max_step[-1] == DEFAULTS['gripper_max_step']
    assert len(safety.joint_names) == 8


def test_limit_lists_must_match_the_joints():
    """A limit list of the wrong length names the parameter."""
    bad = params(max_step=[0.1, 0.1])
    with pytest.raises(ValueError, match='parameter max_step needs one value per joint'):
        safety_config(bad, action_layout(bad))


def test_servo_layout_limits_only_the_gripper():
    """In servo mode only the gripper joint goes through the joint safety filter."""
    servo = params(mode='servo', gripper_output='topic')
    safety = safety_config(servo, action_layout(servo))
    assert safety.joint_names == ('panda_finger_joint1',)


@pytest.mark.parametrize('changes, topic', [
    ({}, '/joint_trajectory_controller/joint_trajectory'),
    ({'controller_name': 'arm_controller'}, '/arm_controller/joint_trajectory'),
    ({'mode': 'servo'}, '/servo_node/delta_twist_cmds'),
    ({'command_topic': '/custom'}, '/custom'),
])
def test_command_topic(changes, topic):
    """The command topic follows the mode and controller unless given."""
    assert command_topic(params(**changes)) == topic


def test_matching_checkpoint_passes():
    """A checkpoint observing the configured keys with the right action size is accepted."""
    check_policy(SPEC, 8, params(), action_layout(params()))
    assert observed_keys(SPEC, params()) == ['image', 'joints']


def test_a_configured_camera_the_task_does_not_observe_is_left_out():
    """A wrist camera that only other tasks of the checkpoint read is not gathered."""
    config = params(observation_keys=['image_wrist', 'joints', 'image'])
    check_policy(SPEC, 8, config, action_layout(config))
    assert observed_keys(SPEC, config) == ['joints', 'image']


@pytest.mark.parametrize('spec, action_dim, changes, message', [
    (SPEC, 8, {'observation_keys': ['joints', 'image_wrist']}, r"missing \['image'\]"),
    (SPEC, 7, {}, 'acts with 7 values, but trajectory mode with 7 joints'),
    (SPEC, 8, {'mode': 'servo', 'gripper_output': 'topic'}, 'a 6-D twist \\+ a gripper needs 7'),
    ({'image': SPEC['image'], 'state': SPEC['joints']}, 8,
     {'observation_keys': ['image', 'state']}, "joints_key 'joints' must name"),
])
def test_mismatching_checkpoint_is_named(spec, action_dim, changes, message):
    """Each mismatch between checkpoint and configuration is reported."""
    config = params(**changes)
    with pytest.raises(ValueError, match=message):
        check_policy(spec, action_dim, config, action_layout(config))


def test_instruction_checks():
    """Instructions are trimmed; oversized or invalid UTF-8 ones are refused."""
    assert check_instruction('  stack the blocks \n', 100) == 'stack the blocks'
    assert check_instruction('pick the \u00e9clair', 100) == 'pick the \u00e9clair'
    with pytest.raises(ValueError, match='exceeds max_instruction_bytes=10'):
        check_instruction('\u00e9' * 6, 10)  # 12 bytes in UTF-8
    with pytest.raises(ValueError, match='not valid UTF-8'):
        check_instruction(b'bad \xff byte'.decode('utf-8', errors='replace'), 100)


def test_prompt_loading(tmp_path, prompt_file):
    """Episode files load; directories and missing files are refused."""
    assert load_prompt(prompt_file).task == 'reach'
    with pytest.raises(ValueError, match='is a directory'):
        load_prompt(tmp_path)
    with pytest.raises(FileNotFoundError):
        load_prompt(tmp_path / 'missing.npz')


def test_the_trigger_must_be_an_observation_or_empty():
    """The camera key (the default) and empty pass; a key the node does not read is refused."""
    check_trigger_key(params())
    check_trigger_key(params(trigger_observation_key=''))
    with pytest.raises(ValueError, match=r"'wrist' is not one of observation_keys \['image'"):
        check_trigger_key(params(trigger_observation_key='wrist'))
