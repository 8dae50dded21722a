"""Tests of gato_ros.sim.gazebo_description: the Gazebo URDF, the bridge and the controllers."""

import ast
import math
from pathlib import Path
import xml.etree.ElementTree as ElementTree

import gato_ros.sim
from gato_ros.sim import arms, camera as camera_module, gazebo_description
from gato_ros.sim.arms import list_arms, load_arm, read_urdf_joints
from gato_ros.sim.camera import SceneCamera
from gato_ros.sim.gazebo_description import (
    bridge_arguments, camera_rpy, CAMERA_TOPIC, controllers_parameters, controllers_yaml,
    flavour_names, FLAVOURS, gazebo_urdf)
from gato_ros.sim.scene import SceneConfig
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONTROLLERS = '/opt/lab/share/gato_ros/config/gazebo/panda_controllers.yaml'
ARMS_AND_FLAVOURS = [(arm, flavour) for arm in list_arms() for flavour in flavour_names()]
# What the description module may import: launch files load it, so it must stay light.
LIGHT_IMPORTS = {'dataclasses', 'math', 'os', 'pathlib', 'xml.etree.ElementTree',
                 'gato_ros.sim.arms', 'gato_ros.sim.camera', 'yaml'}


def _root(arm, flavour, **kwargs):
    return ElementTree.fromstring(gazebo_urdf(arm, flavour, CONTROLLERS, **kwargs))


def _rotation(rpy):
    """Return the rotation matrix of a URDF rpy: Rz(yaw) Ry(pitch) Rx(roll)."""
    roll, pitch, yaw = rpy
    c, s = np.cos, np.sin
    rx = np.array([[1, 0, 0], [0, c(roll), -s(roll)], [0, s(roll), c(roll)]])
    ry = np.array([[c(pitch), 0, s(pitch)], [0, 1, 0], [-s(pitch), 0, c(pitch)]])
    rz = np.array([[c(yaw), -s(yaw), 0], [s(yaw), c(yaw), 0], [0, 0, 1]])
    return rz @ ry @ rx


def _controlled_joints(root):
    (system,) = root.findall('ros2_control')
    return system.findall('joint')


def test_flavours():
    """Flavour gz is for Jazzy/Kilted, ign for Humble; unknown ones and arms are rejected."""
    assert flavour_names() == ['gz', 'ign']
    with pytest.raises(ValueError, match='flavour'):
        gazebo_urdf('panda', 'classic')
    with pytest.raises(ValueError, match='unknown arm'):
        gazebo_urdf('nope')


@pytest.mark.parametrize('arm, flavour', ARMS_AND_FLAVOURS)
def test_urdf_is_the_shipped_file_plus_additions(arm, flavour):
    """The result parses, keeps the shipped text unchanged, and forms one tree under world."""
    text = load_arm(arm).urdf_path.read_text(encoding='utf-8')
    urdf = gazebo_urdf(arm, flavour, CONTROLLERS)
    assert urdf.startswith(text[:text.rindex('</robot>')]) and urdf.endswith('</robot>\n')
    root = ElementTree.fromstring(urdf)
    assert root.tag == 'robot'
    links = [link.get('name') for link in root.findall('link')]
    children = [joint.find('child').get('link') for joint in root.findall('joint')]
    assert len(set(links)) == len(links) and sorted(children) == sorted(set(links) - {'world'})
    (anchor,) = [joint for joint in root.findall('joint')
                 if joint.find('parent').get('link') == 'world']
    assert anchor.get('type') == 'fixed' and anchor.find('child').get('link') == 'base_link'


@pytest.mark.parametrize('arm, flavour', ARMS_AND_FLAVOURS)
def test_ros2_control_commands_exactly_the_actuated_joints(arm, flavour):
    """Movable non-mimic joints get position commands with the URDF's limits, then the mimic."""
    spec = load_arm(arm)
    urdf_joints = read_urdf_joints(spec.urdf_path)
    actuated = [joint for joint in urdf_joints
                if joint.joint_type in ('revolute', 'prismatic') and joint.mimic is None]
    root = _root(arm, flavour)
    (system,) = root.findall('ros2_control')
    assert system.find('hardware/plugin').text == FLAVOURS[flavour].hardware_plugin
    joints = _controlled_joints(root)
    commanded = [joint for joint in joints if joint.find("param[@name='mimic']") is None
                 and joint.get('name') != spec.gripper_mimic_joint]
    assert [joint.get('name') for joint in commanded] == [joint.name for joint in actuated]
    for element, urdf_joint, home in zip(commanded, actuated, spec.home_positions):
        (command,) = element.findall('command_interface')
        assert command.get('name') == 'position'
        assert float(command.find("param[@name='min']").text) == urdf_joint.lower
        assert float(command.find("param[@name='max']").text) == urdf_joint.upper
        states = element.findall('state_interface')
        assert [state.get('name') for state in states] == ['position', 'velocity']
        initial = float(states[0].find("param[@name='initial_value']").text)
        assert initial == home and urdf_joint.lower <= initial <= urdf_joint.upper
    assert {joint.get('name') for joint in joints} <= {joint.name for joint in urdf_joints}


@pytest.mark.parametrize('arm, flavour', ARMS_AND_FLAVOURS)
def test_mimic_finger_follows_the_gripper(arm, flavour):
    """gz: state interfaces only (URDF <mimic>); ign: Humble's mimic/multiplier parameters."""
    spec = load_arm(arm)
    (mimic,) = [joint for joint in _controlled_joints(_root(arm, flavour))
                if joint.get('name') == spec.gripper_mimic_joint]
    params = {param.get('name'): param.text for param in mimic.findall('param')}
    commands = [command.get('name') for command in mimic.findall('command_interface')]
    if flavour == 'gz':
        assert params == {} and commands == []
    else:
        assert params == {'mimic': spec.gripper_joint_name, 'multiplier': '1.0'}
        assert commands == ['position']
    assert [state.get('name') for state in mimic.findall('state_interface')] == [
        'position', 'velocity']


@pytest.mark.parametrize('arm, flavour', ARMS_AND_FLAVOURS)
def test_plugins_follow_the_flavour(arm, flavour):
    """The control plugin loads the controllers file; the Sensors system only when asked."""
    names = FLAVOURS[flavour]
    plugins = {plugin.get('name'): plugin for plugin in _root(arm, flavour).iter('plugin')
               if plugin.get('filename')}
    control = plugins[names.system_plugin_name]
    assert control.get('filename') == names.system_plugin_file
    assert control.find('parameters').text == CONTROLLERS
    assert plugins[names.sensors_plugin_name].get('filename') == names.sensors_plugin_file
    assert flavour in names.system_plugin_file and flavour in names.hardware_plugin
    without = _root(arm, flavour, sensors_system=False)
    assert [plugin.get('name') for plugin in without.iter('plugin') if plugin.get('filename')] == [
        names.system_plugin_name]


@pytest.mark.parametrize('arm, flavour', ARMS_AND_FLAVOURS)
def test_camera_sensor_publishes_the_scene_view(arm, flavour):
    """A camera sensor on a fixed link publishes CAMERA_TOPIC at the MuJoCo camera's size."""
    root = _root(arm, flavour)
    (gazebo,) = [element for element in root.findall('gazebo') if element.find('sensor')
                 is not None]
    sensor = gazebo.find('sensor')
    assert sensor.get('type') == 'camera' and sensor.find('topic').text == CAMERA_TOPIC
    frame = sensor.find(FLAVOURS[flavour].frame_id_tag).text
    links = {link.get('name') for link in root.findall('link')}
    assert gazebo.get('reference') in links and frame in links
    camera = SceneCamera()
    assert int(sensor.find('camera/image/width').text) == camera.width
    assert int(sensor.find('camera/image/height').text) == camera.height
    # Square images: the horizontal field of view is MuJoCo's vertical one.
    assert float(sensor.find('camera/horizontal_fov').text) == pytest.approx(
        math.radians(camera.fovy_deg))
    assert float(sensor.find('update_rate').text) == camera.rate_hz


def test_camera_looks_at_the_target():
    """The link's +x axis (Gazebo) and the optical frame's +z axis (ROS) point at the target."""
    camera = SceneCamera()
    root = _root('panda', 'gz')
    origins = {joint.find('child').get('link'): joint.find('origin')
               for joint in root.findall('joint')}

    def rpy(link):
        return [float(value) for value in origins[link].get('rpy').split()]

    direction = np.subtract(camera.target_m, camera.position_m)
    direction /= np.linalg.norm(direction)
    link_rotation = _rotation(rpy(gazebo_description.CAMERA_LINK))
    assert np.allclose(rpy(gazebo_description.CAMERA_LINK), camera_rpy(camera))
    assert [float(v) for v in origins[gazebo_description.CAMERA_LINK].get('xyz').split()] == list(
        camera.position_m)
    assert np.allclose(link_rotation[:, 0], direction)
    assert link_rotation[2, 2] > 0.0  # upright: the image's up is the world's up
    optical = link_rotation @ _rotation(rpy(gazebo_description.CAMERA_OPTICAL_FRAME))
    assert np.allclose(optical[:, 2], direction)
    assert np.allclose(optical[:, 1], -link_rotation[:, 2])  # image y down


def test_camera_defaults_are_the_mujoco_scene_camera():
    """The MuJoCo scene's pose and field of view; size, rate, frame of config/mujoco_arm.yaml."""
    camera, scene = SceneCamera(), SceneConfig()
    assert camera.position_m == scene.scene_camera_position_m
    assert camera.target_m == scene.scene_camera_target_m
    assert camera.fovy_deg == scene.scene_camera_fovy_deg
    text = (REPO / 'config' / 'mujoco_arm.yaml').read_text(encoding='utf-8')
    simulator = yaml.safe_load(text)['mujoco_arm']['ros__parameters']
    assert (camera.height, camera.width) == (simulator['camera_height'],
                                             simulator['camera_width'])
    assert camera.rate_hz == simulator['camera_rate_hz']
    assert gazebo_description.CAMERA_OPTICAL_FRAME == simulator['camera_frame_id']
    assert CAMERA_TOPIC == simulator['image_topic']


@pytest.mark.parametrize('flavour', ['gz', 'ign'])
def test_bridge_arguments(flavour):
    """Clock and camera image, Gazebo to ROS, with the flavour's message names."""
    prefix = {'gz': 'gz.msgs', 'ign': 'ignition.msgs'}[flavour]
    assert bridge_arguments(flavour) == [
        f'/clock@rosgraph_msgs/msg/Clock[{prefix}.Clock',
        f'{CAMERA_TOPIC}@sensor_msgs/msg/Image[{prefix}.Image']


@pytest.mark.parametrize('arm', list_arms())
def test_shipped_controllers_file_matches(arm):
    """config/gazebo/<arm>_controllers.yaml is what the module gives (regenerate it if not)."""
    path = REPO / 'config' / 'gazebo' / f'{arm}_controllers.yaml'
    assert path.read_text(encoding='utf-8') == controllers_yaml(arm)


@pytest.mark.parametrize('arm', list_arms())
def test_trajectory_controller_joints_are_the_agents(arm):
    """The JTC holds the arm file's inference joints then its gripper joint, by position."""
    agent = yaml.safe_load((REPO / 'config' / 'arms' / f'{arm}.yaml').read_text(
        encoding='utf-8'))['inference_node']['ros__parameters']
    params = yaml.safe_load((REPO / 'config' / 'gazebo' / f'{arm}_controllers.yaml').read_text(
        encoding='utf-8'))
    trajectory = params['joint_trajectory_controller']['ros__parameters']
    assert trajectory['joints'] == [*agent['joint_names'], agent['gripper_joint_name']]
    assert trajectory['command_interfaces'] == ['position']
    assert trajectory['state_interfaces'] == ['position', 'velocity']
    manager = params['controller_manager']['ros__parameters']
    assert manager['update_rate'] == 100
    assert manager['joint_state_broadcaster']['type'] == (
        'joint_state_broadcaster/JointStateBroadcaster')


def test_controller_rate_must_be_a_positive_integer():
    """0, negative and fractional rates are rejected."""
    assert controllers_parameters('ur5e', 50)['controller_manager']['ros__parameters'][
        'update_rate'] == 50
    for rate in (0, -10, 2.5):
        with pytest.raises(ValueError, match='update_rate_hz'):
            controllers_parameters('ur5e', rate)


def test_module_imports_stay_light():
    """Launch files import the module: only the standard library, yaml, arms and camera."""
    for module in (gato_ros.sim, arms, camera_module, gazebo_description):
        imported = set()
        for node in ast.walk(ast.parse(Path(module.__file__).read_text(encoding='utf-8'))):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                imported.add(node.module)
        assert imported <= LIGHT_IMPORTS, (module.__name__, imported - LIGHT_IMPORTS)
