"""Tests of gato_ros.sim.experts: action convention, IK helpers and scripted expert success."""

from gato_ros.sim.arms import list_arms
from gato_ros.sim.experts import (action_targets, apply_action, ExpertConfig, grasp_yaw,
                                  GRIPPER_OPEN, joint_action, LiftExpert, make_expert,
                                  PickPlaceExpert, PUSH_TURN_BACK_RAD, push_yaw, PushExpert,
                                  rotation_error, tool_twist, top_down_rotation,
                                  twist_joint_deltas, Waypoint)
from gato_ros.sim.rollout import run_episode
from gato_ros.sim.scene import ArmSim
from gato_ros.sim.tasks import list_tasks
import numpy as np
import pytest

EXPERT_SEEDS = range(20)


@pytest.fixture(scope='module', params=list_arms())
def sim(request):
    """Yield one simulator per arm, shared by the tests of this module."""
    with ArmSim(request.param) as arm_sim:
        yield arm_sim


def test_action_targets_add_the_delta_to_the_measured_position(sim):
    """Small deltas are added as given; gripper 1 is open, 0 closed."""
    sim.reset('reach_target', 0)
    measured = sim.joint_positions()
    delta = np.linspace(-0.05, 0.05, sim.arm.n_arm_joints)
    targets = action_targets(sim, np.append(delta, 1.0), 0.1)
    assert np.allclose(targets[:-1], measured[:-1] + delta)
    assert targets[-1] == sim.arm.upper_limits[-1]
    closing = action_targets(sim, np.append(delta, 0.0), 0.1)[-1]
    assert closing == pytest.approx(measured[-1] - 0.1 * sim.arm.max_velocities[-1])


def test_action_targets_respect_velocity_and_position_limits(sim):
    """Deltas beyond one period at the velocity limit are clamped, then to the joint limits."""
    sim.reset('reach_target', 0)
    measured = sim.joint_positions()
    max_step = np.array(sim.arm.max_velocities[:-1]) * 0.1
    targets = action_targets(sim, np.append(np.full(sim.arm.n_arm_joints, 10.0), 5.0), 0.1)
    upper = np.array(sim.arm.upper_limits[:-1])
    assert np.allclose(targets[:-1], np.minimum(measured[:-1] + max_step, upper))
    assert targets[-1] == sim.arm.upper_limits[-1]
    sim.data.joint(sim.joint_names[0]).qpos[0] = sim.arm.lower_limits[0] + 0.01
    targets = action_targets(sim, np.append(np.full(sim.arm.n_arm_joints, -0.2), 0.5), 0.1)
    assert targets[0] == sim.arm.lower_limits[0]


def test_action_targets_reject_bad_actions(sim):
    """Wrong shape, non-finite values or a non-positive period raise ValueError."""
    sim.reset('reach_target', 0)
    n = len(sim.joint_names)
    with pytest.raises(ValueError, match='joint deltas'):
        action_targets(sim, np.zeros(n + 1), 0.1)
    with pytest.raises(ValueError, match='finite'):
        action_targets(sim, np.full(n, np.nan), 0.1)
    with pytest.raises(ValueError, match='control_period_s'):
        action_targets(sim, np.zeros(n), 0.0)
    with pytest.raises(ValueError, match='interpolation_dt_s'):
        apply_action(sim, np.zeros(n), 0.1, interpolation_dt_s=0.0)


def test_apply_action_moves_the_arm_by_the_delta_in_one_period(sim):
    """Each 0.1 s period moves the arm by the delta: within 20% from rest, 10% once moving."""
    sim.reset('reach_target', 3)
    delta = np.full(sim.arm.n_arm_joints, 0.05)
    for tolerance in (0.2, 0.1):
        start, start_s = sim.joint_positions(), sim.time_s
        apply_action(sim, np.append(delta, 1.0), 0.1)
        assert sim.time_s == pytest.approx(start_s + 0.1)
        moved = sim.joint_positions()[:-1] - start[:-1]
        assert np.all(np.abs(moved - delta) < tolerance * delta)


def test_top_down_rotation_is_a_rotation_pointing_down():
    """Orthonormal, right-handed, tool z down and tool x at the yaw angle."""
    rotation = top_down_rotation(0.4)
    assert np.allclose(rotation.T @ rotation, np.eye(3))
    assert np.linalg.det(rotation) == pytest.approx(1.0)
    assert np.allclose(rotation[:, 2], [0.0, 0.0, -1.0])
    assert np.allclose(rotation[:, 0], [np.cos(0.4), np.sin(0.4), 0.0])


def test_rotation_error_is_the_rotation_vector_for_small_angles():
    """Zero for equal rotations; a small yaw gives its angle about world z."""
    assert np.allclose(rotation_error(top_down_rotation(0.3), top_down_rotation(0.3)), 0.0)
    error = rotation_error(top_down_rotation(0.0), top_down_rotation(0.01))
    assert np.allclose(error, [0.0, 0.0, 0.01], atol=1e-5)


def test_grasp_yaw_is_the_nearest_quarter_turn_equivalent(sim):
    """A cube turned by yaw is grasped at yaw modulo a quarter turn, in (-pi/4, pi/4]."""
    sim.reset('lift_block', 0)
    block = sim.body_position('block')
    for yaw, expected in [(0.3, 0.3), (1.2, 1.2 - np.pi / 2), (-1.0, -1.0 + np.pi / 2)]:
        sim.set_free_body_pose('block', block, yaw)
        sim.step(sim.physics_dt_s)
        assert grasp_yaw(sim, 'block') == pytest.approx(expected, abs=1e-3)


def test_push_yaw_points_the_tool_x_axis_along_the_push():
    """Folded, the yaw is the direction's, folded by half turns into [-pi/2, pi/2)."""
    for direction, expected in [((1.0, 0.0), 0.0), ((0.0, 1.0), -np.pi / 2),
                                ((-1.0, -1.0), np.pi / 4), ((-1.0, 0.2, 0.0), -0.1974)]:
        for tool_yaw in (0.0, 1.0):  # the tool's yaw does not matter
            assert push_yaw(np.array(direction), tool_yaw) == pytest.approx(expected, abs=1e-4)


def test_push_yaw_turns_by_the_offset_and_folds_by_half_turns():
    """An offset adds to the direction's yaw; the sum is folded into [-pi/2, pi/2)."""
    assert push_yaw(np.array((1.0, 0.0)), 0.0, 0.5) == pytest.approx(0.5)
    assert push_yaw(np.array((1.0, 0.0)), 0.0, 2.0) == pytest.approx(2.0 - np.pi)
    assert push_yaw(np.array((0.0, 1.0)), 0.0, -0.3) == pytest.approx(np.pi / 2 - 0.3)


def test_push_yaw_turning_left_goes_counterclockwise_to_the_next_yaw_across():
    """Turning left, the yaw is the next across the push counterclockwise from the tool's."""
    for direction, tool_yaw, expected in [((1.0, 0.0), 0.0, 0.0),
                                          ((0.0, 1.0), 0.0, np.pi / 2),
                                          ((0.0, -1.0), 0.0, np.pi / 2),
                                          ((-1.0, -1.0), 0.0, np.pi / 4),
                                          ((-1.0, 0.2, 0.0), 0.0, 2.9442),
                                          ((1.0, 0.0), 1.0, np.pi),
                                          ((1.0, 0.0), -4.0, -np.pi)]:
        assert push_yaw(np.array(direction), tool_yaw, turn='left') == pytest.approx(
            expected, abs=1e-4)
    assert push_yaw(np.array((1.0, 0.0)), 0.0, -0.5, 'left') == pytest.approx(np.pi - 0.5)


def test_push_yaw_turning_left_turns_back_only_from_just_past_the_yaw():
    """A tool up to PUSH_TURN_BACK_RAD past the yaw turns back; further, on to the next."""
    right = np.array((1.0, 0.0))
    assert push_yaw(right, PUSH_TURN_BACK_RAD - 0.01, turn='left') == pytest.approx(0.0)
    assert push_yaw(right, PUSH_TURN_BACK_RAD + 0.01, turn='left') == pytest.approx(np.pi)


def test_an_unknown_push_turn_is_refused():
    """The expert configuration and push_yaw name the push turns they know."""
    with pytest.raises(ValueError, match='push_turn must be one of'):
        ExpertConfig(push_turn='right')
    with pytest.raises(ValueError, match='push_turn must be one of'):
        push_yaw(np.array((1.0, 0.0)), 0.0, turn='right')


def test_the_left_turning_push_expert_turns_counterclockwise_first_and_succeeds(sim):
    """Where the folded yaw turns the hand clockwise first, turning left goes the other way."""
    folded_first, left_first = [], []
    for seed in range(8):
        sim.reset('push_block', seed)
        folded_first.append(PushExpert(ExpertConfig(action_space='twist')).act(sim)[5])
        left = PushExpert(ExpertConfig(action_space='twist', push_turn='left'))
        left_first.append(left.act(sim)[5])
        result = run_episode(sim, left, 'push_block', seed, include_images=False,
                             action_space='twist')
        assert result.success, seed
    assert min(folded_first) < -1.5  # some scenes turn clockwise, folded
    # Turning left, clockwise only back from at most PUSH_TURN_BACK_RAD past (10 Hz).
    assert min(left_first) >= -10.0 * PUSH_TURN_BACK_RAD - 1e-3


def test_push_expert_turns_to_its_yaw_offset(sim):
    """With an offset the expert's target yaw, and the yaw it settles at, move by it."""
    sim.reset('push_block', 3)
    across = make_expert('push_block').target_yaw(sim)
    expert = PushExpert(yaw_offset_rad=0.6)
    target = expert.target_yaw(sim)
    assert np.angle(np.exp(2j * (target - across - 0.6))) == pytest.approx(0.0, abs=1e-6)
    # Turned within 15 steps (under a half turn at 2 rad/s); later it re-approaches.
    for _ in range(15):
        apply_action(sim, expert.act(sim), 0.1)
        rotation = sim.tcp_rotation()
        settled = np.arctan2(rotation[1, 0], rotation[0, 0])
        if abs(np.angle(np.exp(1j * (settled - target)))) < 0.03:
            break
    assert np.angle(np.exp(1j * (settled - target))) == pytest.approx(0.0, abs=0.03)


def _push_heights(sim, expert, seed):
    """Return the tool heights (m) of one push episode, and whether it succeeded."""
    heights = []

    def act(observation, sim):
        heights.append(sim.tcp_position()[2])
        return expert(observation, sim)

    result = run_episode(sim, act, 'push_block', seed, include_images=False)
    return np.array(heights), result.success


def test_push_expert_recovers_from_a_turned_hand_only_when_it_retreats(sim):
    """Fingers 0.6 rad off lose the block; re-approaching wins it back, pushing on does not."""
    low = 0.03
    for retreats, rises, succeeds in ((True, True, True), (False, False, False)):
        heights, success = _push_heights(
            sim, PushExpert(yaw_offset_rad=0.6, retreats=retreats), 0)
        first_low = np.argmax(heights < low)
        assert heights[first_low] < low
        assert (heights[first_low:].max() > 0.05) == rises
        assert success == succeeds


def _push_labels(sim, driver, seed, steps=40):
    """Return (tool height (m), label's vertical speed (m/s)) rows.

    One row a step while ``driver`` moves the arm and a fresh expert labels its states.
    """
    sim.reset('push_block', seed)
    labeller = PushExpert(ExpertConfig(action_space='twist'))
    rows = []
    while len(rows) < steps and not sim.success():
        rows.append((sim.tcp_position()[2], labeller.act(sim)[2]))
        apply_action(sim, driver.act(sim), 0.1)
    return np.array(rows)


def test_push_expert_labels_the_phase_of_a_hand_it_did_not_move(sim):
    """Labels in DAgger follow the state: push on while on the line, rise once off it."""
    squared = _push_labels(sim, PushExpert(retreats=False), 0)
    pushing = squared[squared[:, 0] < 0.02]
    assert len(pushing) > 5 and np.all(np.abs(pushing[:, 1]) < 0.03)
    turned = _push_labels(sim, PushExpert(yaw_offset_rad=0.6, retreats=False), 0)
    low = turned[turned[:, 0] < 0.02]
    rising = np.nonzero(low[:, 1] > 0.25)[0]
    assert len(rising) > 0 and rising[0] > 0
    assert np.all(np.abs(low[:rising[0], 1]) < 0.03)  # pushing on until the block slips


def test_push_expert_pushes_on_at_the_yaw_of_a_hand_it_finds_on_the_line(sim):
    """A turned hand found pushing on the line is labelled to push on, without turning."""
    sim.reset('push_block', 0)
    driver = PushExpert(yaw_offset_rad=0.6, retreats=False)
    block = sim.body_position('block')
    direction = sim.body_position('zone')[:2] - block[:2]
    direction /= np.linalg.norm(direction)
    for _ in range(40):
        apply_action(sim, driver.act(sim), 0.1)
        along = (sim.tcp_position()[:2] - sim.body_position('block')[:2]) @ direction
        if sim.tcp_position()[2] < 0.02 and along > -0.045:
            break
    assert sim.tcp_position()[2] < 0.02 and along > -0.045
    label = PushExpert(ExpertConfig(action_space='twist')).act(sim)  # a fresh labeller
    assert abs(label[5]) < 0.1 and abs(label[2]) < 0.03
    assert label[:2] @ direction > 0.05


def test_push_expert_pushes_with_part_open_fingers_across_the_push(sim):
    """Once the block moves, the fingers are part-open and side by side across its path."""
    sim.reset('push_block', 0)
    start = sim.body_position('block')[:2].copy()
    expert = make_expert('push_block')
    for _ in range(60):
        apply_action(sim, expert.act(sim), 0.1)
        moved = sim.body_position('block')[:2] - start
        if np.linalg.norm(moved) > 0.02:
            break
    assert np.linalg.norm(moved) > 0.02
    finger_axis = sim.tcp_rotation()[:2, 1]  # the tool y axis, along which the fingers close
    assert abs(finger_axis @ moved) / np.linalg.norm(moved) < 0.3
    opening = sim.joint_positions()[-1] / sim.arm.upper_limits[-1]
    assert opening == pytest.approx(expert.push_opening, abs=0.05)


TWIST = ExpertConfig(action_space='twist')


def _drive_and_label(sim, task, driver, seed, steps=60):
    """Return (tool position, block position, label) per step of ``driver``'s episode.

    A fresh twist expert of the task labels every state, as in a DAgger round.
    """
    sim.reset(task, seed)
    labeller = make_expert(task, TWIST)
    body = 'block_top' if task == 'stack_blocks' else 'block'
    rows = []
    while len(rows) < steps and not sim.success():
        rows.append((sim.tcp_position().copy(), sim.body_position(body).copy(),
                     labeller.act(sim)))
        apply_action(sim, driver.act(sim), 0.1)
    return rows


def test_waypoint_refuses_an_unknown_stage():
    """A stage name outside WAYPOINT_STAGES is refused, naming the known ones."""
    with pytest.raises(ValueError, match='hover'):
        Waypoint(np.zeros(3), 0.0, GRIPPER_OPEN, 0.01, stage='hovering')


def test_waypoint_expert_labels_a_hand_that_skipped_its_hover_point_down(sim):
    """A hand that hovers lower than the labeller would is told to go on down, not back up."""
    low_hover = LiftExpert(ExpertConfig(hover_height_m=0.05))
    rows = _drive_and_label(sim, 'lift_block', low_hover, 0, steps=40)
    above = [label for tcp, block, label in rows if 0.015 < tcp[2] - block[2] < 0.085]
    assert len(above) >= 2
    assert all(label[2] < -0.02 for label in above)


def test_waypoint_expert_labels_a_block_carried_low_on_towards_the_tray(sim):
    """A hand carrying the block off at a lower lift is told to carry it on to the tray."""
    low_lift = PickPlaceExpert(ExpertConfig(lift_height_m=0.06))
    sim.reset('pick_place', 1)
    tray = sim.body_position('tray')
    rows = _drive_and_label(sim, 'pick_place', low_lift, 1)
    carried = [(tcp, label) for tcp, block, label in rows
               if block[2] > 0.05 and np.linalg.norm(tcp[:2] - rows[0][1][:2]) > 0.04
               and np.linalg.norm(tcp[:2] - tray[:2]) > 0.05]
    assert len(carried) >= 2
    for tcp, label in carried:
        to_tray = (tray - tcp)[:2] / np.linalg.norm((tray - tcp)[:2])
        assert label[:2] @ to_tray > 0.8 * np.linalg.norm(label[:2])


def test_waypoint_expert_grasps_again_a_block_no_longer_in_the_hand(sim):
    """A block taken from the hand mid-lift is grasped again where it now lies."""
    sim.reset('lift_block', 2)
    expert = make_expert('lift_block', TWIST)
    while sim.body_position('block')[2] < 0.06:
        apply_action(sim, joint_action(sim, expert.act(sim), 'twist'), 0.1)
    elsewhere = sim.body_position('block')[:2] + [0.1, 0.0]
    sim.set_free_body_pose('block', np.append(elsewhere, 0.02), 0.0)
    sim.step(0.3)
    label = expert.act(sim)
    to_block = elsewhere - sim.tcp_position()[:2]
    assert label[-1] == GRIPPER_OPEN
    assert label[:2] @ to_block > 0.8 * np.linalg.norm(label[:2]) * np.linalg.norm(to_block)


@pytest.mark.parametrize('task', list_tasks())
def test_target_yaw_is_the_yaw_the_expert_settles_at(sim, task):
    """target_yaw, read at the reset, is the tool yaw the expert holds once it has turned."""
    sim.reset(task, 3)
    expert = make_expert(task)
    target = expert.target_yaw(sim)
    for _ in range(25):
        apply_action(sim, expert.act(sim), 0.1)
    rotation = sim.tcp_rotation()
    settled = np.arctan2(rotation[1, 0], rotation[0, 0])
    assert np.angle(np.exp(1j * (settled - target))) == pytest.approx(0.0, abs=0.03)


def test_tool_twists_converge_to_a_top_down_pose(sim):
    """Executing tool_twist each period brings the tool within 5 mm and 0.02 rad of the pose."""
    sim.reset('reach_target', 0)
    target, yaw = np.array([0.45, 0.12, 0.1]), 0.5
    for _ in range(30):
        twist = tool_twist(sim, target, yaw, ExpertConfig())
        assert np.linalg.norm(twist[:3]) <= ExpertConfig().max_speed_m_s + 1e-9
        apply_action(sim, joint_action(sim, np.append(twist, 1.0), 'twist'), 0.1)
    assert np.linalg.norm(sim.tcp_position() - target) < 5e-3
    assert np.linalg.norm(rotation_error(sim.tcp_rotation(), top_down_rotation(yaw))) < 0.02


@pytest.mark.parametrize('task', list_tasks())
def test_expert_succeeds_on_at_least_95_percent_of_seeds(sim, task):
    """The scripted expert solves >= 95% of 20 seeded episodes within the time limit."""
    expert = make_expert(task)
    results = [run_episode(sim, expert, task, seed, include_images=False)
               for seed in EXPERT_SEEDS]
    assert not any(result.unstable for result in results)
    assert np.mean([result.success for result in results]) >= 0.95


def test_expert_actions_follow_the_convention(sim):
    """Expert actions are float32, within the velocity limits, gripper in {0, 1}."""
    expert = make_expert('pick_place')
    result = run_episode(sim, expert, 'pick_place', 0, record=True, include_images=False)
    actions = np.array(result.actions)
    assert actions.dtype == np.float32 and actions.shape == (result.steps, len(sim.joint_names))
    max_step = np.array(sim.arm.max_velocities[:-1]) * 0.1
    assert np.all(np.abs(actions[:, :-1]) <= max_step + 1e-6)
    assert set(np.unique(actions[:, -1])) == {0.0, 1.0}


def test_make_expert_rejects_unknown_tasks():
    """A task without an expert raises ValueError."""
    with pytest.raises(ValueError, match="no expert for task 'juggle'"):
        make_expert('juggle')


def test_a_small_twist_moves_the_tool_by_twist_times_period(sim):
    """5 cm/s along y for one 0.1 s period moves the tool ~5 mm along y, little else."""
    sim.reset('reach_target', 0)
    start = sim.tcp_position()
    twist = np.array([0.0, 0.05, 0.0, 0.0, 0.0, 0.0])
    apply_action(sim, np.append(twist_joint_deltas(sim, twist), 1.0), 0.1)
    moved = sim.tcp_position() - start
    assert moved[1] == pytest.approx(0.005, abs=1e-3)
    assert np.abs(moved[[0, 2]]).max() < 1e-3


@pytest.mark.parametrize('task', list_tasks())
def test_experts_move_the_arm_alike_in_both_action_spaces(sim, task):
    """Twist actions, turned into joint deltas, are the joint expert's: same episodes."""
    for seed in range(3):
        episodes = [run_episode(sim, make_expert(task, ExpertConfig(action_space=space)), task,
                                seed, record=True, include_images=False, action_space=space)
                    for space in ('joint', 'twist')]
        assert [e.steps for e in episodes] == [episodes[0].steps] * 2
        assert episodes[1].success == episodes[0].success
        assert np.array(episodes[1].actions).shape == (episodes[0].steps, 7)
        np.testing.assert_allclose(episodes[1].observations[-1]['joints'],
                                   episodes[0].observations[-1]['joints'], atol=1e-4)


def test_joint_action_refuses_bad_twists(sim):
    """Wrong size, NaN and an unknown action space are refused with a message."""
    sim.reset('reach_target', 0)
    with pytest.raises(ValueError, match='twist values and a gripper'):
        joint_action(sim, np.zeros(5), 'twist')
    with pytest.raises(ValueError, match='finite'):
        joint_action(sim, np.append(np.full(6, np.nan), 1.0), 'twist')
    with pytest.raises(ValueError, match='action_space'):
        joint_action(sim, np.zeros(7), 'cartesian')
    with pytest.raises(ValueError, match='action_space'):
        ExpertConfig(action_space='cartesian')
