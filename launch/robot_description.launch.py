"""Publish an arm's URDF and TF: robot_state_publisher, optionally joint_state_publisher_gui.

For composing with RViz or MoveIt: ``robot_state_publisher`` takes the URDF text as its
``robot_description`` parameter, republishes it on ``/robot_description`` and turns
``/joint_states`` into TF. With ``gui:=true`` a slider window publishes ``/joint_states``
(only when nothing else does: not with a real arm or ``mujoco_arm``).

The shipped URDFs (``share/gato_ros/urdf/<arm>.urdf``) are plain URDF: no xacro, no meshes
(the links are boxes and cylinders), no ros2_control tags. Only launch/launch_ros API common
to Humble, Jazzy and Kilted is used.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the arguments and start the description publishers.

    Returns:
        launch.LaunchDescription: The arguments, robot_state_publisher and the optional GUI.
    """
    # '<share>/urdf/<arm>' + '.urdf': a list concatenates, which Humble's PathJoinSubstitution
    # cannot do inside one path element.
    arm_urdf = [PathJoinSubstitution([FindPackageShare('gato_ros'), 'urdf',
                                      LaunchConfiguration('arm')]), '.urdf']
    return LaunchDescription([
        DeclareLaunchArgument(
            'arm', default_value='panda', choices=['panda', 'ur5e'],
            description='shipped arm whose URDF is published'),
        DeclareLaunchArgument(
            'urdf_path', default_value=arm_urdf,
            description='URDF file to publish (plain URDF, not xacro); default: '
                        'share/gato_ros/urdf/<arm>.urdf'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='stamp TF with /clock time'),
        DeclareLaunchArgument(
            'gui', default_value='false',
            description='start joint_state_publisher_gui to move the joints by hand'),
        OpaqueFunction(function=_robot_state_publisher),
        Node(
            package='joint_state_publisher_gui', executable='joint_state_publisher_gui',
            output='screen', condition=IfCondition(LaunchConfiguration('gui'))),
    ])


def _robot_state_publisher(context):
    """Read the URDF and build robot_state_publisher with it.

    Args:
        context: The launch context holding the arguments.

    Returns:
        list: The robot_state_publisher node action.

    Raises:
        FileNotFoundError: When the URDF file does not exist.
    """
    urdf_path = LaunchConfiguration('urdf_path').perform(context)
    try:
        with open(urdf_path, encoding='utf-8') as stream:
            robot_description = stream.read()
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f'URDF {urdf_path!r} not found; pass arm:=panda|ur5e or urdf_path:=<file>') from error
    return [Node(
        package='robot_state_publisher', executable='robot_state_publisher', output='screen',
        parameters=[{
            # Typed as text: launch_ros would otherwise try to read the XML as YAML.
            'robot_description': ParameterValue(robot_description, value_type=str),
            'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'),
                                           value_type=bool)}])]
