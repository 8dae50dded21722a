"""Tests of gato_ros.sim.arms and the URDF files it reads."""

import math
import xml.etree.ElementTree as ElementTree

from gato_ros.sim.arms import BASE_LINK, list_arms, load_arm, read_urdf_joints
import mujoco
import numpy as np
import pytest


def _urdf_root(arm_name):
    """Parse an arm's URDF with the standard library only."""
    return ElementTree.parse(load_arm(arm_name).urdf_path).getroot()


def _forward_kinematics(arm_name, positions, body):
    """Return a body's position with the arm's URDF compiled bare by MuJoCo."""
    spec = mujoco.MjSpec.from_file(str(load_arm(arm_name).urdf_path))
    spec.compiler.fusestatic = False
    model = spec.compile()
    data = mujoco.MjData(model)
    for name, value in zip(load_arm(arm_name).joint_names, positions):
        data.joint(name).qpos[0] = value
    mujoco.mj_forward(model, data)
    return data.body(body).xpos.copy()


def test_list_arms():
    """Both embodiments are listed, sorted."""
    assert list_arms() == ['panda', 'ur5e']


@pytest.mark.parametrize('arm_name, n_arm_joints, gripper', [
    ('panda', 7, 'panda_finger_joint1'), ('ur5e', 6, 'ur5e_finger_joint1')])
def test_load_arm_reads_joints_from_urdf(arm_name, n_arm_joints, gripper):
    """Arm joints then one gripper joint, limits per joint, home inside them, gripper open."""
    arm = load_arm(arm_name)
    assert arm.n_arm_joints == n_arm_joints
    assert arm.gripper_joint_name == gripper
    assert arm.arm_joint_names == arm.joint_names[:-1]
    assert arm.gripper_mimic_joint == gripper[:-1] + '2'
    for values in (arm.lower_limits, arm.upper_limits, arm.max_velocities, arm.home_positions):
        assert len(values) == n_arm_joints + 1
    lower, upper = np.array(arm.lower_limits), np.array(arm.upper_limits)
    assert np.all(lower < upper)
    assert np.all((lower <= arm.home_positions) & (arm.home_positions <= upper))
    assert (arm.lower_limits[-1], arm.upper_limits[-1]) == (0.0, 0.04)
    assert arm.home_positions[-1] == arm.upper_limits[-1]


def test_panda_limits_are_the_published_ones():
    """Franka's datasheet joint position and velocity limits."""
    arm = load_arm('panda')
    assert arm.upper_limits[:-1] == (2.8973, 1.7628, 2.8973, -0.0698, 2.8973, 3.7525, 2.8973)
    assert arm.lower_limits[:-1] == (-2.8973, -1.7628, -2.8973, -3.0718, -2.8973, -0.0175,
                                     -2.8973)
    assert arm.max_velocities[:-1] == (2.175,) * 4 + (2.61,) * 3


def test_ur5e_limits_are_the_published_ones():
    """UR5e: +-2 pi everywhere but the elbow (+-pi), 180 deg/s."""
    arm = load_arm('ur5e')
    two_pi = 2 * math.pi
    assert arm.upper_limits[:-1] == (two_pi, two_pi, math.pi, two_pi, two_pi, two_pi)
    assert arm.lower_limits[:-1] == tuple(-v for v in arm.upper_limits[:-1])
    assert np.allclose(arm.max_velocities[:-1], math.pi, atol=1e-5)


def test_panda_tool_centre_point_matches_published_kinematics():
    """Franka's 'ready' pose puts the hand's tool centre point at (0.307, 0, 0.487) m."""
    ready = [0.0, -math.pi / 4, 0.0, -3 * math.pi / 4, 0.0, math.pi / 2, math.pi / 4, 0.0]
    tcp = _forward_kinematics('panda', ready, 'panda_tcp')
    assert np.allclose(tcp, [0.3069, 0.0, 0.4866], atol=1e-3)


def test_ur5e_flange_matches_published_kinematics():
    """At zero angles the flange is at (a2 + a3, -(d4 + d6), d1 - d5), turned half a turn.

    ROS's base_link is the DH base frame turned half a turn about z.
    """
    tool0 = _forward_kinematics('ur5e', [0.0] * 7, 'tool0')
    assert np.allclose(tool0, [0.425 + 0.3922, 0.1333 + 0.0996, 0.1625 - 0.0997], atol=1e-6)


@pytest.mark.parametrize('arm_name', ['panda', 'ur5e'])
def test_urdf_is_one_tree_rooted_at_base_link(arm_name):
    """Every link has at most one parent joint and base_link is the only root."""
    root = _urdf_root(arm_name)
    links = {link.get('name') for link in root.findall('link')}
    children = [joint.find('child').get('link') for joint in root.findall('joint')]
    parents = {joint.find('parent').get('link') for joint in root.findall('joint')}
    assert len(children) == len(set(children))
    assert set(children) | parents <= links
    assert links - set(children) == {BASE_LINK} == {'base_link'}


@pytest.mark.parametrize('arm_name', ['panda', 'ur5e'])
def test_urdf_moving_links_have_physical_inertia(arm_name):
    """Positive mass, positive-definite inertia obeying the triangle inequality."""
    root = _urdf_root(arm_name)
    moving = {joint.find('child').get('link') for joint in root.findall('joint')
              if joint.get('type') != 'fixed'}
    for link in root.findall('link'):
        if link.get('name') not in moving:
            continue
        inertial = link.find('inertial')
        assert float(inertial.find('mass').get('value')) > 0.0
        i = inertial.find('inertia')
        tensor = np.array([[float(i.get(a)) for a in row] for row in
                           (('ixx', 'ixy', 'ixz'), ('ixy', 'iyy', 'iyz'),
                            ('ixz', 'iyz', 'izz'))])
        principal = np.linalg.eigvalsh(tensor)
        assert principal.min() > 0.0, link.get('name')
        assert principal[0] + principal[1] >= principal[2] * (1 - 1e-6), link.get('name')


def test_read_urdf_joints_reports_mimic_and_limits():
    """Mimic joints, limits and fixed joints (without limits) are read as written."""
    joints = {j.name: j for j in read_urdf_joints(load_arm('panda').urdf_path)}
    assert joints['panda_finger_joint2'].mimic == 'panda_finger_joint1'
    assert joints['panda_joint4'].upper == -0.0698
    assert joints['panda_joint8'].joint_type == 'fixed'
    assert joints['panda_joint8'].lower is None


def test_read_urdf_joints_rejects_missing_and_non_urdf_files(tmp_path):
    """A missing file and a non-URDF XML document raise clear errors."""
    with pytest.raises(FileNotFoundError, match='URDF file not found'):
        read_urdf_joints(tmp_path / 'missing.urdf')
    sdf = tmp_path / 'model.sdf'
    sdf.write_text('<sdf version="1.9"/>')
    with pytest.raises(ValueError, match='expected a <robot> root element'):
        read_urdf_joints(sdf)


def test_load_arm_rejects_unknown_arm():
    """An unknown arm name raises ValueError naming it."""
    with pytest.raises(ValueError, match="unknown arm 'kuka'"):
        load_arm('kuka')
