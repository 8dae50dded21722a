"""Tests of gato_ros.sim.tasks: seeded resets, randomization, instructions, success checks."""

from gato_ros.sim.arms import list_arms
from gato_ros.sim.scene import ArmSim
from gato_ros.sim.tasks import (BLOCK_HALF_SIZE_M, COLOURS, list_tasks, make_task, PickPlace,
                                Workspace)
import numpy as np
import pytest

# Props whose pose and colour each task randomizes.
PROPS = {
    'reach_target': ['target_0', 'target_1', 'target_2'],
    'push_block': ['block', 'zone'],
    'lift_block': ['block'],
    'pick_place': ['block', 'tray'],
    'stack_blocks': ['block_top', 'block_base'],
    'press_button': ['button_0', 'button_1'],
}


@pytest.fixture(scope='module', params=list_arms())
def sim(request):
    """Yield one simulator per arm, shared by the tests of this module."""
    with ArmSim(request.param) as arm_sim:
        yield arm_sim


def _state(sim):
    """Return the full physics state and the colours of every geom after a reset."""
    return np.concatenate([sim.data.qpos, sim.data.mocap_pos.ravel(), sim.model.geom_rgba.ravel()])


def test_list_tasks():
    """At least five tasks, each with a prop list in this test."""
    assert list_tasks() == sorted(PROPS)


@pytest.mark.parametrize('task', list_tasks())
def test_reset_is_deterministic_under_a_seed(sim, task):
    """The same seed gives the same state, colours and instruction, even after other seeds."""
    sim.reset(task, 7)
    first, instruction = _state(sim), sim.instruction
    sim.reset(task, 8)
    sim.reset(task, 7)
    assert np.array_equal(_state(sim), first)
    assert sim.instruction == instruction
    assert sim.time_s == 0.0


@pytest.mark.parametrize('task', list_tasks())
def test_reset_randomizes_across_seeds(sim, task):
    """Arm pose, prop positions and instructions vary over seeds; props stay in the workspace."""
    workspace = Workspace()
    arm_poses, prop_positions, instructions = [], [], set()
    for seed in range(8):
        sim.reset(task, seed)
        arm_poses.append(sim.joint_positions())
        positions = np.array([sim.body_position(name) for name in PROPS[task]])
        assert np.all((positions[:, 0] >= workspace.x_range_m[0])
                      & (positions[:, 0] <= workspace.x_range_m[1]))
        assert np.all((positions[:, 1] >= workspace.y_range_m[0])
                      & (positions[:, 1] <= workspace.y_range_m[1]))
        prop_positions.append(positions)
        instructions.add(sim.instruction)
    assert np.min(np.ptp(np.array(arm_poses)[:, :-1], axis=0)) > 0.01
    assert np.min(np.ptp(np.array(prop_positions)[:, :, :2], axis=0)) > 0.05
    assert len(instructions) >= 3


@pytest.mark.parametrize('task', list_tasks())
def test_instruction_names_the_goal_colour(sim, task):
    """The first colour word of the instruction is the colour of the goal prop."""
    goal_geoms = {'reach_target': 'target_0', 'push_block': 'block', 'lift_block': 'block',
                  'pick_place': 'block', 'stack_blocks': 'block_top',
                  'press_button': 'button_0_cap'}
    for seed in range(4):
        sim.reset(task, seed)
        colour = next(word for word in sim.instruction.split() if word in COLOURS)
        assert tuple(sim.model.geom(goal_geoms[task]).rgba) == pytest.approx(COLOURS[colour])


@pytest.mark.parametrize('task', list_tasks())
def test_no_task_starts_solved(sim, task):
    """No seed starts an episode in a success state."""
    for seed in range(10):
        sim.reset(task, seed)
        assert not sim.success()


def _settle(sim, seconds=0.5):
    """Step the physics with the gripper held open."""
    targets = sim.joint_positions()
    targets[-1] = sim.arm.upper_limits[-1]
    sim.set_joint_targets(targets)
    sim.step(seconds)


def test_push_block_success_when_block_on_zone(sim):
    """The block resting on the zone's centre succeeds; 6 cm away does not."""
    sim.reset('push_block', 0)
    zone = sim.body_position('zone')
    sim.set_free_body_pose('block', zone + [0.06, 0.0, BLOCK_HALF_SIZE_M], 0.3)
    _settle(sim)
    assert not sim.success()
    sim.set_free_body_pose('block', zone + [0.02, -0.01, BLOCK_HALF_SIZE_M], 0.3)
    _settle(sim)
    assert sim.success()


def test_lift_block_success_when_block_high(sim):
    """The block held 15 cm up counts as lifted, on the table it does not."""
    sim.reset('lift_block', 0)
    assert not sim.success()
    block = sim.body_position('block')
    sim.set_free_body_pose('block', block + [0.0, 0.0, 0.15], 0.0)
    sim.step(sim.physics_dt_s)
    assert sim.success()


def test_pick_place_success_needs_block_in_tray_and_released(sim):
    """Dropped into the tray with the gripper open succeeds; closed fingers do not."""
    sim.reset('pick_place', 0)
    tray = sim.body_position('tray')
    floor = PickPlace.tray_floor_thickness_m
    sim.set_free_body_pose('block', tray + [0.01, 0.01, floor + BLOCK_HALF_SIZE_M + 0.01], 0.2)
    _settle(sim)
    assert sim.success()
    sim.set_joint_targets(np.append(sim.joint_positions()[:-1], 0.0))
    sim.step(0.3)
    assert not sim.success()


def test_stack_blocks_success_needs_top_block_resting_on_base(sim):
    """Top block resting on the base block succeeds; beside it does not."""
    sim.reset('stack_blocks', 0)
    base = sim.body_position('block_base')
    sim.set_free_body_pose('block_top', base + [0.1, 0.0, 0.0], 0.0)
    _settle(sim)
    assert not sim.success()
    sim.set_free_body_pose('block_top', base + [0.005, 0.0, 2 * BLOCK_HALF_SIZE_M + 0.002], 0.1)
    _settle(sim)
    assert sim.success()


def test_press_button_success_only_for_the_named_button(sim):
    """Pressing the goal button succeeds; the other one, or both, does not."""
    sim.reset('press_button', 0)
    sim.data.joint('button_1').qpos[0] = -0.014
    assert not sim.success()
    sim.data.joint('button_0').qpos[0] = -0.014
    assert not sim.success()
    sim.data.joint('button_1').qpos[0] = 0.0
    assert sim.success()


def test_reach_target_success_when_tool_touches_the_goal_disc(sim):
    """The success region is a 3 cm radius column, 6 cm high, over the goal disc."""
    sim.reset('reach_target', 0)
    assert not sim.success()
    target = sim.body_position('target_0')
    sim.data.mocap_pos[sim.model.body('target_0').mocapid[0]] = sim.tcp_position() - [
        0.0, 0.0, 0.05]
    sim.step(sim.physics_dt_s)
    assert sim.success()
    sim.data.mocap_pos[sim.model.body('target_0').mocapid[0]] = target
    sim.step(sim.physics_dt_s)
    assert not sim.success()


def test_make_task_rejects_unknown_names():
    """An unknown task name raises ValueError listing the known ones."""
    with pytest.raises(ValueError, match="unknown task 'juggle'"):
        make_task('juggle')
    assert make_task('push_block').name == 'push_block'
