"""Build the motion command messages: joint trajectories, gripper commands and twists.

Joint trajectories follow the rules of ros2_control's ``joint_trajectory_controller`` (JTC):

* ``header.stamp`` is zero, which JTC reads as "start now" (a stamp from a clock the
  controller does not share, e.g. sim time against wall time, would delay or drop it);
* ``joint_names`` lists every joint of the controller, each once;
* points have strictly increasing, positive ``time_from_start`` and one finite position per
  joint (no velocities: JTC then interpolates linearly between positions).

Timing choice: one command per control period holds ONE point reached ``horizon_periods``
control periods after its arrival (default 1.0: the target is reached exactly when the next
command replaces it, so the arm moves continuously). No trailing "hold" point is added
because JTC holds the last point of a trajectory by itself. A horizon above 1 gives smoother,
slower motion (each new command replaces the unfinished one).

Grippers either are one more joint of the trajectory or get a
``std_msgs/Float64MultiArray`` position command, the message ros2_control's forward command
controllers (e.g. ``position_controllers/JointGroupPositionController``) take on their
``~/commands`` topic. Cartesian policies publish ``geometry_msgs/TwistStamped``
for MoveIt Servo (``/servo_node/delta_twist_cmds``).
"""

from builtin_interfaces.msg import Duration
from gato_ros.nodes.safety import limit_twist
from geometry_msgs.msg import TwistStamped
import numpy as np
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint


def duration_from_seconds(seconds):
    """Convert seconds to a ``builtin_interfaces/Duration``.

    Args:
        seconds: Non-negative duration (s).

    Returns:
        builtin_interfaces.msg.Duration: The same duration.
    """
    nanoseconds = int(round(seconds * 1e9))
    return Duration(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)


def build_joint_trajectory(joint_names, positions, time_from_start_s):
    """Build a one-point trajectory that JTC starts immediately.

    Args:
        joint_names: Every joint of the controller, in the order of ``positions``.
        positions: (N,) target positions (rad revolute, m prismatic), already safety-filtered.
        time_from_start_s: When the point is to be reached after the command arrives (s).

    Returns:
        trajectory_msgs.msg.JointTrajectory: The command.

    Raises:
        ValueError: On duplicate or missing names, mismatched or non-finite positions, or a
            non-positive time.
    """
    joint_names = list(joint_names)
    positions = np.asarray(positions, dtype=np.float64)
    if not joint_names or len(set(joint_names)) != len(joint_names):
        raise ValueError(f'joint_names must be non-empty and unique, got {joint_names}')
    if positions.shape != (len(joint_names),) or not np.isfinite(positions).all():
        raise ValueError(
            f'expected {len(joint_names)} finite positions for {joint_names}, '
            f'got {positions.tolist()}')
    if not (np.isfinite(time_from_start_s) and time_from_start_s > 0.0):
        raise ValueError(f'time_from_start_s must be > 0, got {time_from_start_s}')
    point = JointTrajectoryPoint()
    point.positions = positions.tolist()
    point.time_from_start = duration_from_seconds(time_from_start_s)
    trajectory = JointTrajectory()
    trajectory.joint_names = joint_names
    trajectory.points = [point]
    return trajectory


def build_gripper_command(position):
    """Build a forward-controller position command for a one-joint gripper.

    Args:
        position: Gripper joint position (m or rad), already safety-filtered.

    Returns:
        std_msgs.msg.Float64MultiArray: ``data = [position]``.

    Raises:
        ValueError: On a non-finite position.
    """
    if not np.isfinite(position):
        raise ValueError(f'gripper position must be finite, got {position}')
    return Float64MultiArray(data=[float(position)])


def build_twist(twist, frame_id, stamp, max_linear_mps, max_angular_radps):
    """Build a speed-limited ``TwistStamped`` for MoveIt Servo.

    Args:
        twist: (6,) linear x, y, z (m/s) then angular x, y, z (rad/s).
        frame_id: Frame the twist is expressed in (e.g. the end effector or base link).
        stamp: ``builtin_interfaces/Time`` of the command (the node clock's now).
        max_linear_mps: Largest linear speed (m/s).
        max_angular_radps: Largest angular speed (rad/s).

    Returns:
        geometry_msgs.msg.TwistStamped: The limited command.

    Raises:
        ValueError: On a wrong shape, non-finite values or an empty frame_id.
    """
    if not frame_id:
        raise ValueError('a twist needs a frame_id, got an empty one')
    values = limit_twist(twist, max_linear_mps, max_angular_radps)
    msg = TwistStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = values[:3].tolist()
    msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = values[3:].tolist()
    return msg
