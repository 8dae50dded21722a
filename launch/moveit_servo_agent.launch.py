"""Run the agent in servo mode: Cartesian twists to an already running MoveIt Servo.

This launch file does NOT start MoveIt. ``servo_node`` must already run with the lab's MoveIt
config (the arm's URDF/SRDF, kinematics, its servo parameters and the controller servo writes
to), started by the lab's own launch. The agent publishes ``geometry_msgs/TwistStamped`` on
``servo_topic`` (default ``/servo_node/delta_twist_cmds``), stamped in ``servo_frame_id``, at
the inference node's control rate, with linear/angular speed caps from its parameters; the
gripper goes to ``gripper_topic`` as ``std_msgs/Float64MultiArray`` (a twist has no gripper).

Before the agent's twists move the arm, servo must accept twists: on Humble call
``/servo_node/start_servo`` (std_srvs/Trigger); on Jazzy/Kilted call
``/servo_node/switch_command_type`` (moveit_msgs/ServoCommandType, TWIST = 1) and unpause with
``/servo_node/pause_servo`` (std_srvs/SetBool, false). Every argument of agent.launch.py
(``params_file``, ``checkpoint_path``, ``task``, ``namespace``, ...) passes through.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, LogInfo
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the servo arguments and include the agent in servo mode.

    Returns:
        launch.LaunchDescription: The arguments, a reminder that MoveIt is not started here,
        and the agent.
    """
    agent = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare('gato_ros'), 'launch', 'agent.launch.py'])),
        launch_arguments={
            'mode': 'servo',
            'command_topic': LaunchConfiguration('servo_topic'),
            # A twist carries no gripper joint: the gripper gets its own topic.
            'gripper_output': 'topic',
        }.items())
    return LaunchDescription([
        DeclareLaunchArgument(
            'servo_topic', default_value='/servo_node/delta_twist_cmds',
            description="geometry_msgs/TwistStamped input of the lab's MoveIt Servo"),
        LogInfo(msg=['gato_ros agent in servo mode: twists on ',
                     LaunchConfiguration('servo_topic'),
                     '. MoveIt Servo is not started here; servo_node must already run with '
                     "the lab's MoveIt config and accept twist commands."]),
        # Scoped: mode/command_topic/gripper_output stay the agent's own.
        GroupAction(scoped=True, actions=[agent]),
    ])
