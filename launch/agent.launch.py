"""Start the gato_ros agent for an arm: joint and image observers and the inference node.

The arm itself (real, Gazebo + ros2_control, or ``mujoco_arm``) is started elsewhere; the
agent reads ``/joint_states`` and ``camera_topic`` (and ``wrist_camera_topic`` through a second
image observer, ``image_observer_wrist``, for a checkpoint that observes a wrist camera as
``image_wrist``) and commands
``/<controller_name>/joint_trajectory`` (trajectory mode) or MoveIt Servo (servo mode).

Parameters are layered: each node reads its defaults from ``config/<node>.yaml``, then the
sections of ``params_file`` for it (e.g. ``config/arms/panda.yaml``, derived from the arm's
URDF), then the arguments below. A text argument left empty keeps the value of the layers
under it. ``params_file`` sections apply in any ``namespace`` (rcl alone would apply a
``node_name:`` section to the root namespace only), so one arm file serves several robots.

The inference node is a lifecycle node; with ``autostart`` it configures and activates
itself, otherwise drive it with ``ros2 lifecycle set <namespace>/inference_node configure``.
Only launch/launch_ros API common to Humble, Jazzy and Kilted is used.
"""

import re

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare
import yaml

# Observation key of the wrist camera (gato_ros.sim.scene.WRIST_IMAGE_KEY; checked by a test).
WRIST_IMAGE_KEY = 'image_wrist'


def generate_launch_description():
    """Declare the agent's arguments and start its three nodes.

    Returns:
        launch.LaunchDescription: The arguments, then the nodes (built once the arguments
        are known).
    """
    return LaunchDescription([
        DeclareLaunchArgument(
            'params_file',
            default_value=PathJoinSubstitution(
                [FindPackageShare('gato_ros'), 'config', 'arms', 'panda.yaml']),
            description='ROS params file with sections for joint_state_observer, '
                        'image_observer and inference_node (e.g. config/arms/<arm>.yaml)'),
        DeclareLaunchArgument(
            'checkpoint_path', default_value='',
            description='gato_ros checkpoint directory; empty: the params file value'),
        DeclareLaunchArgument(
            'task', default_value='',
            description="checkpoint task; empty: the params file value or the checkpoint's "
                        'only task'),
        DeclareLaunchArgument(
            'instruction', default_value='',
            description='natural-language instruction of the episode; empty: none'),
        DeclareLaunchArgument(
            'namespace', default_value='',
            description='namespace of the agent nodes (observations/* follow it)'),
        DeclareLaunchArgument(
            'use_sim_time', default_value='false',
            description='run the agent nodes on /clock'),
        DeclareLaunchArgument(
            'camera_topic', default_value='/camera/image_raw',
            description='sensor_msgs/Image topic of the camera the checkpoint expects'),
        DeclareLaunchArgument(
            'wrist_camera_topic', default_value='',
            description='sensor_msgs/Image topic of a wrist camera the checkpoint observes as '
                        'image_wrist (a second image observer); empty: none'),
        DeclareLaunchArgument(
            'controller_name', default_value='',
            description='joint_trajectory_controller to command '
                        '(/<controller_name>/joint_trajectory); empty: the params file value'),
        DeclareLaunchArgument(
            'autostart', default_value='true',
            description='configure and activate the inference node at start-up'),
        DeclareLaunchArgument(
            'mode', default_value='', choices=['', 'trajectory', 'servo'],
            description='trajectory (joint deltas to a JTC) or servo (twists to MoveIt Servo); '
                        'empty: the params file value'),
        DeclareLaunchArgument(
            'command_topic', default_value='',
            description='motion command topic; empty: the params file value, else the '
                        "mode's default"),
        DeclareLaunchArgument(
            'gripper_output', default_value='', choices=['', 'joint', 'topic'],
            description='gripper command in the trajectory (joint) or on gripper_topic '
                        '(topic); empty: the params file value'),
        DeclareLaunchArgument(
            'servo_frame_id', default_value='',
            description='frame of the servo-mode twists; empty: the params file value'),
        OpaqueFunction(function=_agent_nodes),
    ])


def _agent_nodes(context):
    """Build the three nodes once the arguments are known.

    Args:
        context: The launch context holding the arguments.

    Returns:
        list: The joint observer, image observer(s) and inference node actions.
    """
    namespace = LaunchConfiguration('namespace').perform(context)
    params_path = LaunchConfiguration('params_file').perform(context)
    use_sim_time = ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)

    def from_file(node_name):
        return _as_typed(node_parameters(params_path, namespace, node_name))

    def text(name):
        return LaunchConfiguration(name).perform(context)

    wrist_topic = text('wrist_camera_topic')
    wrist_observer = [Node(
        package='gato_ros', executable='image_observer', name='image_observer_wrist',
        namespace=namespace, output='screen',
        parameters=_layers(from_file('image_observer_wrist'), {
            'image_topic': wrist_topic, 'key': WRIST_IMAGE_KEY,
            'use_sim_time': use_sim_time}))] if wrist_topic else []
    wrist_keys = {'observation_keys': ['image', WRIST_IMAGE_KEY, 'joints']} if wrist_topic else {}
    return wrist_observer + [
        Node(
            package='gato_ros', executable='joint_state_observer',
            name='joint_state_observer', namespace=namespace, output='screen',
            parameters=_layers(from_file('joint_state_observer'),
                               {'use_sim_time': use_sim_time})),
        Node(
            package='gato_ros', executable='image_observer', name='image_observer',
            namespace=namespace, output='screen',
            parameters=_layers(from_file('image_observer'), {
                'image_topic': LaunchConfiguration('camera_topic'),
                'use_sim_time': use_sim_time})),
        # Humble's LifecycleNode requires name and namespace as keywords.
        LifecycleNode(
            package='gato_ros', executable='inference_node', name='inference_node',
            namespace=namespace, output='screen',
            parameters=_layers(from_file('inference_node'), _as_typed({
                'checkpoint_path': text('checkpoint_path'),
                'task': text('task'),
                'instruction': text('instruction'),
                'controller_name': text('controller_name'),
                'mode': text('mode'),
                'command_topic': text('command_topic'),
                'gripper_output': text('gripper_output'),
                'servo_frame_id': text('servo_frame_id'),
            }, skip_empty=True), wrist_keys, {
                'autostart': ParameterValue(LaunchConfiguration('autostart'), value_type=bool),
                'use_sim_time': use_sim_time})),
    ]


def _layers(*layers):
    """Return the parameter layers of a node, lowest first, without the empty ones.

    An empty layer would become a params file section without parameters, which is of no
    use to the node.

    Args:
        *layers: Parameter name -> value mappings.

    Returns:
        list[dict]: The non-empty layers, in order.
    """
    return [layer for layer in layers if layer]


def _as_typed(values, skip_empty=False):
    """Pin text values to the string type.

    launch_ros re-reads plain text as YAML, so an instruction such as ``yes`` or ``1`` would
    reach the node as a bool or an int and be refused by its string parameter.

    Args:
        values: Parameter name -> value.
        skip_empty: Leave out empty strings (the layer below keeps its value).

    Returns:
        dict: The values, strings wrapped as ``ParameterValue(value_type=str)``.
    """
    return {name: ParameterValue(value, value_type=str) if isinstance(value, str) else value
            for name, value in values.items() if not (skip_empty and value == '')}


def node_parameters(params_path, namespace, node_name):
    """Collect what a ROS params file sets for one node.

    A section keyed by the bare node name applies in any namespace; keys with a namespace or
    wildcards (``/**``, ``/**/inference_node``, ``/robot1/inference_node``) apply where they
    match ``/<namespace>/<node_name>`` as rcl would match them. Matching sections are merged
    in file order.

    Args:
        params_path: The params file (``<key>: ros__parameters: {...}`` sections).
        namespace: The node's namespace ('' or '/' for the root).
        node_name: The node's name.

    Returns:
        dict: Parameter name -> value.

    Raises:
        FileNotFoundError: When the file does not exist.
        ValueError: When the file is not a mapping of sections, or a matching section has no
            ``ros__parameters`` mapping.
    """
    with open(params_path, encoding='utf-8') as stream:
        content = yaml.safe_load(stream)
    if not isinstance(content, dict):
        raise ValueError(
            f'{params_path}: expected "<node_name>: ros__parameters: ..." sections, got '
            f'{type(content).__name__}')
    full_name = '/'.join(['', *(part for part in namespace.split('/') if part), node_name])
    values = {}
    for key, section in content.items():
        if not _key_matches(str(key), full_name, node_name):
            continue
        parameters = section.get('ros__parameters') if isinstance(section, dict) else None
        if not isinstance(parameters, dict):
            raise ValueError(
                f'{params_path}: section {key!r} needs a "ros__parameters:" mapping')
        values.update(parameters)
    return values


def _key_matches(key, full_name, node_name):
    """Tell whether a params file key selects a node.

    Args:
        key: The section key, e.g. ``inference_node`` or ``/**/inference_node``.
        full_name: The node's fully qualified name, e.g. ``/robot1/inference_node``.
        node_name: The node's name.

    Returns:
        bool: Whether the section applies to the node.
    """
    bare = key.strip('/')
    if bare == node_name:
        return True
    # rcl wildcards: '**' is any number of name tokens, '*' exactly one.
    pattern = re.escape('/' + bare).replace('/\\*\\*', '(/[^/]+)*').replace('/\\*', '/[^/]+')
    return re.fullmatch(pattern, full_name) is not None
