"""Static checks of launch/*.launch.py that run everywhere, launch installed or not."""

import ast
import importlib
import re

from gato_ros.sim import gazebo_description
from gato_ros.sim.arms import list_arms
from gato_ros.sim.scene import WRIST_IMAGE_KEY
from gato_ros.sim.tasks import list_tasks
from launch_static import (
    BUILTIN_PARAMETERS, call_name, calls, CONTROLLERS_DIR, declared_arguments, gato_ros_nodes,
    keyword, LAUNCH_DIR, launch_files, literal, load_functions, node_actions, PACKAGE,
    package_dependencies, parameter_keys, parameter_names, parse, referenced_packages, REPO,
    SHARE_CALLS, share_paths, source_path)
import pytest
import yaml

EXPECTED_FILES = ('agent.launch.py', 'sim_agent.launch.py', 'robot_description.launch.py',
                  'moveit_servo_agent.launch.py', 'gazebo_agent.launch.py')
# launch/launch_ros names present in Humble, Jazzy and Kilted alike, with the arguments used
# here (e.g. FileContent, or LifecycleNode's own autostart, are newer than Humble).
COMMON_API = {
    'launch': {'LaunchDescription'},
    'launch.actions': {'DeclareLaunchArgument', 'GroupAction', 'IncludeLaunchDescription',
                       'LogInfo', 'OpaqueFunction'},
    'launch.conditions': {'IfCondition', 'UnlessCondition'},
    'launch.launch_description_sources': {'PythonLaunchDescriptionSource'},
    'launch.substitutions': {'LaunchConfiguration', 'PathJoinSubstitution'},
    'launch_ros.actions': {'LifecycleNode', 'Node'},
    'launch_ros.parameter_descriptions': {'ParameterValue'},
    'launch_ros.substitutions': {'FindPackageShare'},
}
OTHER_MODULES = {'os', 're', 'yaml'}
# gato_ros modules a launch file may import: installed with the package, ROS-free and light
# (standard library, yaml and gato_ros.sim.arms only; a test in test/sim checks that).
PACKAGE_MODULES = {'gato_ros.sim.gazebo_description'}
# Launch files of other packages that may be included, with the arguments they declare on
# Humble, Jazzy and Kilted alike.
FOREIGN_LAUNCH_ARGUMENTS = {('ros_gz_sim', 'gz_sim.launch.py'): {'gz_args'}}
AGENT_DEFAULTS = {'checkpoint_path': '', 'task': '', 'instruction': '', 'namespace': '',
                  'use_sim_time': 'false', 'camera_topic': '/camera/image_raw',
                  'controller_name': '', 'autostart': 'true'}
INFERENCE_NODE_JOINTS = {'panda': 'panda_joint1', 'ur5e': 'shoulder_pan_joint'}


def _file_id(path):
    return path.name


@pytest.fixture(params=launch_files(), ids=_file_id)
def launch_file(request):
    """Give the path and syntax tree of each launch file."""
    return request.param, parse(request.param)


def _tree(name):
    return parse(LAUNCH_DIR / name)


def test_the_launch_files_exist():
    """The four documented launch files are in launch/."""
    assert set(EXPECTED_FILES) <= {path.name for path in launch_files()}


def test_launch_file_compiles_and_defines_generate_launch_description(launch_file):
    """Each file compiles and has a module-level generate_launch_description() without args."""
    path, tree = launch_file
    compile(path.read_text(encoding='utf-8'), str(path), 'exec')
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    signature = functions['generate_launch_description'].args
    assert not (signature.args or signature.posonlyargs or signature.kwonlyargs)


def test_launch_file_imports_only_api_common_to_all_distributions(launch_file):
    """Every launch/launch_ros name imported exists with this use in Humble, Jazzy, Kilted.

    Names of gato_ros may come only from the light, ROS-free PACKAGE_MODULES, and must exist.
    """
    path, tree = launch_file
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in PACKAGE_MODULES:
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f'{path.name}: {node.module}.{alias.name}'
        elif isinstance(node, ast.ImportFrom):
            allowed = COMMON_API.get(node.module, set())
            names = {alias.name for alias in node.names}
            assert names <= allowed, f'{path.name}: {node.module} {sorted(names - allowed)}'
        elif isinstance(node, ast.Import):
            for alias in node.names:
                assert alias.name in OTHER_MODULES, f'{path.name}: import {alias.name}'


def test_node_actions_name_installed_executables(launch_file):
    """gato_ros nodes are executables CMakeLists.txt installs; other packages name one too."""
    path, tree = launch_file
    installed = gato_ros_nodes()
    for call in node_actions(tree):
        package = literal(keyword(call, 'package'))
        executable = literal(keyword(call, 'executable'))
        assert isinstance(package, str) and package, f'{path.name}: a node without package'
        assert isinstance(executable, str) and executable, f'{path.name}: {package} node'
        if package == 'gato_ros':
            assert executable in installed, f'{path.name}: {executable} not in {installed}'


def test_gato_ros_node_parameters_are_declared_by_the_node(launch_file):
    """Every parameter a launch file sets on a gato_ros node is in that node's table."""
    path, tree = launch_file
    for call in node_actions(tree):
        if literal(keyword(call, 'package')) != 'gato_ros':
            continue
        executable = literal(keyword(call, 'executable'))
        unknown = parameter_keys(call) - parameter_names(executable) - BUILTIN_PARAMETERS
        assert not unknown, f'{path.name}: {executable} does not declare {sorted(unknown)}'


def test_share_paths_exist_in_the_source_tree(launch_file):
    """Paths joined onto share/gato_ros name installed files (or folders, up to a variable)."""
    path, tree = launch_file
    for parts, complete in share_paths(tree):
        source = source_path(parts)
        assert source is not None, f'{path.name}: share/gato_ros/{"/".join(parts)} not installed'
        if complete:
            assert source.is_file(), f'{path.name}: {source} missing'
        else:
            assert source.is_dir(), f'{path.name}: {source} missing'


def test_launch_arguments_have_descriptions_and_defaults(launch_file):
    """Each argument is named literally, described, and defaulted (no argument is required)."""
    path, tree = launch_file
    for call in calls(tree, 'DeclareLaunchArgument'):
        name = literal(call.args[0]) if call.args else None
        assert isinstance(name, str), f'{path.name}: an argument without a literal name'
        description = literal(keyword(call, 'description'))
        assert isinstance(description, str) and description.strip(), f'{path.name}: {name}'
        assert keyword(call, 'default_value') is not None, f'{path.name}: {name} has no default'
        choices = literal(keyword(call, 'choices'))
        default = literal(keyword(call, 'default_value'))
        if choices is not None and default is not None:
            assert default in choices, f'{path.name}: {name} default {default!r}'


def test_lifecycle_nodes_pass_name_and_namespace(launch_file):
    """Humble's LifecycleNode needs name= and namespace= given explicitly."""
    path, tree = launch_file
    for call in calls(tree, 'LifecycleNode'):
        assert keyword(call, 'name') is not None and keyword(call, 'namespace') is not None


def _included_file(tree, include):
    """Return (package, file name, declared arguments) of an IncludeLaunchDescription."""
    targets = [(PACKAGE, parts) for parts, complete in share_paths(tree, include)
               if complete and parts[-1].endswith('.launch.py')]
    for package in {literal(call.args[0]) for call in calls(include, *SHARE_CALLS)} - {PACKAGE}:
        targets += [(package, parts) for parts, complete in share_paths(tree, include, package)
                    if complete and parts[-1].endswith('.launch.py')]
    assert len(targets) == 1, f'include of an unknown launch file: {targets}'
    ((package, parts),) = targets
    if package == PACKAGE:
        return package, parts[-1], set(declared_arguments(parse(source_path(parts))))
    assert (package, parts[-1]) in FOREIGN_LAUNCH_ARGUMENTS, f'{package} {parts}'
    return package, parts[-1], FOREIGN_LAUNCH_ARGUMENTS[package, parts[-1]]


def test_included_launch_arguments_are_declared_by_the_included_file(launch_file):
    """launch_arguments given to an included launch file are arguments it declares.

    gato_ros files are read from the source tree; other packages' files must be listed in
    FOREIGN_LAUNCH_ARGUMENTS with the arguments all distributions declare.
    """
    path, tree = launch_file
    for call in calls(tree, 'IncludeLaunchDescription'):
        package, name, declared = _included_file(tree, call)
        arguments = keyword(call, 'launch_arguments')
        given = {literal(key) for node in ast.walk(arguments) if isinstance(node, ast.Dict)
                 for key in node.keys} if arguments is not None else set()
        assert given <= declared, f'{path.name} -> {package}/{name}: {given - declared}'


def test_referenced_packages_are_run_dependencies(launch_file):
    """Every package a launch file starts a node of, or finds the share of, is in package.xml."""
    path, tree = launch_file
    missing = referenced_packages(tree) - package_dependencies() - {PACKAGE}
    assert not missing, f'{path.name}: add <exec_depend> for {sorted(missing)}'


def test_agent_arguments_and_defaults():
    """agent.launch.py offers the documented arguments with the documented defaults."""
    tree = _tree('agent.launch.py')
    declared = declared_arguments(tree)
    for name, default in AGENT_DEFAULTS.items():
        assert literal(keyword(declared[name], 'default_value')) == default, name
    assert (('config', 'arms', 'panda.yaml'), True) in share_paths(tree, declared['params_file'])


def test_agent_starts_the_three_nodes_and_a_lifecycle_inference_node():
    """Observers as plain nodes, the inference node as a lifecycle node, all namespaced."""
    tree = _tree('agent.launch.py')
    kinds = {literal(keyword(call, 'executable')): call_name(call)
             for call in node_actions(tree)}
    assert kinds == {'joint_state_observer': 'Node', 'image_observer': 'Node',
                     'inference_node': 'LifecycleNode'}
    for call in node_actions(tree):
        assert keyword(call, 'namespace') is not None


def test_arm_and_task_choices_are_the_simulator_ones():
    """The arm/task choices are the simulator's, and every arm has a params file and URDF."""
    for name in ('sim_agent.launch.py', 'robot_description.launch.py',
                 'gazebo_agent.launch.py'):
        choices = literal(keyword(declared_arguments(_tree(name))['arm'], 'choices'))
        assert choices == list_arms(), name
    tasks = literal(keyword(declared_arguments(_tree('sim_agent.launch.py'))['task'], 'choices'))
    assert tasks == list_tasks()
    for arm in list_arms():
        assert source_path(('config', 'arms', f'{arm}.yaml')).is_file()
        assert source_path(('urdf', f'{arm}.urdf')).is_file()


def test_moveit_servo_agent_selects_servo_mode():
    """The servo launch file includes the agent in servo mode with a topic gripper."""
    tree = _tree('moveit_servo_agent.launch.py')
    (include,) = calls(tree, 'IncludeLaunchDescription')
    (arguments,) = [node for node in ast.walk(keyword(include, 'launch_arguments'))
                    if isinstance(node, ast.Dict)]
    given = {literal(key): literal(value) for key, value in zip(arguments.keys, arguments.values)}
    assert given['mode'] == 'servo' and given['gripper_output'] == 'topic'
    servo_topic = declared_arguments(tree)['servo_topic']
    assert literal(keyword(servo_topic, 'default_value')) == '/servo_node/delta_twist_cmds'
    assert 'does NOT start MoveIt' in ast.get_docstring(tree)


def test_sim_agent_twist_actions_command_the_simulators_twist_interface():
    """With twist_actions the agent runs <arm>/twist/<task> in servo mode on the sim's topic."""
    includes = [call for call in calls(_tree('sim_agent.launch.py'), 'IncludeLaunchDescription')
                if keyword(call, 'condition') is not None]
    by_condition = {call_name(keyword(call, 'condition')): _dict_argument(call, 'launch_arguments')
                    for call in includes}
    assert set(by_condition) == {'IfCondition', 'UnlessCondition'}
    twist = by_condition['IfCondition']
    assert literal(twist['mode']) == 'servo' and literal(twist['gripper_output']) == 'topic'
    simulator = yaml.safe_load((REPO / 'config' / 'mujoco_arm.yaml').read_text())
    assert literal(twist['command_topic']) == (
        simulator['mujoco_arm']['ros__parameters']['twist_command_topic'])
    assert [literal(part) for part in twist['task'].elts[1:2]] == ['/twist/']
    assert 'mode' not in by_condition['UnlessCondition']


def test_wrist_camera_key_and_topics_match_the_package():
    """The launch files' wrist key is the simulator's; the sim passes its topic through."""
    agent = _tree('agent.launch.py')
    (assignment,) = [node for node in agent.body if isinstance(node, ast.Assign)
                     and node.targets[0].id == 'WRIST_IMAGE_KEY']
    assert literal(assignment.value) == WRIST_IMAGE_KEY
    assert literal(keyword(declared_arguments(agent)['wrist_camera_topic'],
                           'default_value')) == ''
    sim = _tree('sim_agent.launch.py')
    for call in calls(sim, 'IncludeLaunchDescription'):
        if keyword(call, 'condition') is not None:
            assert 'wrist_camera_topic' in _dict_argument(call, 'launch_arguments')
    simulator = yaml.safe_load((REPO / 'config' / 'mujoco_arm.yaml').read_text())
    assert simulator['mujoco_arm']['ros__parameters']['wrist_image_topic'] == ''


def _dict_argument(call, name):
    """Return key -> value expression of the dict passed as a keyword (e.g. launch_arguments)."""
    (mapping,) = [node for node in ast.walk(keyword(call, name)) if isinstance(node, ast.Dict)]
    return {literal(key): value for key, value in zip(mapping.keys, mapping.values)}


def test_gazebo_agent_arguments():
    """Flavours are the description module's; sim time on; empty world; agent text passes."""
    declared = declared_arguments(_tree('gazebo_agent.launch.py'))
    assert (literal(keyword(declared['gz_flavour'], 'choices'))
            == gazebo_description.flavour_names())
    defaults = {name: literal(keyword(call, 'default_value')) for name, call in declared.items()}
    assert defaults['gz_flavour'] == 'gz' and defaults['use_sim_time'] == 'true'
    assert defaults['world'] == 'empty.sdf' and defaults['sensors_system'] == 'true'
    assert {'checkpoint_path', 'task', 'instruction'} <= set(declared)
    assert 'NOT in Gazebo' in ast.get_docstring(_tree('gazebo_agent.launch.py'))


def test_gazebo_agent_starts_gazebo_the_arm_and_the_bridge():
    """Gazebo runs at once, the arm spawns from /robot_description, the bridge and RSP start."""
    tree = _tree('gazebo_agent.launch.py')
    nodes = {(literal(keyword(call, 'package')), literal(keyword(call, 'executable')))
             for call in node_actions(tree)}
    assert nodes == {('ros_gz_sim', 'create'), ('controller_manager', 'spawner'),
                     ('robot_state_publisher', 'robot_state_publisher'),
                     ('ros_gz_bridge', 'parameter_bridge')}
    (create,) = [call for call in node_actions(tree)
                 if literal(keyword(call, 'executable')) == 'create']
    assert [literal(item) for item in keyword(create, 'arguments').elts][:2] == [
        '-topic', 'robot_description']
    (gazebo,) = [call for call in calls(tree, 'IncludeLaunchDescription')
                 if _included_file(tree, call)[:2] == ('ros_gz_sim', 'gz_sim.launch.py')]
    gz_args = _dict_argument(gazebo, 'launch_arguments')['gz_args']
    assert literal(gz_args.elts[0]).split() == ['-r']
    assert calls(tree, 'bridge_arguments') and calls(tree, 'gazebo_urdf')


def test_gazebo_agent_spawns_the_configured_controllers():
    """Spawners start the controllers of config/gazebo/; the agent commands their JTC.

    The controllers are those each config/gazebo/<arm>_controllers.yaml declares; the agent's
    trajectory controller is the one there, with the gripper joint in it.
    """
    tree = _tree('gazebo_agent.launch.py')
    spawned = {literal(call.args[0]) for call in calls(tree, '_spawner')}
    for arm in list_arms():
        path = CONTROLLERS_DIR / f'{arm}_controllers.yaml'
        manager = yaml.safe_load(path.read_text(encoding='utf-8'))['controller_manager']
        assert spawned == set(manager['ros__parameters']) - {'update_rate'}, arm
    assert (('config', 'gazebo'), False) in share_paths(tree)
    (agent,) = [call for call in calls(tree, 'IncludeLaunchDescription')
                if _included_file(tree, call)[:2] == (PACKAGE, 'agent.launch.py')]
    given = {key: literal(value)
             for key, value in _dict_argument(agent, 'launch_arguments').items()}
    assert given['controller_name'] == gazebo_description.JOINT_TRAJECTORY_CONTROLLER
    assert given['gripper_output'] == 'joint'
    assert (('config', 'arms'), False) in share_paths(tree, agent)


def test_cmake_installs_what_the_launch_files_use():
    """CMakeLists.txt installs launch/ and config/ to share/gato_ros, URDFs to share/.../urdf."""
    text = (REPO / 'CMakeLists.txt').read_text(encoding='utf-8')
    assert re.search(r'install\(DIRECTORY launch config DESTINATION share/\$\{PROJECT_NAME\}\)',
                     text)
    assert re.search(r'install\(DIRECTORY gato_ros/sim/robots/ DESTINATION '
                     r'share/\$\{PROJECT_NAME\}/urdf', text)


@pytest.fixture
def node_parameters():
    """Give agent.launch.py's params file reader, compiled without launch."""
    functions = load_functions(LAUNCH_DIR / 'agent.launch.py',
                               ('node_parameters', '_key_matches'), {'re': re, 'yaml': yaml})
    return functions['node_parameters']


@pytest.mark.parametrize('arm', list_arms())
@pytest.mark.parametrize('namespace', ['', '/', 'robot1', '/lab/robot1'])
def test_arm_params_apply_in_any_namespace(node_parameters, arm, namespace):
    """The shipped per-arm sections (bare node names) reach the nodes in any namespace."""
    path = REPO / 'config' / 'arms' / f'{arm}.yaml'
    inference = node_parameters(str(path), namespace, 'inference_node')
    assert inference['joint_names'][0] == INFERENCE_NODE_JOINTS[arm]
    assert node_parameters(str(path), namespace, 'mujoco_arm') == {'arm': arm}
    assert node_parameters(str(path), namespace, 'image_observer') == {}


def test_namespaced_and_wildcard_sections_follow_rcl_matching(node_parameters, tmp_path):
    """/**, /**/name, /ns/name and /*/name select nodes as rcl does; merged in file order."""
    path = tmp_path / 'params.yaml'
    path.write_text(yaml.safe_dump({
        '/**': {'ros__parameters': {'a': 1, 'b': 0}},
        '/robot1/inference_node': {'ros__parameters': {'b': 2}},
        '/robot2/inference_node': {'ros__parameters': {'b': 3}},
        '/**/inference_node': {'ros__parameters': {'c': 4}},
        '/*/inference_node': {'ros__parameters': {'d': 5}},
        'image_observer': {'ros__parameters': {'e': 6}},
    }, sort_keys=False))
    assert node_parameters(str(path), 'robot1', 'inference_node') == {
        'a': 1, 'b': 2, 'c': 4, 'd': 5}
    assert node_parameters(str(path), '', 'inference_node') == {'a': 1, 'b': 0, 'c': 4}
    assert node_parameters(str(path), 'lab/robot1', 'inference_node') == {
        'a': 1, 'b': 0, 'c': 4}
    assert node_parameters(str(path), 'robot2', 'image_observer') == {'a': 1, 'b': 0, 'e': 6}


def test_bad_params_files_are_rejected(node_parameters, tmp_path):
    """A missing file, a non-mapping, or a matching section without ros__parameters fails."""
    with pytest.raises(FileNotFoundError):
        node_parameters(str(tmp_path / 'missing.yaml'), '', 'inference_node')
    listed = tmp_path / 'list.yaml'
    listed.write_text('- inference_node\n')
    with pytest.raises(ValueError, match='sections'):
        node_parameters(str(listed), '', 'inference_node')
    flat = tmp_path / 'flat.yaml'
    flat.write_text('inference_node:\n  task: lift\n')
    with pytest.raises(ValueError, match='ros__parameters'):
        node_parameters(str(flat), '', 'inference_node')
