"""Scripted experts for the table-top tasks, and the action convention they share with policies.

Action convention (the same for experts, learned policies and the ROS trajectory path): a
float32 vector with one position delta per arm joint (rad, to be reached one control period
from now, relative to the measured position) followed by a gripper command in [0, 1]
(1 open, 0 closed). ``apply_action`` executes one.

In the ``twist`` action space (:data:`ACTION_SPACES`; the ROS servo path) the joint deltas are
replaced by the tool centre point's Cartesian twist in the base frame: linear x, y, z (m/s)
then angular x, y, z (rad/s), held for one control period. ``joint_action`` turns it into
joint deltas with the same damped least-squares step the experts use, so an expert recorded
in either space moves the arm identically. Gato's real-robot set-up acts in Cartesian space
too; a twist means the same motion wherever the arm is and whichever arm it is.

Experts read privileged simulator state (object poses) and move the tool centre point with
damped least-squares inverse kinematics on the MuJoCo site Jacobian, one linearisation per
control step, so the loop is closed through the measured joint positions. Grasps are
top-down, the fingers closing along a block face.
"""

from dataclasses import dataclass

from gato_ros.data import TWIST_SIZE
from gato_ros.sim.tasks import BLOCK_HALF_SIZE_M, PickPlace, PressButton
import numpy as np

GRIPPER_OPEN = 1.0
GRIPPER_CLOSED = 0.0
ACTION_SPACES = ('joint', 'twist')
# How the push expert picks between the two yaws that put its fingers across the push (see
# push_yaw): 'folded' the one in [-pi/2, pi/2), 'left' the next counterclockwise.
PUSH_TURNS = ('folded', 'left')
# What a waypoint does in a grasp-and-place plan: hover over the next one, descend onto the
# block, close on it, lift it, lower it onto its place, release it, rise from it.
WAYPOINT_STAGES = ('hover', 'descend', 'close', 'lift', 'lower', 'release', 'rise')


def check_action_space(action_space: str) -> None:
    """Refuse an unknown action space.

    Args:
        action_space: the name to check.

    Raises:
        ValueError: if it is not one of :data:`ACTION_SPACES`.

    """
    _check_choice('action_space', action_space, ACTION_SPACES)


def check_push_turn(push_turn: str) -> None:
    """Refuse an unknown push turn.

    Args:
        push_turn: the name to check.

    Raises:
        ValueError: if it is not one of :data:`PUSH_TURNS`.

    """
    _check_choice('push_turn', push_turn, PUSH_TURNS)


def _check_choice(name: str, value, choices: tuple) -> None:
    """Raise ValueError naming the choices when value is not one of them."""
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')


def max_arm_deltas(arm, control_period_s: float) -> np.ndarray:
    """Return the largest delta each arm joint (gripper excluded) can move in one period.

    Args:
        arm: the ArmSpec.
        control_period_s: the control period in seconds.

    Returns:
        float64 (n_arm_joints,) velocity limits times the period, in rad.

    """
    return np.array(arm.max_velocities[:-1]) * control_period_s


def action_targets(sim, action, control_period_s: float) -> np.ndarray:
    """Turn an action into joint targets: measured position plus the delta, made feasible.

    The delta is clamped to what the joint's velocity limit allows in one period, the result
    to the joint limits. The gripper command is clamped to [0, 1], scaled to the finger range
    and then limited to one period of finger travel from the measured opening.

    Args:
        sim: the ArmSim the action is for.
        action: (n_arm_joints + 1,) action as described in the module docstring.
        control_period_s: the control period in seconds.

    Returns:
        (n_arm_joints + 1,) float64 joint targets in ArmSim.joint_names order.

    Raises:
        ValueError: if the action has the wrong shape or non-finite values, or the period is
            not positive.

    """
    arm = sim.arm
    action = sim.joint_vector(action, 'action values (joint deltas + gripper command)')
    if not control_period_s > 0.0:
        raise ValueError(f'control_period_s must be > 0, got {control_period_s}')
    max_delta = np.array(arm.max_velocities) * control_period_s
    measured = sim.joint_positions()
    requested = np.append(measured[:-1] + action[:-1],
                          np.clip(action[-1], 0.0, 1.0) * arm.upper_limits[-1])
    targets = np.clip(requested, measured - max_delta, measured + max_delta)
    return np.clip(targets, arm.lower_limits, arm.upper_limits)


def apply_action(sim, action, control_period_s: float, interpolation_dt_s: float = 0.01) -> None:
    """Execute one action over one control period and advance the simulation by it.

    Like a joint trajectory controller given one point at time_from_start = period, the arm
    targets move linearly from the measured position to the action's target, updated every
    interpolation_dt_s with the ramp's velocity fed forward; the gripper target is set at
    once.

    Args:
        sim: the ArmSim to drive.
        action: (n_arm_joints + 1,) action (see action_targets).
        control_period_s: the control period in seconds.
        interpolation_dt_s: how often the interpolated targets are updated.

    Raises:
        ValueError: on a bad action or period (see action_targets) or a non-positive
            interpolation_dt_s.

    """
    if not interpolation_dt_s > 0.0:
        raise ValueError(f'interpolation_dt_s must be > 0, got {interpolation_dt_s}')
    start = sim.joint_positions()
    targets = action_targets(sim, action, control_period_s)
    velocities = np.append((targets[:-1] - start[:-1]) / control_period_s, 0.0)
    n_updates = max(1, int(round(control_period_s / interpolation_dt_s)))
    for k in range(n_updates):
        # The target of each update is the ramp at the middle of its interval, which the
        # velocity feed-forward tracks without lead or lag.
        fraction = (k + 0.5) / n_updates
        sim.set_joint_targets(np.append(start[:-1] + fraction * (targets[:-1] - start[:-1]),
                                        targets[-1]), velocities)
        sim.step(control_period_s / n_updates)


@dataclass(frozen=True)
class ExpertConfig:
    """Motion limits and tolerances of the scripted experts.

    control_rate_hz must be the rate the expert is run at: it sets how far one action moves.
    action_space (one of :data:`ACTION_SPACES`) is what the expert's actions hold: joint deltas
    or the tool's twist; ik_damping and nullspace_gain also turn twists into joint deltas.
    push_turn (one of :data:`PUSH_TURNS`) is how the push expert turns its fingers across the
    push (see :func:`push_yaw`).
    """

    control_rate_hz: float = 10.0
    action_space: str = 'joint'
    max_speed_m_s: float = 0.3
    max_angular_speed_rad_s: float = 2.0
    ik_damping: float = 0.02
    nullspace_gain: float = 0.3
    hover_height_m: float = 0.1
    lift_height_m: float = 0.15
    tolerance_m: float = 0.01
    fine_tolerance_m: float = 0.004
    gripper_settle_steps: int = 4
    waypoint_timeout_steps: int = 40
    push_turn: str = 'folded'

    def __post_init__(self):
        """Check the action space and the push turn.

        Raises:
            ValueError: if either is not one of its names (:data:`ACTION_SPACES`,
                :data:`PUSH_TURNS`).

        """
        check_action_space(self.action_space)
        check_push_turn(self.push_turn)


def top_down_rotation(yaw_rad: float) -> np.ndarray:
    """Return the tool rotation pointing straight down, turned by yaw_rad about world z.

    Args:
        yaw_rad: angle of the tool x axis from the world x axis.

    Returns:
        (3, 3) rotation matrix whose columns are the tool axes in the world frame.

    """
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    return np.array([[c, s, 0.0], [s, -c, 0.0], [0.0, 0.0, -1.0]])


def rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Return the small-angle rotation vector (world frame) taking current towards target.

    Args:
        current: (3, 3) current rotation.
        target: (3, 3) target rotation.

    Returns:
        (3,) axis times sine of the angle, accurate for small errors.

    """
    return 0.5 * np.sum(np.cross(current.T, target.T), axis=0)


def rotation_yaw(rotation) -> float:
    """Return the yaw about world z of a (3, 3) rotation matrix's x axis (rad, in (-pi, pi])."""
    return float(np.arctan2(rotation[1, 0], rotation[0, 0]))


def grasp_yaw(sim, body: str) -> float:
    """Return the tool yaw that closes the fingers across a block's faces, nearest to zero.

    Args:
        sim: the ArmSim holding the block.
        body: the block's body name.

    Returns:
        Yaw in (-pi/4, pi/4]; a cube looks the same every quarter turn.

    """
    yaw = rotation_yaw(sim.body_rotation(body))
    return float(np.pi / 4 - np.mod(np.pi / 4 - yaw, np.pi / 2))


def tool_twist(sim, position_m, yaw_rad: float, config: ExpertConfig) -> np.ndarray:
    """Return the tool twist moving towards a top-down pose, within the expert's speed limits.

    Args:
        sim: the ArmSim whose tool to move.
        position_m: (3,) target tool centre point in the world frame.
        yaw_rad: target tool yaw (see top_down_rotation).
        config: expert limits.

    Returns:
        (6,) linear (m/s) then angular (rad/s) velocity, in the world (base) frame, that
        closes the pose error in one control period or moves at the speed limit towards it.

    """
    rate_hz = config.control_rate_hz
    position_error = np.asarray(position_m, float) - sim.tcp_position()
    position_error *= min(1.0, config.max_speed_m_s / rate_hz
                          / max(np.linalg.norm(position_error), 1e-9))
    angle_error = rotation_error(sim.tcp_rotation(), top_down_rotation(yaw_rad))
    angle_error *= min(1.0, config.max_angular_speed_rad_s / rate_hz
                       / max(np.linalg.norm(angle_error), 1e-9))
    return np.concatenate([position_error, angle_error]) * rate_hz


def twist_joint_deltas(sim, twist, config: ExpertConfig = ExpertConfig()) -> np.ndarray:
    """Return the arm joint deltas that move the tool by a twist for one control period.

    One damped least-squares step on the tool-site Jacobian; redundant arms also drift
    towards their home posture in the Jacobian's null space. The deltas are scaled down
    together until every joint is within its velocity limit.

    Args:
        sim: the ArmSim whose arm to move.
        twist: (6,) linear (m/s) then angular (rad/s) velocity of the tool, world frame.
        config: the control rate, damping and null-space gain.

    Returns:
        (n_arm_joints,) joint deltas in rad, within the joints' velocity limits.

    Raises:
        ValueError: if the twist is not 6 finite values.

    """
    twist = np.asarray(twist, float)
    if twist.shape != (TWIST_SIZE,) or not np.isfinite(twist).all():
        raise ValueError(f'a twist must be {TWIST_SIZE} finite values, got {twist.tolist()}')
    period_s = 1.0 / config.control_rate_hz
    jacobian = sim.tcp_jacobian()  # (6, n)
    n_joints = jacobian.shape[1]
    damped = jacobian @ jacobian.T + config.ik_damping ** 2 * np.eye(6)
    pseudo_inverse = jacobian.T @ np.linalg.inv(damped)  # (n, 6)
    delta = pseudo_inverse @ (twist * period_s)
    if n_joints > 6:
        home = np.array(sim.arm.home_positions[:-1])
        posture = config.nullspace_gain * (home - sim.joint_positions()[:-1])
        delta += (np.eye(n_joints) - pseudo_inverse @ jacobian) @ posture
    max_delta = max_arm_deltas(sim.arm, period_s)
    return delta * min(1.0, np.min(max_delta / np.maximum(np.abs(delta), 1e-12)))


def joint_action(sim, action, action_space: str = 'joint',
                 config: ExpertConfig = ExpertConfig()) -> np.ndarray:
    """Return an action of either action space as joint deltas plus the gripper command.

    Args:
        sim: the ArmSim the action is for.
        action: joint deltas (or a twist), then the gripper command.
        action_space: one of :data:`ACTION_SPACES`.
        config: the control rate, damping and null-space gain of the twist conversion.

    Returns:
        float32 (n_arm_joints + 1,) joint-space action (see :func:`apply_action`).

    Raises:
        ValueError: on an unknown action space or a twist action of the wrong size.

    """
    check_action_space(action_space)
    action = np.asarray(action, np.float32)
    if action_space == 'joint':
        return action
    if action.shape != (TWIST_SIZE + 1,):
        raise ValueError(f'a twist action is {TWIST_SIZE} twist values and a gripper command, '
                         f'got shape {action.shape}')
    return np.append(twist_joint_deltas(sim, action[:-1], config),
                     action[-1]).astype(np.float32)


class ScriptedExpert:
    """Base of the scripted experts: notices new episodes and builds actions.

    An expert is also a policy function for gato_ros.sim.rollout.run_episode:
    ``expert(observation, sim) -> action``.
    """

    def __init__(self, config: ExpertConfig = ExpertConfig()):
        """Create the expert.

        Args:
            config: motion limits and tolerances.

        """
        self.config = config
        self._episode_id = None

    def __call__(self, observation: dict, sim) -> np.ndarray:
        """Return the expert action; the observation is unused (experts read the simulator).

        Args:
            observation: the policy observation (ignored).
            sim: the ArmSim to act in.

        """
        return self.act(sim)

    def act(self, sim) -> np.ndarray:
        """Return the next action for the simulator's current state.

        Args:
            sim: the ArmSim to act in.

        Returns:
            float32 action in the config's action space (joint deltas or twist, then gripper).

        """
        if sim.episode_id != self._episode_id:
            self._episode_id = sim.episode_id
            self.start(sim)
        return self.step(sim)

    def start(self, sim) -> None:
        """Prepare for a new episode (called on its first act).

        Args:
            sim: the ArmSim, just reset.

        """

    def step(self, sim) -> np.ndarray:
        """Return the action for the current state of an ongoing episode.

        Args:
            sim: the ArmSim to act in.

        """
        raise NotImplementedError

    def target_yaw(self, sim) -> float:
        """Return the tool yaw this expert turns to first in the simulator's current scene.

        Args:
            sim: the ArmSim, just reset.

        Returns:
            Yaw in rad (see top_down_rotation); 0 unless an expert overrides it.

        """
        return 0.0

    def current_yaw(self, sim) -> float:
        """Return the tool yaw this expert is turning to at the simulator's current state.

        Args:
            sim: the ArmSim, reset and possibly acted in by this expert.

        Returns:
            Yaw in rad: :meth:`target_yaw` before the expert's first act of the episode,
            then the yaw its current phase or waypoint holds.

        """
        if sim.episode_id != self._episode_id:
            return self.target_yaw(sim)
        return self.held_yaw(sim)

    def held_yaw(self, sim) -> float:
        """Return the yaw of the ongoing episode's current phase or waypoint.

        Args:
            sim: the ArmSim of the ongoing episode.

        Returns:
            Yaw in rad; :meth:`target_yaw` unless an expert overrides it.

        """
        return self.target_yaw(sim)

    def move(self, sim, position_m, yaw_rad: float, gripper: float) -> np.ndarray:
        """Build the action moving the tool towards a top-down pose with a gripper command.

        Args:
            sim: the ArmSim to act in.
            position_m: (3,) target tool centre point.
            yaw_rad: target tool yaw.
            gripper: gripper command in [0, 1].

        Returns:
            float32 action in the config's action space (joint deltas or twist, then gripper).

        """
        motion = tool_twist(sim, position_m, yaw_rad, self.config)
        if self.config.action_space == 'joint':
            motion = twist_joint_deltas(sim, motion, self.config)
        return np.append(motion, gripper).astype(np.float32)


@dataclass
class Waypoint:
    """A tool pose to reach, the gripper command on the way, and when to move on.

    When carried names a body, position_m is where that body should go, and the tool target
    is shifted by the body's offset from the tool (corrects for where the fingers hold it).
    stage (one of :data:`WAYPOINT_STAGES`, or None) says what the waypoint does with the block
    named by body, so a hand the expert did not move itself can be placed in the plan
    (:meth:`WaypointExpert.follow_state`).
    """

    position_m: np.ndarray
    yaw_rad: float
    gripper: float
    tolerance_m: float
    settle_steps: int = 0
    carried: str = None
    stage: str = None
    body: str = None

    def __post_init__(self):
        """Check the stage.

        Raises:
            ValueError: if stage is neither None nor one of :data:`WAYPOINT_STAGES`.

        """
        _check_choice('stage', self.stage, WAYPOINT_STAGES + (None,))


class WaypointExpert(ScriptedExpert):
    """An expert that visits waypoints planned at the start of the episode.

    A waypoint is done when the tool has been within tolerance for settle_steps more steps
    (or after the timeout); after the last one the tool holds its pose. A hand the expert did
    not move itself (a policy's, labelled in DAgger) rarely meets the tolerances, and labels
    that kept asking for a waypoint it had passed told it to go back (up to the hover point
    from a lifted block): :meth:`follow_state` first moves the plan on to the waypoint that
    fits the hand and the block, or plans again where the block is not where the plan has it.
    """

    # A hand below a hover waypoint and inside this cone around the line down to the next
    # waypoint (horizontal metres per metre of height above it, plus the tolerance) is past it.
    descent_cone_slope = 0.5
    # A block this close to the tool centre point (m) is between the fingers; it is gripped
    # when the fingers are also closed to under grip_opening_m (one finger, m; open is 0.04,
    # closed on a block about 0.014), and held when gripped and raised_m above its rest.
    grip_distance_m = 0.025
    grip_opening_m = 0.03
    raised_m = 0.01
    # A held block this far sideways from the lift waypoint (m) is being carried on.
    lift_departure_m = 0.02
    # A released block this close to its place, sideways (m), has been put down there.
    place_tolerance_m = 0.03

    def plan(self, sim) -> list:
        """Return the episode's waypoints.

        Args:
            sim: the ArmSim, just reset.

        """
        raise NotImplementedError

    def start(self, sim) -> None:
        """Plan the waypoints and restart counting.

        Args:
            sim: the ArmSim, just reset.

        """
        self._waypoints = self.plan(sim)
        self._rest_heights = {waypoint.body: sim.body_position(waypoint.body)[2]
                              for waypoint in self._waypoints if waypoint.body}
        self._move_to_waypoint(0)

    def _move_to_waypoint(self, index: int) -> None:
        """Make waypoint index the current one and restart its step counts."""
        self._index = index
        self._steps_in_waypoint = 0
        self._steps_within_tolerance = 0

    def target_yaw(self, sim) -> float:
        """Return the yaw of the first waypoint the expert would plan in this scene.

        Args:
            sim: the ArmSim, just reset.

        """
        return self.plan(sim)[0].yaw_rad

    def held_yaw(self, sim) -> float:
        """Return the yaw of the current waypoint.

        Args:
            sim: the ArmSim of the ongoing episode.

        """
        return self._waypoints[self._index].yaw_rad

    def step(self, sim) -> np.ndarray:
        """Advance through the waypoints and move towards the current one.

        Args:
            sim: the ArmSim to act in.

        """
        self.follow_state(sim)
        waypoint = self._waypoints[self._index]
        target = self._tool_target(sim, waypoint)
        if np.linalg.norm(target - sim.tcp_position()) < waypoint.tolerance_m:
            self._steps_within_tolerance += 1
        self._steps_in_waypoint += 1
        done = (self._steps_within_tolerance > waypoint.settle_steps
                or self._steps_in_waypoint > self.config.waypoint_timeout_steps)
        if done and self._index < len(self._waypoints) - 1:
            self._move_to_waypoint(self._index + 1)
            waypoint = self._waypoints[self._index]
            target = self._tool_target(sim, waypoint)
        return self.move(sim, target, waypoint.yaw_rad, waypoint.gripper)

    def follow_state(self, sim) -> None:
        """Move the plan on past the waypoints the hand and block have done, or plan again.

        Past a hover point: a hand below it inside the descent cone of the next waypoint.
        Past descending and closing onto the block: the block held. Past the lift: the held
        block carried sideways. Past lowering it: the block let go at its place; past
        releasing it: that, with the hand above the release point. The expert plans again
        when a closed hand has lost its block, or before the grasp when the block is no
        longer where the plan grasps it. Driving alone the expert meets its waypoints before
        any of these, so its own episodes do not change.

        Args:
            sim: the ArmSim of the ongoing episode.

        """
        self._skip_done_waypoints(sim)
        if self._block_lost(sim, self._waypoints[self._index]):
            self.start(sim)
            self._skip_done_waypoints(sim)

    def _skip_done_waypoints(self, sim) -> None:
        """Move on while the hand and block as they are have done the current waypoint."""
        while (self._index < len(self._waypoints) - 1
               and self._done_by_state(sim, self._index)):
            self._move_to_waypoint(self._index + 1)

    def _done_by_state(self, sim, index: int) -> bool:
        """Return whether the hand and block as they are have done waypoint index."""
        waypoint = self._waypoints[index]
        if waypoint.stage == 'hover':
            return self._in_descent_cone(sim, waypoint, self._waypoints[index + 1])
        if waypoint.stage in ('descend', 'close'):
            return self._holds(sim, waypoint.body)
        if waypoint.stage == 'lift':
            sideways = _horizontal_distance(sim.tcp_position(), waypoint.position_m)
            return self._holds(sim, waypoint.body) and sideways > self.lift_departure_m
        placed = (waypoint.stage in ('lower', 'release') and not self._grips(sim, waypoint.body)
                  and _horizontal_distance(sim.body_position(waypoint.body),
                                           waypoint.position_m) < self.place_tolerance_m)
        if waypoint.stage == 'release':
            return placed and sim.tcp_position()[2] > (self._tool_target(sim, waypoint)[2]
                                                       + waypoint.tolerance_m)
        return placed

    def _in_descent_cone(self, sim, hover: Waypoint, below: Waypoint) -> bool:
        """Return whether the hand is under a hover point, on its way down to the next one."""
        tcp = sim.tcp_position()
        end = self._tool_target(sim, below)
        height_m = tcp[2] - end[2]
        return (tcp[2] < self._tool_target(sim, hover)[2] - hover.tolerance_m
                and _horizontal_distance(tcp, end)
                <= hover.tolerance_m + self.descent_cone_slope * max(height_m, 0.0))

    def _block_lost(self, sim, waypoint: Waypoint) -> bool:
        """Return whether the block is not where the waypoint needs it (then plan again)."""
        if waypoint.body is None or waypoint.stage in ('release', 'rise'):
            return False
        block = sim.body_position(waypoint.body)
        if waypoint.gripper == GRIPPER_CLOSED:
            return np.linalg.norm(block - sim.tcp_position()) > self.grip_distance_m
        grasp = next(w.position_m for w in self._waypoints
                     if w.stage == 'descend' and w.body == waypoint.body)
        return _horizontal_distance(block, grasp) > waypoint.tolerance_m

    def _grips(self, sim, body: str) -> bool:
        """Return whether the fingers are closed on the block."""
        return (np.linalg.norm(sim.body_position(body) - sim.tcp_position())
                < self.grip_distance_m
                and sim.joint_positions()[-1] < self.grip_opening_m)

    def _holds(self, sim, body: str) -> bool:
        """Return whether the block is gripped and raised off where it rested."""
        return (self._grips(sim, body)
                and sim.body_position(body)[2] > self._rest_heights[body] + self.raised_m)

    @staticmethod
    def _tool_target(sim, waypoint: Waypoint) -> np.ndarray:
        """Return the tool position a waypoint asks for."""
        if waypoint.carried is None:
            return waypoint.position_m
        return waypoint.position_m + sim.tcp_position() - sim.body_position(waypoint.carried)

    def grasp_waypoints(self, sim, body: str) -> list:
        """Return waypoints that pick a block from above and lift it.

        Args:
            sim: the ArmSim holding the block.
            body: the block's body name.

        """
        config = self.config
        block = sim.body_position(body)
        yaw = grasp_yaw(sim, body)
        above = block + [0.0, 0.0, config.hover_height_m]
        return [
            Waypoint(above, yaw, GRIPPER_OPEN, config.tolerance_m, stage='hover', body=body),
            Waypoint(block, yaw, GRIPPER_OPEN, config.fine_tolerance_m, stage='descend',
                     body=body),
            Waypoint(block, yaw, GRIPPER_CLOSED, config.tolerance_m,
                     settle_steps=config.gripper_settle_steps, stage='close', body=body),
            Waypoint(block + [0.0, 0.0, config.lift_height_m], yaw, GRIPPER_CLOSED,
                     config.tolerance_m, stage='lift', body=body),
        ]

    def place_waypoints(self, body: str, position_m, yaw_rad: float) -> list:
        """Return waypoints that lower a held block onto position_m, release it and back off.

        Args:
            body: the held block's body name.
            position_m: (3,) where the block's centre should end up (just above its support).
            yaw_rad: tool yaw to keep.

        """
        config = self.config
        position_m = np.asarray(position_m, float)
        above = position_m + [0.0, 0.0, config.hover_height_m]
        return [
            Waypoint(above, yaw_rad, GRIPPER_CLOSED, config.tolerance_m, carried=body,
                     stage='hover', body=body),
            Waypoint(position_m, yaw_rad, GRIPPER_CLOSED, config.fine_tolerance_m,
                     carried=body, stage='lower', body=body),
            Waypoint(position_m, yaw_rad, GRIPPER_OPEN, config.tolerance_m,
                     settle_steps=config.gripper_settle_steps, carried=body,
                     stage='release', body=body),
            Waypoint(above, yaw_rad, GRIPPER_OPEN, config.tolerance_m, stage='rise',
                     body=body),
        ]


class ReachExpert(WaypointExpert):
    """Moves the fingertips just above the goal disc."""

    def plan(self, sim) -> list:
        """Return the single waypoint over the goal disc.

        Args:
            sim: the ArmSim, just reset.

        """
        target = sim.body_position('target_0') + [0.0, 0.0, 0.03]
        return [Waypoint(target, 0.0, GRIPPER_OPEN, self.config.tolerance_m)]


class LiftExpert(WaypointExpert):
    """Grasps the block and lifts it."""

    def plan(self, sim) -> list:
        """Return the grasp-and-lift waypoints.

        Args:
            sim: the ArmSim, just reset.

        """
        return self.grasp_waypoints(sim, 'block')


class PickPlaceExpert(WaypointExpert):
    """Grasps the block, carries it over the tray and drops it in."""

    def plan(self, sim) -> list:
        """Return grasp, carry and release waypoints.

        Args:
            sim: the ArmSim, just reset.

        """
        grasp = self.grasp_waypoints(sim, 'block')
        release_height_m = (PickPlace.tray_floor_thickness_m + BLOCK_HALF_SIZE_M
                            + PickPlace.tray_wall_height_m)
        drop = sim.body_position('tray') + [0.0, 0.0, release_height_m]
        return grasp + self.place_waypoints('block', drop, grasp[-1].yaw_rad)


class StackExpert(WaypointExpert):
    """Grasps the top block and sets it down centred on the base block."""

    def plan(self, sim) -> list:
        """Return grasp, carry and release waypoints.

        Args:
            sim: the ArmSim, just reset.

        """
        grasp = self.grasp_waypoints(sim, 'block_top')
        # Released 5 mm above its resting height so it does not hit the base block.
        on_top = sim.body_position('block_base') + [0.0, 0.0, 2 * BLOCK_HALF_SIZE_M + 0.005]
        return grasp + self.place_waypoints('block_top', on_top, grasp[-1].yaw_rad)


class PressExpert(WaypointExpert):
    """Closes the gripper and presses the goal button's cap down with the fingertips."""

    def plan(self, sim) -> list:
        """Return the approach and press waypoints.

        Args:
            sim: the ArmSim, just reset.

        """
        config = self.config
        cap = sim.body_position('button_0_cap')
        # Fingertips end 5 mm beyond the tool centre point; aim them 5 mm past the cap's full
        # travel so the arm's compliance and the spring cannot stop it short of pressed.
        press = cap + [0.0, 0.0, PressButton.cap_height_m / 2.0 - PressButton.travel_m]
        return [
            Waypoint(cap + [0.0, 0.0, config.hover_height_m], 0.0, GRIPPER_CLOSED,
                     config.tolerance_m, stage='hover'),
            Waypoint(press, 0.0, GRIPPER_CLOSED, config.fine_tolerance_m),
        ]


# Turning left, a hand up to this far past the push yaw turns back, further past it turns on.
PUSH_TURN_BACK_RAD = 0.15


def push_yaw(direction, tool_yaw_rad: float, offset_rad: float = 0.0,
             turn: str = 'folded') -> float:
    """Return the tool yaw that lines the fingers up across a push direction.

    The hand is symmetric under a half turn, so two yaws line it up. ``'folded'`` returns the
    one in [-pi/2, pi/2): from the home yaw (0) the shorter turn, whose direction flips
    between scenes that look almost the same where the two are equally far; a policy unsure
    of the side averages the two directions into no turn at all (docs/sim.md). ``'left'``
    returns the one reached turning counterclockwise (about world +z) from the tool, less
    than a half turn away, unless the tool is at most PUSH_TURN_BACK_RAD past one: the first
    turn then runs the same way in almost every scene, and only where it stops differs.

    Args:
        direction: (2,) or (3,) push direction in the world xy plane (z ignored).
        tool_yaw_rad: the tool's yaw now (see rotation_yaw); read by ``'left'`` only.
        offset_rad: turn the fingers this far from across the direction.
        turn: one of :data:`PUSH_TURNS`.

    Returns:
        Yaw in rad: the tool x axis along the direction (turned by offset_rad), so the
        fingers, which close along the tool y axis, sit side by side across it.

    Raises:
        ValueError: on an unknown turn.

    """
    check_push_turn(turn)
    across = np.arctan2(direction[1], direction[0]) + offset_rad
    if turn == 'folded':
        return float(np.mod(across + np.pi / 2, np.pi) - np.pi / 2)
    left_turn = np.mod(across - tool_yaw_rad + PUSH_TURN_BACK_RAD, np.pi) - PUSH_TURN_BACK_RAD
    return float(tool_yaw_rad + left_turn)


class PushExpert(ScriptedExpert):
    """Pushes the block towards the zone with two fingertips, re-approaching if it drifts.

    Phases: 'approach' (hover behind the block, on the far side from the zone), 'descend',
    'push' (aim through the block towards the zone, recomputed every step) and 'retreat'
    (rise, then approach again) when the fingers slip off the line behind the block.

    The fingers push part-open, side by side across the push direction: two contacts 2.4 cm
    apart square the block's face to them and keep it in front of the hand, so a push aimed a
    few degrees off still carries the block along. One closed-finger contact let it slide off
    sideways, and a policy that steers less precisely than this expert then lost it.
    """

    push_height_m = 0.012
    # Each finger 1.2 cm from the centre: a gap narrower than the 4 cm block.
    push_opening = 0.3
    behind_m = 0.06
    contact_m = BLOCK_HALF_SIZE_M + 0.012
    push_through_m = 0.03
    max_lateral_offset_m = 0.015
    goal_tolerance_m = 0.01
    # Height above the block's top at which the hand may move across it.
    block_clearance_m = 0.02
    # A labelled hand this close above the push height counts as down, pushing.
    down_margin_m = 0.01

    def __init__(self, config: ExpertConfig = ExpertConfig(), yaw_offset_rad: float = 0.0,
                 retreats: bool = True):
        """Create the expert.

        Args:
            config: motion limits and tolerances.
            yaw_offset_rad: hold the fingers this far from across the line: how precisely
                a policy must turn the hand (``python -m gato_ros.sim.benchmark
                --push-yaw-offsets-rad``; docs/sim.md).
            retreats: rise and approach again when the fingers slip off the line; False
                pushes on, as a policy that never learned to recover does.

        """
        super().__init__(config)
        self.yaw_offset_rad = yaw_offset_rad
        self.retreats = retreats

    def start(self, sim) -> None:
        """Begin by approaching the block.

        Args:
            sim: the ArmSim, just reset.

        """
        self._phase = 'approach'
        self._yaw_rad = 0.0

    def target_yaw(self, sim) -> float:
        """Return the yaw that lines the fingers up across the block-to-zone line.

        Args:
            sim: the ArmSim, just reset.

        """
        to_goal = sim.body_position('zone')[:2] - sim.body_position('block')[:2]
        return push_yaw(to_goal, rotation_yaw(sim.tcp_rotation()), self.yaw_offset_rad,
                        self.config.push_turn)

    def held_yaw(self, sim) -> float:
        """Return the yaw across the line while approaching, then the yaw set in the air.

        Args:
            sim: the ArmSim of the ongoing episode.

        """
        return self.target_yaw(sim) if self._phase == 'approach' else self._yaw_rad

    def step(self, sim) -> np.ndarray:
        """Return the action for the current phase, switching phases on arrival or drift.

        Args:
            sim: the ArmSim to act in.

        """
        block = sim.body_position('block')
        to_goal = sim.body_position('zone')[:2] - block[:2]
        distance = np.linalg.norm(to_goal)
        direction = np.append(to_goal / max(distance, 1e-9), 0.0)
        behind = block - direction * self.behind_m
        tcp = sim.tcp_position()
        self._phase = self._phase_of_state(sim, tcp, block, direction)
        if self._phase == 'approach':
            target = behind + [0.0, 0.0, self.config.hover_height_m]
            # Set in the air only: turning the hand while it pushes would sweep the block.
            self._yaw_rad = self.target_yaw(sim)
        elif self._phase == 'descend':
            target = np.append(behind[:2], self.push_height_m)
        elif self._phase == 'retreat':
            target = np.append(tcp[:2], self.config.hover_height_m)
        else:
            target = block + direction * (self.push_through_m - self.contact_m)
            target[2] = self.push_height_m
            if distance < self.goal_tolerance_m:
                target = tcp
        self._phase = self._next_phase(tcp, target, block, direction)
        return self.move(sim, target, self._yaw_rad, self.push_opening)

    def _phase_of_state(self, sim, tcp, block, direction) -> str:
        """Return the phase for a hand this expert may not have moved itself.

        Below the block's top, a hand off the line or beside the block rises to approach
        again, one down on the line close behind the block pushes on at the yaw it has, and
        one on the line further back descends there; a hand lifted off a push approaches
        again. A policy's hand, labelled in DAgger, rarely meets the waypoints that advance
        the phases, and labels that kept approaching told it to rise from every push.
        Driving alone the expert never meets these states, so its own episodes do not change.
        """
        lateral, along = _line_offsets(tcp, block, direction)
        above_block = tcp[2] > 2 * BLOCK_HALF_SIZE_M + self.block_clearance_m
        if self._phase == 'push':
            return 'approach' if above_block else 'push'
        if self._phase not in ('approach', 'descend') or above_block:
            return self._phase
        if lateral > self.max_lateral_offset_m or along >= 0.0:
            return 'retreat'
        if (tcp[2] < self.push_height_m + self.down_margin_m
                and along > -(self.behind_m - self.config.tolerance_m)):
            # Push on at the yaw the hand has: turning it against the block would sweep it.
            self._yaw_rad = rotation_yaw(sim.tcp_rotation())
            return 'push'
        if self._phase == 'approach':
            self._yaw_rad = self.target_yaw(sim)  # as approach sets it
        return 'descend'

    def _next_phase(self, tcp, target, block, direction) -> str:
        """Return the phase for the next step."""
        reached = np.linalg.norm(target - tcp) < self.config.tolerance_m
        if self._phase == 'approach' and reached:
            return 'descend'
        if self._phase == 'descend' and reached:
            return 'push'
        if self._phase == 'retreat' and reached:
            return 'approach'
        if self._phase == 'push' and self.retreats:
            lateral, along = _line_offsets(tcp, block, direction)
            if lateral > self.max_lateral_offset_m or along > 0.0:
                return 'retreat'
        return self._phase


def _horizontal_distance(a, b) -> float:
    """Return the distance between two points seen from above (m)."""
    return float(np.linalg.norm(np.subtract(a, b)[:2]))


def _line_offsets(tcp, block, direction):
    """Return the hand's distance from the push line through the block, and along it (m)."""
    offset = (tcp - block)[:2]
    return (abs(offset[0] * direction[1] - offset[1] * direction[0]),
            float(np.dot(offset, direction[:2])))


_EXPERTS = {
    'reach_target': ReachExpert,
    'push_block': PushExpert,
    'lift_block': LiftExpert,
    'pick_place': PickPlaceExpert,
    'stack_blocks': StackExpert,
    'press_button': PressExpert,
}


def make_expert(task_name: str, config: ExpertConfig = ExpertConfig()) -> ScriptedExpert:
    """Create the scripted expert of a task.

    Args:
        task_name: a task name from gato_ros.sim.tasks.list_tasks().
        config: motion limits and tolerances.

    Returns:
        The expert (also usable as a run_episode policy function).

    Raises:
        ValueError: if the task has no expert.

    """
    if task_name not in _EXPERTS:
        raise ValueError(f'no expert for task {task_name!r}; expected one of {sorted(_EXPERTS)}')
    return _EXPERTS[task_name](config)
