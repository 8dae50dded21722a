"""Run the agent on a Gazebo (gz sim) + ros2_control arm: Gazebo, the arm, and agent.launch.py.

Starts Gazebo with ``world`` (``ros_gz_sim``'s ``gz_sim.launch.py``), publishes the arm's
Gazebo URDF with ``robot_state_publisher`` (the shipped URDF plus ros2_control, the
gz_ros2_control plugin and a scene camera: ``gato_ros.sim.gazebo_description``), spawns it
from ``/robot_description`` (``ros_gz_sim create``), starts ``joint_state_broadcaster`` and a
``joint_trajectory_controller`` over the arm and gripper joints
(``config/gazebo/<arm>_controllers.yaml``) with ``controller_manager``'s spawner, bridges
``/clock`` and the camera to ``/camera/image_raw`` (``ros_gz_bridge``), and includes
agent.launch.py with ``config/arms/<arm>.yaml`` (``checkpoint_path``, ``task`` and
``instruction`` pass through).

``gz_flavour:=gz`` is for Jazzy and Kilted (gz_ros2_control, Gazebo Harmonic or later);
``gz_flavour:=ign`` for Humble with Ignition Fortress (ign_ros2_control). The MuJoCo task
scene (table, blocks, target) is NOT in Gazebo: the arm stands on the ground of ``world``
(default ``empty.sdf``), and the lab brings a world with its own table and objects, whose
base_link height and camera view should match those the checkpoint was trained on.
Only launch/launch_ros API common to Humble, Jazzy and Kilted is used.
"""

import os

from gato_ros.sim.gazebo_description import bridge_arguments, gazebo_urdf
from launch import LaunchDescription
from launch.actions import (
    DeclareLaunchArgument, GroupAction, IncludeLaunchDescription, OpaqueFunction)
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the arguments, start Gazebo, the arm and its controllers, include the agent.

    Returns:
        launch.LaunchDescription: The arguments, Gazebo, the spawned arm, the controller
        spawners, the bridge and the agent.
    """
    share = FindPackageShare('gato_ros')
    arm = LaunchConfiguration('arm')
    use_sim_time = LaunchConfiguration('use_sim_time')
    gazebo = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([FindPackageShare('ros_gz_sim'), 'launch', 'gz_sim.launch.py'])),
        # -r: run at once, so the controllers and the agent see time advance.
        launch_arguments={'gz_args': ['-r ', LaunchConfiguration('gz_extra_args'), ' ',
                                      LaunchConfiguration('world')]}.items())
    spawn = Node(
        package='ros_gz_sim', executable='create', output='screen',
        arguments=['-topic', 'robot_description', '-name', arm])
    agent = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'agent.launch.py'])),
        launch_arguments={
            'params_file': [PathJoinSubstitution([share, 'config', 'arms', arm]), '.yaml'],
            'checkpoint_path': LaunchConfiguration('checkpoint_path'),
            'task': LaunchConfiguration('task'),
            'instruction': LaunchConfiguration('instruction'),
            'use_sim_time': use_sim_time,
            # The controllers file puts the gripper joint into this trajectory controller.
            'controller_name': 'joint_trajectory_controller',
            'gripper_output': 'joint'}.items())
    return LaunchDescription([
        *_arguments(),
        gazebo,
        OpaqueFunction(function=_description_and_bridge),
        spawn,
        _spawner('joint_state_broadcaster'),
        _spawner('joint_trajectory_controller'),
        # Scoped: the agent's own argument defaults must not leak out of its include.
        GroupAction(scoped=True, actions=[agent]),
    ])


def _arguments():
    """Declare the launch arguments.

    Returns:
        list: The DeclareLaunchArgument actions.
    """
    return [
        DeclareLaunchArgument(
            'arm', default_value='panda', choices=['panda', 'ur5e'],
            description='shipped arm; selects config/arms/<arm>.yaml and '
                        'config/gazebo/<arm>_controllers.yaml'),
        DeclareLaunchArgument(
            'gz_flavour', default_value='gz', choices=['gz', 'ign'],
            description='gz: gz_ros2_control (Jazzy, Kilted); ign: ign_ros2_control (Humble '
                        'with Ignition Fortress)'),
        DeclareLaunchArgument(
            'world', default_value='empty.sdf',
            description='Gazebo world file (name on the resource path, or a path); the MuJoCo '
                        'task scene is not included'),
        DeclareLaunchArgument(
            'gz_extra_args', default_value='',
            description="more Gazebo arguments, e.g. '-s --headless-rendering' without a GUI"),
        DeclareLaunchArgument(
            'sensors_system', default_value='true', choices=['true', 'false'],
            description="load Gazebo's Sensors system with the arm (renders the camera); "
                        'false when the world loads it'),
        DeclareLaunchArgument(
            'checkpoint_path', default_value='',
            description='gato_ros checkpoint directory'),
        DeclareLaunchArgument(
            'task', default_value='',
            description="checkpoint task; empty: the checkpoint's only task"),
        DeclareLaunchArgument(
            'instruction', default_value='',
            description='natural-language instruction of the episode'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='true',
            description="run robot_state_publisher and the agent on Gazebo's /clock"),
    ]


def _spawner(controller):
    """Start one controller once Gazebo's controller_manager is up.

    Args:
        controller: A controller of config/gazebo/<arm>_controllers.yaml.

    Returns:
        launch_ros.actions.Node: The spawner.
    """
    # Gazebo may take a while to load the world and the arm: wait for the manager's services.
    return Node(
        package='controller_manager', executable='spawner', output='screen',
        arguments=[controller, '--controller-manager', '/controller_manager',
                   '--controller-manager-timeout', '120'])


def _description_and_bridge(context):
    """Build robot_state_publisher with the Gazebo URDF, and the flavour's bridge.

    Args:
        context: The launch context holding the arguments.

    Returns:
        list: The robot_state_publisher and parameter_bridge node actions.
    """
    arm = LaunchConfiguration('arm').perform(context)
    flavour = LaunchConfiguration('gz_flavour').perform(context)
    share = FindPackageShare('gato_ros').perform(context)
    # An installed absolute path: the gz_ros2_control plugin reads it inside Gazebo.
    controllers = os.path.join(share, 'config', 'gazebo', f'{arm}_controllers.yaml')
    robot_description = gazebo_urdf(
        arm, flavour, controllers,
        sensors_system=LaunchConfiguration('sensors_system').perform(context) == 'true')
    use_sim_time = ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)
    return [
        Node(
            package='robot_state_publisher', executable='robot_state_publisher',
            output='screen', parameters=[{
                # Typed as text: launch_ros would otherwise try to read the XML as YAML.
                'robot_description': ParameterValue(robot_description, value_type=str),
                'use_sim_time': use_sim_time}]),
        Node(
            package='ros_gz_bridge', executable='parameter_bridge', output='screen',
            arguments=bridge_arguments(flavour),
            parameters=[{'use_sim_time': use_sim_time}]),
    ]
