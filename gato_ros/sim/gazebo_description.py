"""ROS-free Gazebo (gz sim) description of the simulated arms: URDF additions and controllers.

The shipped URDFs (``gato_ros/sim/robots/*.urdf``) stay plain, as MuJoCo and the other
launch files load them. :func:`gazebo_urdf` returns an arm's URDF text unchanged plus what
Gazebo and ros2_control read:

* a ``world`` link fixed to ``base_link``, so the arm stands instead of toppling over;
* a ``<ros2_control>`` block with the Gazebo hardware plugin: every arm joint and the gripper
  joint with a ``position`` command interface (the URDF's limits) and ``position``/``velocity``
  state interfaces starting at the arm's home pose; the mimicking finger follows the gripper;
* the gz_ros2_control system plugin with the controllers file (:func:`controllers_yaml`);
* a fixed scene camera where the MuJoCo scene has it (same view, size and rate), publishing
  :data:`CAMERA_TOPIC` for ``ros_gz_bridge`` (:func:`bridge_arguments`).

Two flavours: ``gz`` (gz_ros2_control's names, Jazzy and Kilted with Gazebo Harmonic or
later) and ``ign`` (its ``ign_ros2_control`` names, Humble with Ignition Fortress). Only the
standard library, yaml, :mod:`gato_ros.sim.arms` and :mod:`gato_ros.sim.camera` are imported,
so launch files can use this module cheaply.
"""

from dataclasses import dataclass
import math
import xml.etree.ElementTree as ElementTree

from gato_ros.sim.arms import BASE_LINK, load_arm
from gato_ros.sim.camera import SceneCamera
import yaml

CAMERA_TOPIC = '/camera/image_raw'
CLOCK_TOPIC = '/clock'
CONTROLLER_MANAGER = 'controller_manager'
JOINT_STATE_BROADCASTER = 'joint_state_broadcaster'
JOINT_TRAJECTORY_CONTROLLER = 'joint_trajectory_controller'
CONTROLLER_TYPES = {
    JOINT_STATE_BROADCASTER: 'joint_state_broadcaster/JointStateBroadcaster',
    JOINT_TRAJECTORY_CONTROLLER: 'joint_trajectory_controller/JointTrajectoryController',
}
WORLD_LINK = 'world'
CAMERA_LINK = 'scene_camera_link'
CAMERA_OPTICAL_FRAME = 'scene_camera_optical_frame'


@dataclass(frozen=True)
class GazeboFlavour:
    """Plugin, tag and message names that differ between gz (Jazzy+) and ign (Humble)."""

    hardware_plugin: str
    system_plugin_file: str
    system_plugin_name: str
    sensors_plugin_file: str
    sensors_plugin_name: str
    frame_id_tag: str
    message_prefix: str
    mimic_in_urdf: bool


FLAVOURS = {
    'gz': GazeboFlavour(
        hardware_plugin='gz_ros2_control/GazeboSimSystem',
        system_plugin_file='gz_ros2_control-system',
        system_plugin_name='gz_ros2_control::GazeboSimROS2ControlPlugin',
        sensors_plugin_file='gz-sim-sensors-system',
        sensors_plugin_name='gz::sim::systems::Sensors',
        frame_id_tag='gz_frame_id',
        message_prefix='gz.msgs',
        # Jazzy's ros2_control reads mimic joints from the URDF <mimic> tag.
        mimic_in_urdf=True),
    'ign': GazeboFlavour(
        hardware_plugin='ign_ros2_control/IgnitionSystem',
        system_plugin_file='ign_ros2_control-system',
        system_plugin_name='ign_ros2_control::IgnitionROS2ControlPlugin',
        sensors_plugin_file='ignition-gazebo-sensors-system',
        sensors_plugin_name='ignition::gazebo::systems::Sensors',
        frame_id_tag='ignition_frame_id',
        message_prefix='ignition.msgs',
        # Humble's ros2_control wants mimic parameters inside <ros2_control>.
        mimic_in_urdf=False),
}


def flavour_names():
    """Return the Gazebo flavours :func:`gazebo_urdf` accepts.

    Returns:
        list[str]: ``['gz', 'ign']``.
    """
    return sorted(FLAVOURS)


def gazebo_urdf(arm_name, flavour='gz', controllers_path='', sensors_system=True,
                camera=SceneCamera()):
    """Return an arm's URDF text for Gazebo: the shipped file plus Gazebo's elements.

    Args:
        arm_name: An arm of ``gato_ros.sim.arms.list_arms()``.
        flavour: ``'gz'`` (Jazzy, Kilted) or ``'ign'`` (Humble with Ignition Fortress).
        controllers_path: Absolute path of the controller_manager params file (e.g. the
            installed ``config/gazebo/<arm>_controllers.yaml``); the plugin loads it.
        sensors_system: Also load Gazebo's Sensors system, which renders the camera; False
            when the world already loads it (``empty.sdf`` does not).
        camera: The scene camera.

    Returns:
        str: The URDF document.

    Raises:
        ValueError: On an unknown arm or flavour, or a mimic joint with an offset (the
            Gazebo plugins have none).
    """
    gazebo = _flavour(flavour)
    arm = load_arm(arm_name)
    text = arm.urdf_path.read_text(encoding='utf-8')
    root = ElementTree.fromstring(text)
    added = [*_world_anchor(), _ros2_control(arm, root, gazebo),
             _control_plugin(gazebo, controllers_path), *_camera(camera, gazebo)]
    if sensors_system:
        added.append(_sensors_plugin(gazebo))
    # Inserted as text before </robot>: the shipped file, comments included, stays as it is.
    end = text.rindex('</robot>')
    return text[:end] + ''.join(_element_text(element) for element in added) + text[end:]


def bridge_arguments(flavour='gz'):
    """Return the ``ros_gz_bridge parameter_bridge`` arguments: clock and camera image.

    Args:
        flavour: ``'gz'`` or ``'ign'`` (the Gazebo message names differ).

    Returns:
        list[str]: ``<topic>@<ROS type>[<Gazebo type>`` rules (Gazebo to ROS only).

    Raises:
        ValueError: On an unknown flavour.
    """
    prefix = _flavour(flavour).message_prefix
    return [f'{CLOCK_TOPIC}@rosgraph_msgs/msg/Clock[{prefix}.Clock',
            f'{CAMERA_TOPIC}@sensor_msgs/msg/Image[{prefix}.Image']


def controllers_parameters(arm_name, update_rate_hz=100):
    """Build the controller_manager params of an arm: joint states and one trajectory controller.

    The trajectory controller holds the arm joints then the gripper joint, as the agent's
    ``gripper_output: joint`` commands them (``config/arms/<arm>.yaml``).

    Args:
        arm_name: An arm of ``gato_ros.sim.arms.list_arms()``.
        update_rate_hz: The controller manager's rate (Hz, an integer).

    Returns:
        dict: ``{node_name: {'ros__parameters': {...}}}``, the layout of a ROS params file.

    Raises:
        ValueError: On an unknown arm or a rate that is not a positive integer.
    """
    if int(update_rate_hz) != update_rate_hz or update_rate_hz < 1:
        raise ValueError(f'update_rate_hz must be a positive integer, got {update_rate_hz}')
    arm = load_arm(arm_name)
    manager = {'update_rate': int(update_rate_hz)}
    manager.update({name: {'type': kind} for name, kind in CONTROLLER_TYPES.items()})
    trajectory = {'joints': list(arm.joint_names), 'command_interfaces': ['position'],
                  'state_interfaces': ['position', 'velocity']}
    return {CONTROLLER_MANAGER: {'ros__parameters': manager},
            JOINT_TRAJECTORY_CONTROLLER: {'ros__parameters': trajectory}}


def controllers_yaml(arm_name, update_rate_hz=100):
    """Render :func:`controllers_parameters` as ``config/gazebo/<arm>_controllers.yaml`` text.

    Args:
        arm_name: An arm of ``gato_ros.sim.arms.list_arms()``.
        update_rate_hz: The controller manager's rate (Hz).

    Returns:
        str: YAML text with a header comment.
    """
    header = (f'# ros2_control controllers of the Gazebo {arm_name}, derived from its URDF by\n'
              '# gato_ros.sim.gazebo_description (a test keeps this file equal to it).\n')
    return header + yaml.safe_dump(controllers_parameters(arm_name, update_rate_hz),
                                   sort_keys=False)


def camera_rpy(camera=SceneCamera()):
    """Return the roll, pitch, yaw that point a Gazebo camera link at the camera's target.

    Gazebo cameras look along their link's +x axis with +z up; with no roll the image stays
    upright.

    Args:
        camera: The scene camera.

    Returns:
        tuple[float, float, float]: URDF ``rpy`` (rad) of the camera link in ``base_link``.
    """
    dx, dy, dz = (t - p for t, p in zip(camera.target_m, camera.position_m))
    return 0.0, math.atan2(-dz, math.hypot(dx, dy)), math.atan2(dy, dx)


def _flavour(name):
    """Return a flavour's names, or raise ValueError for an unknown one."""
    if name not in FLAVOURS:
        raise ValueError(f'unknown Gazebo flavour {name!r}; expected one of {flavour_names()}')
    return FLAVOURS[name]


def _number(value):
    """Format a float for XML so that it reads back exactly."""
    return repr(float(value))


def _element_text(element):
    """Serialize an added element, indented like the shipped URDF's top-level elements."""
    ElementTree.indent(element, space='  ', level=1)
    return '  ' + ElementTree.tostring(element, encoding='unicode').rstrip() + '\n'


def _fixed_joint(name, parent, child, xyz=(0.0, 0.0, 0.0), rpy=(0.0, 0.0, 0.0)):
    """Build a URDF fixed joint."""
    joint = ElementTree.Element('joint', name=name, type='fixed')
    ElementTree.SubElement(joint, 'parent', link=parent)
    ElementTree.SubElement(joint, 'child', link=child)
    ElementTree.SubElement(joint, 'origin', xyz=' '.join(map(_number, xyz)),
                           rpy=' '.join(map(_number, rpy)))
    return joint


def _world_anchor():
    """Return the world link and its fixed joint to base_link.

    Gazebo turns a joint to a link named ``world`` into a joint to the world: without it the
    spawned arm would be a free body and fall over.
    """
    return [ElementTree.Element('link', name=WORLD_LINK),
            _fixed_joint(f'{WORLD_LINK}-{BASE_LINK}', WORLD_LINK, BASE_LINK)]


def _ros2_control(arm, root, gazebo):
    """Build the <ros2_control> block: the actuated joints, then the mimicking finger."""
    system = ElementTree.Element('ros2_control', name='GazeboSimSystem', type='system')
    hardware = ElementTree.SubElement(system, 'hardware')
    ElementTree.SubElement(hardware, 'plugin').text = gazebo.hardware_plugin
    for name, lower, upper, home in zip(arm.joint_names, arm.lower_limits, arm.upper_limits,
                                        arm.home_positions):
        joint = ElementTree.SubElement(system, 'joint', name=name)
        command = ElementTree.SubElement(joint, 'command_interface', name='position')
        ElementTree.SubElement(command, 'param', name='min').text = _number(lower)
        ElementTree.SubElement(command, 'param', name='max').text = _number(upper)
        _state_interfaces(joint, home)
    _mimic_joint(system, root, arm, gazebo)
    return system


def _state_interfaces(joint, initial_position):
    """Add position (starting at initial_position) and velocity state interfaces to a joint."""
    position = ElementTree.SubElement(joint, 'state_interface', name='position')
    ElementTree.SubElement(position, 'param', name='initial_value').text = _number(
        initial_position)
    ElementTree.SubElement(joint, 'state_interface', name='velocity')


def _mimic_joint(system, root, arm, gazebo):
    """Add the finger that mimics the gripper joint, so the plugin moves it along.

    Jazzy and later take the multiplier from the URDF's <mimic> and want no command
    interface on the mimic joint; Humble wants ``mimic``/``multiplier`` parameters and a
    position command interface, which its plugin drives (controllers never claim it).
    """
    element = root.find(f"joint[@name='{arm.gripper_mimic_joint}']/mimic")
    multiplier = float(element.get('multiplier', 1.0))
    if float(element.get('offset', 0.0)) != 0.0:
        raise ValueError(f'{arm.urdf_path}: a mimic offset is not supported in Gazebo')
    joint = ElementTree.SubElement(system, 'joint', name=arm.gripper_mimic_joint)
    if not gazebo.mimic_in_urdf:
        ElementTree.SubElement(joint, 'param', name='mimic').text = arm.gripper_joint_name
        ElementTree.SubElement(joint, 'param', name='multiplier').text = _number(multiplier)
        ElementTree.SubElement(joint, 'command_interface', name='position')
    _state_interfaces(joint, multiplier * arm.home_positions[-1])


def _control_plugin(gazebo, controllers_path):
    """Build the <gazebo> element that loads the ros2_control system plugin."""
    element = ElementTree.Element('gazebo')
    plugin = ElementTree.SubElement(element, 'plugin', filename=gazebo.system_plugin_file,
                                    name=gazebo.system_plugin_name)
    ElementTree.SubElement(plugin, 'parameters').text = str(controllers_path)
    return element


def _sensors_plugin(gazebo):
    """Build the <gazebo> element that loads the Sensors system (it renders cameras)."""
    element = ElementTree.Element('gazebo')
    plugin = ElementTree.SubElement(element, 'plugin', filename=gazebo.sensors_plugin_file,
                                    name=gazebo.sensors_plugin_name)
    ElementTree.SubElement(plugin, 'render_engine').text = 'ogre2'
    return element


def _camera(camera, gazebo):
    """Build the camera link, its optical frame and the <gazebo> camera sensor."""
    link = ElementTree.Element('link', name=CAMERA_LINK)
    joint = _fixed_joint(f'{BASE_LINK}-{CAMERA_LINK}', BASE_LINK, CAMERA_LINK,
                         camera.position_m, camera_rpy(camera))
    # ROS optical convention (z forward, x right, y down) for the image's frame_id.
    optical = ElementTree.Element('link', name=CAMERA_OPTICAL_FRAME)
    optical_joint = _fixed_joint(f'{CAMERA_LINK}-{CAMERA_OPTICAL_FRAME}', CAMERA_LINK,
                                 CAMERA_OPTICAL_FRAME, rpy=(-0.5 * math.pi, 0.0, -0.5 * math.pi))
    return [link, joint, optical, optical_joint, _camera_sensor(camera, gazebo)]


def _camera_sensor(camera, gazebo):
    """Build the <gazebo> element holding the camera sensor of the camera link."""
    element = ElementTree.Element('gazebo', reference=CAMERA_LINK)
    sensor = ElementTree.SubElement(element, 'sensor', name='scene_camera', type='camera')
    for tag, value in (('always_on', 'true'), ('update_rate', _number(camera.rate_hz)),
                       ('topic', CAMERA_TOPIC), (gazebo.frame_id_tag, CAMERA_OPTICAL_FRAME)):
        ElementTree.SubElement(sensor, tag).text = value
    optics = ElementTree.SubElement(sensor, 'camera')
    # SDF wants the horizontal field of view; MuJoCo's scene camera gives the vertical one.
    half_fovy = 0.5 * math.radians(camera.fovy_deg)
    horizontal_fov = 2.0 * math.atan(math.tan(half_fovy) * camera.width / camera.height)
    ElementTree.SubElement(optics, 'horizontal_fov').text = _number(horizontal_fov)
    image = ElementTree.SubElement(optics, 'image')
    for tag, value in (('width', camera.width), ('height', camera.height), ('format', 'R8G8B8')):
        ElementTree.SubElement(image, tag).text = str(value)
    clip = ElementTree.SubElement(optics, 'clip')
    ElementTree.SubElement(clip, 'near').text = _number(camera.near_m)
    ElementTree.SubElement(clip, 'far').text = _number(camera.far_m)
    return element
