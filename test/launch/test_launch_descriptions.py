"""The launch descriptions built and evaluated by launch/launch_ros, where ROS provides them.

Without a ROS install (launch and launch_ros come only from it) the whole module is skipped;
test_launch_static.py checks the same files from their source everywhere.
"""

import importlib.util

from launch_static import declared_arguments, LAUNCH_DIR, launch_files, parse, REPO
import pytest
import yaml

pytest.importorskip('launch_ros')

UR5E_ARM_JOINTS = ['shoulder_pan_joint', 'shoulder_lift_joint', 'elbow_joint',
                   'wrist_1_joint', 'wrist_2_joint', 'wrist_3_joint']


def _description(name):
    spec = importlib.util.spec_from_file_location(name.split('.')[0], LAUNCH_DIR / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate_launch_description()


def _context(arguments):
    from launch import LaunchContext
    context = LaunchContext()
    context.launch_configurations.update(arguments)
    return context


def _declare_defaults(description, context):
    """Set every argument the context lacks to its default, as ros2 launch does."""
    from launch.actions import DeclareLaunchArgument
    for entity in description.entities:
        if isinstance(entity, DeclareLaunchArgument):
            entity.visit(context)


def _of_type(description, kind_name):
    return [entity for entity in description.entities if type(entity).__name__ == kind_name]


def _included_agent(description, context=None):
    """Return the agent include of a description, checking it sits in a scoped group.

    With a context, the one include whose condition holds there (sim_agent has two).
    """
    (group,) = _of_type(description, 'GroupAction')
    kinds = [type(entity).__name__ for entity in group.get_sub_entities()]
    # A scoped group pushes the launch configurations before its actions and pops them after.
    assert (kinds.index('PushLaunchConfigurations') < kinds.index('IncludeLaunchDescription')
            < kinds.index('PopLaunchConfigurations'))
    (agent,) = [entity for entity in group.get_sub_entities()
                if type(entity).__name__ == 'IncludeLaunchDescription'
                and (context is None or entity.condition.evaluate(context))]
    return agent


def _node_parameters(node, context):
    """Expand a node action and merge the params files it would be started with."""
    from launch.substitutions import TextSubstitution
    from launch.utilities import perform_substitutions
    node._perform_substitutions(context)
    # Only the literal parts: the others are placeholders filled in at process start.
    parts = [perform_substitutions(context, part) if all(
        isinstance(item, TextSubstitution) for item in part) else None for part in node.cmd]
    merged = {}
    for flag, value in zip(parts, parts[1:]):
        if flag == '--params-file':
            with open(value, encoding='utf-8') as stream:
                for section in yaml.safe_load(stream).values():
                    merged.update(section['ros__parameters'])
    return merged


@pytest.mark.parametrize('path', launch_files(), ids=lambda path: path.name)
def test_description_declares_the_statically_seen_arguments(path):
    """generate_launch_description() declares the arguments its source shows, all described."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument
    description = _description(path.name)
    assert isinstance(description, LaunchDescription)
    arguments = [entity for entity in description.entities
                 if isinstance(entity, DeclareLaunchArgument)]
    assert {argument.name for argument in arguments} == set(declared_arguments(parse(path)))
    for argument in arguments:
        assert argument.description and argument.default_value is not None, argument.name


def test_agent_nodes_get_the_params_file_and_overrides_in_a_namespace():
    """Namespaced nodes get the arm file's sections, typed overrides, empty ones left out."""
    description = _description('agent.launch.py')
    context = _context({
        'params_file': str(REPO / 'config' / 'arms' / 'ur5e.yaml'), 'namespace': 'robot1',
        'checkpoint_path': '/tmp/checkpoint', 'task': 'ur5e/lift_block', 'instruction': 'yes',
        'use_sim_time': 'true', 'autostart': 'false', 'camera_topic': '/wrist/image_raw'})
    _declare_defaults(description, context)
    (opaque,) = _of_type(description, 'OpaqueFunction')
    nodes = {node.node_executable: node for node in opaque.visit(context)}
    assert {name: type(node).__name__ for name, node in nodes.items()} == {
        'joint_state_observer': 'Node', 'image_observer': 'Node',
        'inference_node': 'LifecycleNode'}
    params = {name: _node_parameters(node, context) for name, node in nodes.items()}
    for node in nodes.values():
        assert node.expanded_node_namespace == '/robot1'
    inference = params['inference_node']
    assert inference['joint_names'] == UR5E_ARM_JOINTS
    assert (inference['task'], inference['instruction']) == ('ur5e/lift_block', 'yes')
    assert inference['checkpoint_path'] == '/tmp/checkpoint'
    assert inference['autostart'] is False and inference['use_sim_time'] is True
    assert 'controller_name' not in inference and 'mode' not in inference
    assert params['image_observer']['image_topic'] == '/wrist/image_raw'
    observer_joints = params['joint_state_observer']['joint_names']
    assert observer_joints == [*UR5E_ARM_JOINTS, 'ur5e_finger_joint1']
    assert 'observation_keys' not in inference


def test_agent_wrist_camera_adds_a_second_observer_and_key():
    """wrist_camera_topic starts image_observer_wrist and makes the agent read image_wrist."""
    description = _description('agent.launch.py')
    context = _context({'params_file': str(REPO / 'config' / 'arms' / 'panda.yaml'),
                        'wrist_camera_topic': '/wrist_camera/image_raw'})
    _declare_defaults(description, context)
    (opaque,) = _of_type(description, 'OpaqueFunction')
    params = {}
    for node in opaque.visit(context):
        values = _node_parameters(node, context)  # expands the node, so its name is known
        params[node.node_name.rsplit('/', 1)[-1]] = values
    assert set(params) == {'joint_state_observer', 'image_observer', 'image_observer_wrist',
                           'inference_node'}
    wrist = params['image_observer_wrist']
    assert (wrist['image_topic'], wrist['key']) == ('/wrist_camera/image_raw', 'image_wrist')
    assert params['inference_node']['observation_keys'] == ['image', 'image_wrist', 'joints']


def test_sim_agent_configures_the_simulator_and_scopes_the_agent_task():
    """mujoco_arm gets typed arguments; the agent gets task <arm>/<task> inside a group."""
    description = _description('sim_agent.launch.py')
    context = _context({'arm': 'ur5e', 'task': 'lift_block', 'seed': '3',
                        'real_time_factor': '2', 'use_sim_time': 'true'})
    _declare_defaults(description, context)
    (simulator,) = _of_type(description, 'Node')
    assert simulator.node_executable == 'mujoco_arm'
    assert _node_parameters(simulator, context) == {
        'arm': 'ur5e', 'task': 'lift_block', 'seed': 3, 'real_time_factor': 2.0,
        'publish_clock': True, 'wrist_image_topic': ''}
    from launch.utilities import perform_substitutions

    def agent_arguments():
        agent = _included_agent(description, context)
        return {perform_substitutions(context, key): perform_substitutions(context, value)
                for key, value in agent.launch_arguments}

    given = agent_arguments()
    assert given['task'] == 'ur5e/lift_block' and 'mode' not in given
    assert given['wrist_camera_topic'] == ''
    context.launch_configurations['twist_actions'] = 'true'
    given = agent_arguments()
    assert given['task'] == 'ur5e/twist/lift_block'
    assert (given['mode'], given['gripper_output']) == ('servo', 'topic')
    assert given['command_topic'] == '/twist_controller/commands'


def test_robot_description_reads_the_urdf_text():
    """robot_state_publisher gets the URDF file's text; the GUI starts only when asked."""
    description = _description('robot_description.launch.py')
    urdf = REPO / 'gato_ros' / 'sim' / 'robots' / 'ur5e.urdf'
    context = _context({'arm': 'ur5e', 'urdf_path': str(urdf)})
    _declare_defaults(description, context)
    (opaque,) = _of_type(description, 'OpaqueFunction')
    (publisher,) = opaque.visit(context)
    assert _node_parameters(publisher, context) == {
        'robot_description': urdf.read_text(encoding='utf-8'), 'use_sim_time': False}
    (gui,) = _of_type(description, 'Node')
    assert gui.condition.evaluate(context) is False


def test_moveit_servo_agent_passes_servo_mode_to_the_agent():
    """The included agent runs in servo mode on servo_topic with a topic gripper."""
    description = _description('moveit_servo_agent.launch.py')
    context = _context({'servo_topic': '/lab_servo/delta_twist_cmds'})
    _declare_defaults(description, context)
    agent = _included_agent(description)
    from launch.utilities import perform_substitutions
    given = {perform_substitutions(context, key): perform_substitutions(context, value)
             for key, value in agent.launch_arguments}
    assert given == {'mode': 'servo', 'command_topic': '/lab_servo/delta_twist_cmds',
                     'gripper_output': 'topic'}
