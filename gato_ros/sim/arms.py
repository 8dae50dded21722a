"""Simulated arm embodiments: URDF files plus what the simulator needs beside them.

Each arm is described once, as a URDF in ``gato_ros/sim/robots/`` (the file robot_state_publisher
and Gazebo launch files use too). Joint names, limits and velocity limits are read from that
file, so the simulator, the ROS nodes and the URDF cannot disagree. Only what a URDF cannot say
(the home configuration, which links are the hand and the tool centre point) lives here.

Joint vectors always list the arm joints in chain order, then the gripper: one finger's opening
in metres (0 closed, the upper limit fully open); the second finger mimics the first.
"""

from dataclasses import dataclass
from pathlib import Path
import xml.etree.ElementTree as ElementTree

ROBOTS_DIR = Path(__file__).resolve().parent / 'robots'

_MOVABLE_JOINT_TYPES = ('revolute', 'prismatic')
# Root link of every arm's URDF: the frame of the scene's world origin and of Cartesian twists.
BASE_LINK = 'base_link'


@dataclass(frozen=True)
class ArmSpec:
    """One simulated arm with its parallel-jaw gripper.

    Positions are in rad for revolute joints and in m for the gripper finger; velocities in
    rad/s and m/s. Every per-joint tuple follows ``joint_names``.
    """

    name: str
    urdf_path: Path
    joint_names: tuple
    lower_limits: tuple
    upper_limits: tuple
    max_velocities: tuple
    home_positions: tuple
    hand_link: str
    tcp_link: str
    gripper_mimic_joint: str

    @property
    def n_arm_joints(self) -> int:
        """Return the number of arm joints (without the gripper)."""
        return len(self.joint_names) - 1

    @property
    def arm_joint_names(self) -> tuple:
        """Return the arm joint names, in chain order, without the gripper joint."""
        return self.joint_names[:-1]

    @property
    def gripper_joint_name(self) -> str:
        """Return the name of the actuated gripper finger joint."""
        return self.joint_names[-1]


@dataclass(frozen=True)
class _ArmExtras:
    """What an arm needs beyond its URDF."""

    urdf_file: str
    home_positions: tuple
    hand_link: str
    tcp_link: str


# Home poses put the tool centre point at (0.5, 0, 0.3) m, above the middle of the workspace,
# pointing down with the fingers closing along the world y axis; the gripper starts fully open.
_ARMS = {
    'panda': _ArmExtras(
        urdf_file='panda.urdf',
        home_positions=(0.0, -0.1102, 0.0, -2.2726, 0.0, 2.1624, 0.7854, 0.04),
        hand_link='panda_hand',
        tcp_link='panda_tcp',
    ),
    'ur5e': _ArmExtras(
        urdf_file='ur5e.urdf',
        home_positions=(-0.2699, -1.5735, 1.7864, -1.7838, -1.5708, -1.8407, 0.04),
        hand_link='ur5e_hand',
        tcp_link='ur5e_tcp',
    ),
}


@dataclass(frozen=True)
class UrdfJoint:
    """A joint as written in a URDF file (limits are None when the file gives none)."""

    name: str
    joint_type: str
    lower: float
    upper: float
    velocity: float
    mimic: str


def read_urdf_joints(urdf_path: Path) -> list:
    """Read every joint of a URDF file, in file order.

    Args:
        urdf_path: path of the URDF file.

    Returns:
        A list of UrdfJoint.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: if the file is not a URDF ``<robot>`` document.

    """
    urdf_path = Path(urdf_path)
    if not urdf_path.is_file():
        raise FileNotFoundError(f'URDF file not found: {urdf_path}')
    root = ElementTree.parse(urdf_path).getroot()
    if root.tag != 'robot':
        raise ValueError(f'expected a <robot> root element in {urdf_path}, got <{root.tag}>')
    joints = []
    for element in root.findall('joint'):
        limit = element.find('limit')
        mimic = element.find('mimic')
        joints.append(UrdfJoint(
            name=element.get('name'),
            joint_type=element.get('type'),
            lower=_optional_float(limit, 'lower'),
            upper=_optional_float(limit, 'upper'),
            velocity=_optional_float(limit, 'velocity'),
            mimic=None if mimic is None else mimic.get('joint'),
        ))
    return joints


def _optional_float(element, attribute: str):
    """Return a float attribute of an XML element, or None if the element or value is absent."""
    if element is None or element.get(attribute) is None:
        return None
    return float(element.get(attribute))


def list_arms() -> list:
    """Return the names of the simulated arms, sorted.

    Returns:
        A sorted list of arm names accepted by load_arm.

    """
    return sorted(_ARMS)


def load_arm(name: str) -> ArmSpec:
    """Describe one simulated arm, reading its joints and limits from its URDF.

    Args:
        name: an arm name from list_arms().

    Returns:
        The ArmSpec of that arm.

    Raises:
        ValueError: if the arm is unknown or its URDF does not end with one actuated
            prismatic gripper joint mimicked by a second finger.

    """
    if name not in _ARMS:
        raise ValueError(f'unknown arm {name!r}; expected one of {list_arms()}')
    extras = _ARMS[name]
    urdf_path = ROBOTS_DIR / extras.urdf_file
    joints = read_urdf_joints(urdf_path)
    actuated = [j for j in joints if j.joint_type in _MOVABLE_JOINT_TYPES and j.mimic is None]
    mimics = [j for j in joints if j.mimic is not None]
    if not actuated or actuated[-1].joint_type != 'prismatic' or len(mimics) != 1:
        raise ValueError(
            f'{urdf_path}: expected revolute arm joints then one prismatic gripper joint and one '
            f'mimic finger, got actuated {[j.name for j in actuated]} and mimics '
            f'{[j.name for j in mimics]}')
    if len(extras.home_positions) != len(actuated):
        raise ValueError(
            f'{name}: home has {len(extras.home_positions)} values, the URDF {len(actuated)} '
            'actuated joints')
    return ArmSpec(
        name=name,
        urdf_path=urdf_path,
        joint_names=tuple(j.name for j in actuated),
        lower_limits=tuple(j.lower for j in actuated),
        upper_limits=tuple(j.upper for j in actuated),
        max_velocities=tuple(j.velocity for j in actuated),
        home_positions=extras.home_positions,
        hand_link=extras.hand_link,
        tcp_link=extras.tcp_link,
        gripper_mimic_joint=mimics[0].name,
    )
