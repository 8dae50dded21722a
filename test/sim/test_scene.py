"""Tests of gato_ros.sim.scene: loading, limits, actuation, rendering, camera model, stability."""

import xml.etree.ElementTree as ElementTree

from gato_ros.sim.arms import list_arms, load_arm
from gato_ros.sim.scene import ArmSim, WRIST_IMAGE_KEY
from gato_ros.sim.tasks import COLOURS
import numpy as np
import pytest


@pytest.fixture(scope='module', params=list_arms())
def sim(request):
    """Yield one simulator per arm, shared by the tests of this module."""
    with ArmSim(request.param) as arm_sim:
        yield arm_sim


def _urdf_limits(arm_name):
    """Return {joint: (lower, upper)} of every limited joint, parsed from the URDF XML."""
    root = ElementTree.parse(load_arm(arm_name).urdf_path).getroot()
    return {joint.get('name'): (float(joint.find('limit').get('lower')),
                                float(joint.find('limit').get('upper')))
            for joint in root.findall('joint') if joint.find('limit') is not None}


def test_scene_loads_each_arm(sim):
    """The arm's joints, one position actuator each, both cameras and the tool site exist."""
    arm = sim.arm
    assert sim.joint_names == arm.joint_names
    assert sim.model.nu == len(arm.joint_names)
    assert {sim.model.actuator(i).name for i in range(sim.model.nu)} == set(arm.joint_names)
    assert {sim.model.camera(i).name for i in range(sim.model.ncam)} == {'scene', 'wrist'}
    assert sim.instruction == '' and not sim.success()


def test_mujoco_joint_limits_equal_urdf(sim):
    """Every URDF joint limit (arm, gripper and mimic finger) is the MuJoCo joint range."""
    limits = _urdf_limits(sim.arm.name)
    assert len(limits) == len(sim.arm.joint_names) + 1
    for name, (lower, upper) in limits.items():
        joint = sim.model.joint(name)
        assert joint.limited[0] == 1
        assert tuple(joint.range) == (lower, upper), name


def test_home_pose_points_the_tool_down_over_the_workspace(sim):
    """After a reset without noise the tool is at (0.5, 0, 0.3) m pointing down."""
    sim.reset('reach_target', 0)
    sim.data.qpos[:] = sim.model.qpos0
    sim.set_joint_targets(sim.arm.home_positions)
    for name, value in zip(sim.joint_names, sim.arm.home_positions):
        sim.data.joint(name).qpos[0] = value
    sim.step(sim.physics_dt_s)
    assert np.allclose(sim.tcp_position(), [0.5, 0.0, 0.3], atol=2e-3)
    assert np.allclose(sim.tcp_rotation()[:, 2], [0.0, 0.0, -1.0], atol=1e-2)


def test_position_actuators_track_targets(sim):
    """Targets 0.1 rad away are reached within 1 s, to within 5 mrad; time advances."""
    sim.reset('reach_target', 1)
    targets = sim.joint_positions() + np.append(np.full(sim.arm.n_arm_joints, 0.1), -0.02)
    start_s = sim.time_s
    sim.set_joint_targets(targets)
    sim.step(1.0)
    assert sim.time_s == pytest.approx(start_s + 1.0)
    assert np.allclose(sim.joint_positions(), targets, atol=5e-3)
    assert np.all(np.abs(sim.joint_velocities()) < 0.05)


def test_set_joint_targets_clamps_to_limits(sim):
    """Targets beyond the limits are clamped to them."""
    sim.reset('reach_target', 2)
    sim.set_joint_targets(np.array(sim.arm.upper_limits) + 1.0)
    assert np.array_equal(sim.joint_targets(), sim.arm.upper_limits)
    sim.set_joint_targets(np.array(sim.arm.lower_limits) - 1.0)
    assert np.array_equal(sim.joint_targets(), sim.arm.lower_limits)


def test_set_joint_targets_rejects_bad_input(sim):
    """Wrong length or non-finite targets or velocities raise ValueError."""
    home = np.array(sim.arm.home_positions)
    with pytest.raises(ValueError, match='joint targets'):
        sim.set_joint_targets(np.zeros(3))
    bad = home.copy()
    bad[0] = np.nan
    with pytest.raises(ValueError, match='finite'):
        sim.set_joint_targets(bad)
    with pytest.raises(ValueError, match='joint velocities'):
        sim.set_joint_targets(home, np.zeros(2))


def test_target_velocities_are_fed_forward_not_stored(sim):
    """A moving target leads the servo command; joint_targets still reports the position."""
    sim.reset('reach_target', 2)
    home = np.array(sim.arm.home_positions)
    velocities = np.append(np.full(sim.arm.n_arm_joints, 0.5), 0.0)
    sim.set_joint_targets(home, velocities)
    assert np.array_equal(sim.joint_targets(), home)
    lead = np.array([sim.data.actuator(name).ctrl[0] for name in sim.joint_names]) - home
    assert np.all(lead[:-1] > 0.0) and lead[-1] == 0.0


@pytest.mark.parametrize('camera', ['scene', 'wrist'])
def test_render_returns_rgb_image(sim, camera):
    """Renders are uint8 (64, 64, 3) and show something (not one flat colour)."""
    sim.reset('stack_blocks', 0)
    image = sim.render(camera)
    assert image.shape == (64, 64, 3) and image.dtype == np.uint8
    assert image.reshape(-1, 3).std(axis=0).max() > 10.0


def test_observation_has_joints_and_image(sim):
    """Observation: float32 joint positions and the default camera image (or no image)."""
    sim.reset('lift_block', 0)
    observation = sim.observation()
    assert observation['joints'].dtype == np.float32
    assert np.allclose(observation['joints'], sim.joint_positions())
    assert observation['image'].shape == (64, 64, 3)
    assert set(sim.observation(include_image=False)) == {'joints'}


def test_wrist_image_is_a_second_view_in_the_observation():
    """wrist_image adds the wrist camera's frame beside the default camera's."""
    with ArmSim('panda', wrist_image=True) as sim:
        sim.reset('lift_block', 0)
        observation = sim.observation()
        assert sorted(observation) == ['image', WRIST_IMAGE_KEY, 'joints']
        np.testing.assert_array_equal(observation[WRIST_IMAGE_KEY], sim.render('wrist'))
        np.testing.assert_array_equal(observation['image'], sim.render('scene'))
        assert set(sim.observation(include_image=False)) == {'joints'}
    with pytest.raises(ValueError, match='wrist_image'):
        ArmSim('panda', camera='wrist', wrist_image=True)


def test_render_size_and_intrinsics_follow_image_size():
    """A non-square size renders (height, width, 3); intrinsics use square pixels."""
    with ArmSim('panda', image_size=(48, 80), camera='wrist') as sim:
        assert sim.render().shape == (48, 80, 3)
        fx, fy, cx, cy = sim.camera_intrinsics()
        fovy_rad = np.deg2rad(sim.model.camera('wrist').fovy[0])
        assert fx == fy == pytest.approx(24.0 / np.tan(fovy_rad / 2))
        assert (cx, cy) == (39.5, 23.5)


def test_camera_intrinsics_project_a_target_onto_its_pixels():
    """A reach target projected with the intrinsics lands on pixels of its colour."""
    with ArmSim('ur5e', image_size=(128, 128)) as sim:
        for seed in range(3):
            sim.reset('reach_target', seed)
            fx, fy, cx, cy = sim.camera_intrinsics('scene')
            camera = sim.data.camera('scene')
            # MuJoCo cameras look along -z with y up; optical frames look along z, y down.
            local = camera.xmat.reshape(3, 3).T @ (sim.body_position('target_0') - camera.xpos)
            u = fx * local[0] / -local[2] + cx
            v = fy * -local[1] / -local[2] + cy
            pixel = sim.render('scene')[int(round(v)), int(round(u))] / 255.0
            colour = sim.instruction.split()[2]
            nearest = min(COLOURS, key=lambda c: np.linalg.norm(np.array(COLOURS[c][:3]) - pixel))
            assert nearest == colour


def test_is_unstable_detects_nan_and_runaway_speed(sim):
    """A fresh state is stable; NaN positions or huge speeds are flagged."""
    sim.reset('push_block', 0)
    sim.step(0.1)
    assert not sim.is_unstable()
    sim.data.qvel[0] = 1e4
    assert sim.is_unstable()
    sim.reset('push_block', 0)
    sim.data.qpos[-1] = np.nan
    assert sim.is_unstable()
    sim.reset('push_block', 0)
    assert not sim.is_unstable()


def test_is_unstable_detects_mujoco_automatic_reset(sim, mujoco_warnings):
    """A state MuJoCo reset itself (non-finite velocity) is flagged too."""
    sim.reset('push_block', 0)
    sim.data.qvel[0] = np.inf
    sim.step(sim.physics_dt_s)
    assert any('QVEL' in warning for warning in mujoco_warnings)
    assert np.all(np.isfinite(sim.data.qvel))
    assert sim.is_unstable()


def test_bad_constructor_and_reset_arguments_raise():
    """Unknown arm, camera or task, bad sizes, time steps and seeds raise ValueError."""
    with pytest.raises(ValueError, match='unknown arm'):
        ArmSim('kuka')
    with pytest.raises(ValueError, match='unknown camera'):
        ArmSim('panda', camera='top')
    with pytest.raises(ValueError, match='image_size'):
        ArmSim('panda', image_size=(0, 64))
    with pytest.raises(ValueError, match='physics_dt_s'):
        ArmSim('panda', physics_dt_s=0.0)
    with ArmSim('panda') as sim:
        with pytest.raises(ValueError, match='unknown task'):
            sim.reset('juggle', 0)
        with pytest.raises(ValueError, match='seed'):
            sim.reset('reach_target', -1)
        with pytest.raises(ValueError, match='seed'):
            sim.reset('reach_target', 1.5)
        with pytest.raises(ValueError, match='duration_s'):
            sim.step(0.0)
