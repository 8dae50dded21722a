"""ROS parameters of the agent nodes for one of the simulated arms, derived from its URDF.

The joint names, position limits, per-period step limits and gripper range of the observer,
inference and simulator nodes all come from the arm's URDF (via ``gato_ros.sim.arms``), so
they cannot drift apart; the servo-mode speed limits are the scripted experts'.
``config/arms/<arm>.yaml`` holds the result as a ready params file for ``ros2 launch``; a test
keeps those files equal to what this module computes.
"""

from gato_ros.sim.arms import BASE_LINK, load_arm
from gato_ros.sim.experts import ExpertConfig
import yaml

# Scale of the URDF velocity limits allowed per control period: the safety filter's step
# limit. 1.0 lets the agent move as fast as the arm's datasheet (and the scripted experts).
VELOCITY_SCALE = 1.0
EXPERT_LIMITS = ExpertConfig()


def arm_parameters(arm_name, control_rate_hz=10.0):
    """Build the per-node parameter overrides for one simulated arm.

    Args:
        arm_name: an arm of ``gato_ros.sim.arms.list_arms()``.
        control_rate_hz: the inference node's control rate (Hz).

    Returns:
        dict: ``{node_name: {'ros__parameters': {...}}}`` for joint_state_observer,
        inference_node and mujoco_arm (the layout of a ROS params file).

    Raises:
        ValueError: on an unknown arm or a non-positive rate.
    """
    if not control_rate_hz > 0.0:
        raise ValueError(f'control_rate_hz must be > 0, got {control_rate_hz}')
    arm = load_arm(arm_name)
    period_s = 1.0 / control_rate_hz

    def per_period(velocity):
        return round(VELOCITY_SCALE * velocity * period_s, 6)

    inference = {
        'joint_names': list(arm.arm_joint_names),
        'position_lower': list(arm.lower_limits[:-1]),
        'position_upper': list(arm.upper_limits[:-1]),
        'max_step': [per_period(v) for v in arm.max_velocities[:-1]],
        'control_rate_hz': float(control_rate_hz),
        'gripper_joint_name': arm.gripper_joint_name,
        'gripper_closed_position': float(arm.lower_limits[-1]),
        'gripper_open_position': float(arm.upper_limits[-1]),
        'gripper_max_step': per_period(arm.max_velocities[-1]),
        'servo_frame_id': BASE_LINK,
        # Servo mode: the scripted experts' Cartesian speed limits, so the twists of their
        # demonstrations pass unclipped.
        'max_linear_speed_mps': EXPERT_LIMITS.max_speed_m_s,
        'max_angular_speed_radps': EXPERT_LIMITS.max_angular_speed_rad_s,
    }
    return {
        'joint_state_observer': {'ros__parameters': {'joint_names': list(arm.joint_names)}},
        'inference_node': {'ros__parameters': inference},
        'mujoco_arm': {'ros__parameters': {'arm': arm.name}},
    }


def arm_parameters_yaml(arm_name, control_rate_hz=10.0):
    """Render :func:`arm_parameters` as the text of a ROS params file.

    Args:
        arm_name: an arm of ``gato_ros.sim.arms.list_arms()``.
        control_rate_hz: the inference node's control rate (Hz).

    Returns:
        str: YAML text with a header comment.
    """
    header = (f'# Parameters of the agent nodes for the simulated {arm_name}, derived from its '
              'URDF by\n# gato_ros.nodes.arm_params (a test keeps this file equal to it).\n')
    return header + yaml.safe_dump(arm_parameters(arm_name, control_rate_hz), sort_keys=False)
