"""Run the agent on a simulated arm: mujoco_arm, robot_state_publisher and agent.launch.py.

``mujoco_arm`` simulates ``arm`` doing ``task`` (seeded by ``seed``) with the ROS interfaces
of a Gazebo + ros2_control arm (``/joint_states``, ``/camera/image_raw``,
``/joint_trajectory_controller/joint_trajectory``); ``robot_state_publisher`` publishes the
same URDF, so RViz shows the arm. The agent gets ``config/arms/<arm>.yaml`` as its params file
and ``<arm>/<task>`` as its checkpoint task (the name ``python -m gato_ros collect`` stores
simulated episodes under). Every other argument of agent.launch.py (``checkpoint_path``,
``instruction``, ``namespace``, ``autostart``, ...) passes through.

``use_sim_time:=true`` makes the simulator publish ``/clock`` and every other node follow it,
so ``real_time_factor`` can slow down or speed up the whole loop consistently.

``twist_actions:=true`` runs a checkpoint trained on the tool's Cartesian twists
(``collect --action-space twist``): the agent runs checkpoint task ``<arm>/twist/<task>`` in
servo mode and commands the simulator's Cartesian velocity interface
(``/twist_controller/commands``) and its gripper topic.

``wrist_camera_topic:=/wrist_camera/image_raw`` makes the simulator publish its wrist camera
there and gives it to the agent as ``image_wrist``, for a checkpoint trained with
``collect --wrist-camera``.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.conditions import IfCondition, UnlessCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    """Declare the simulation arguments, start the simulator and include the agent.

    Returns:
        launch.LaunchDescription: The arguments, mujoco_arm, the robot description and the
        agent.
    """
    share = FindPackageShare('gato_ros')
    arm = LaunchConfiguration('arm')
    task = LaunchConfiguration('task')
    use_sim_time = LaunchConfiguration('use_sim_time')
    wrist_camera_topic = LaunchConfiguration('wrist_camera_topic')
    simulator = Node(
        package='gato_ros', executable='mujoco_arm', name='mujoco_arm', output='screen',
        parameters=[{
            'arm': arm,
            'task': task,
            'seed': ParameterValue(LaunchConfiguration('seed'), value_type=int),
            'real_time_factor': ParameterValue(LaunchConfiguration('real_time_factor'),
                                               value_type=float),
            # The simulator is the clock source: it publishes /clock, it never follows it.
            'publish_clock': ParameterValue(use_sim_time, value_type=bool),
            'wrist_image_topic': ParameterValue(wrist_camera_topic, value_type=str)}])
    description = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(
            PathJoinSubstitution([share, 'launch', 'robot_description.launch.py'])),
        launch_arguments={'arm': arm, 'use_sim_time': use_sim_time, 'gui': 'false'}.items())
    params_file = [PathJoinSubstitution([share, 'config', 'arms', arm]), '.yaml']
    twist_actions = LaunchConfiguration('twist_actions')
    joint_agent = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'agent.launch.py'])),
        condition=UnlessCondition(twist_actions),
        launch_arguments={
            'params_file': params_file, 'task': [arm, '/', task],
            'use_sim_time': use_sim_time, 'wrist_camera_topic': wrist_camera_topic}.items())
    twist_agent = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'agent.launch.py'])),
        condition=IfCondition(twist_actions),
        launch_arguments={
            'params_file': params_file, 'task': [arm, '/twist/', task],
            'use_sim_time': use_sim_time, 'mode': 'servo',
            'command_topic': '/twist_controller/commands', 'gripper_output': 'topic',
            'wrist_camera_topic': wrist_camera_topic}.items())
    return LaunchDescription([
        DeclareLaunchArgument(
            'arm', default_value='panda', choices=['panda', 'ur5e'],
            description='simulated arm; selects config/arms/<arm>.yaml and urdf/<arm>.urdf'),
        DeclareLaunchArgument(
            'task', default_value='reach_target',
            choices=['lift_block', 'pick_place', 'press_button', 'push_block', 'reach_target',
                     'stack_blocks'],
            description='simulated task of the first episode; the agent runs checkpoint task '
                        '<arm>/<task>'),
        DeclareLaunchArgument(
            'seed', default_value='0',
            description='randomization seed of the first episode'),
        DeclareLaunchArgument(
            'real_time_factor', default_value='1.0',
            description='simulated seconds per wall-clock second'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='simulator publishes /clock and the other nodes follow it'),
        DeclareLaunchArgument(
            'twist_actions', default_value='false', choices=['true', 'false'],
            description='the checkpoint acts in Cartesian twists (<arm>/twist/<task>): servo '
                        "mode on the simulator's twist interface"),
        DeclareLaunchArgument(
            'wrist_camera_topic', default_value='',
            description="publish the simulator's wrist camera on this topic and give it to "
                        'the agent as image_wrist (collect --wrist-camera checkpoints); empty: '
                        'no wrist camera'),
        simulator,
        description,
        # Scoped: the agent's 'task' (<arm>/<task>) must not replace the simulator's outside.
        GroupAction(scoped=True, actions=[joint_agent, twist_agent]),
    ])
