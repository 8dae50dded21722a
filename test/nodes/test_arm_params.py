"""Agent parameters derived from the simulated arms' URDFs, and the shipped params files."""

from pathlib import Path

from gato_ros.nodes.arm_params import arm_parameters, arm_parameters_yaml
from gato_ros.sim.arms import list_arms, load_arm
import pytest

CONFIG = Path(__file__).resolve().parents[2] / 'config' / 'arms'


@pytest.mark.parametrize('arm_name', list_arms())
def test_shipped_params_file_matches_the_urdf(arm_name):
    """config/arms/<arm>.yaml is exactly what the URDF gives (regenerate it if this fails)."""
    assert (CONFIG / f'{arm_name}.yaml').read_text() == arm_parameters_yaml(arm_name)


@pytest.mark.parametrize('arm_name', list_arms())
def test_limits_and_steps_follow_the_urdf(arm_name):
    """Position limits equal the URDF's; the step limit is velocity limit times period."""
    arm = load_arm(arm_name)
    params = arm_parameters(arm_name, control_rate_hz=20.0)
    inference = params['inference_node']['ros__parameters']
    assert inference['joint_names'] == list(arm.arm_joint_names)
    assert inference['position_lower'] == list(arm.lower_limits[:-1])
    assert inference['position_upper'] == list(arm.upper_limits[:-1])
    assert inference['max_step'] == pytest.approx(
        [v / 20.0 for v in arm.max_velocities[:-1]], abs=1e-6)
    assert inference['gripper_open_position'] == arm.upper_limits[-1]
    observer = params['joint_state_observer']['ros__parameters']
    assert observer['joint_names'] == list(arm.joint_names)


def test_bad_arguments_are_rejected():
    """Unknown arms and non-positive rates raise ValueError."""
    with pytest.raises(ValueError, match='unknown arm'):
        arm_parameters('nope')
    with pytest.raises(ValueError, match='control_rate_hz'):
        arm_parameters('panda', control_rate_hz=0.0)
