"""Turn a policy action vector into joint targets or a twist (gato_ros's action convention).

Layout of an action (float (A,)), in order:

* ``trajectory`` mode: one position DELTA per arm joint for one control period (rad, or m for
  prismatic joints), in ``joint_names`` order; the target is ``measured + delta``;
* ``servo`` mode: a Cartesian twist, linear x, y, z (m/s) then angular x, y, z (rad/s);
* then, when a gripper is configured, one gripper command in [0, 1] (0 closed, 1 open) mapped
  linearly onto the gripper joint's ``[closed_position, open_position]``.

The targets then go through :class:`gato_ros.nodes.safety.SafetyFilter` (joints) or
:func:`gato_ros.nodes.safety.limit_twist` (twists) before any message is built.
"""

from dataclasses import dataclass, field

from gato_ros.data import TWIST_SIZE
import numpy as np

MODES = ('trajectory', 'servo')
GRIPPER_OUTPUTS = ('joint', 'topic')


@dataclass(frozen=True)
class GripperConfig:
    """How the gripper command is applied.

    Attributes:
        joint_name: Gripper joint; empty for no gripper.
        output: ``'joint'`` (one more joint of the trajectory) or ``'topic'`` (a separate
            ``Float64MultiArray`` position command).
        closed_position: Joint position of command 0 (m or rad).
        open_position: Joint position of command 1 (m or rad).
    """

    joint_name: str = ''
    output: str = 'joint'
    closed_position: float = 0.0
    open_position: float = 0.04

    def __post_init__(self):
        """Check the values.

        Raises:
            ValueError: On an unknown output or equal/non-finite positions.
        """
        if self.output not in GRIPPER_OUTPUTS:
            raise ValueError(
                f'gripper output must be one of {GRIPPER_OUTPUTS}, got {self.output!r}')
        ends = [self.closed_position, self.open_position]
        if not np.isfinite(ends).all() or ends[0] == ends[1]:
            raise ValueError(
                f'gripper closed/open positions must differ and be finite, got {ends}')

    @property
    def enabled(self):
        """Whether a gripper is configured.

        Returns:
            bool: True when ``joint_name`` is set.
        """
        return bool(self.joint_name)

    @property
    def limits(self):
        """Gripper joint range implied by the closed and open positions.

        Returns:
            tuple[float, float]: (lower, upper).
        """
        return (min(self.closed_position, self.open_position),
                max(self.closed_position, self.open_position))

    def position(self, command):
        """Map a gripper command to a joint position.

        Args:
            command: Command in [0, 1] (clipped into it), 0 closed, 1 open.

        Returns:
            float: Joint position.
        """
        fraction = float(np.clip(command, 0.0, 1.0))
        return self.closed_position + fraction * (self.open_position - self.closed_position)


@dataclass(frozen=True)
class ActionLayout:
    """What the entries of an action mean for one robot.

    Attributes:
        mode: ``'trajectory'`` (joint deltas) or ``'servo'`` (Cartesian twist).
        joint_names: Arm joints in action order (trajectory mode; ignored in servo mode).
        gripper: A :class:`GripperConfig`.
    """

    mode: str
    joint_names: tuple = ()
    gripper: GripperConfig = field(default_factory=GripperConfig)

    def __post_init__(self):
        """Check the values.

        Raises:
            ValueError: On an unknown mode, a trajectory mode without joints, a servo-mode
                gripper in the trajectory, or a gripper joint listed as an arm joint.
        """
        if self.mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {self.mode!r}')
        if self.mode == 'trajectory' and not self.joint_names:
            raise ValueError('trajectory mode needs joint_names, got none')
        if self.mode == 'servo' and self.gripper.enabled and self.gripper.output == 'joint':
            raise ValueError("servo mode can only command a gripper with output 'topic'")
        if self.gripper.joint_name in self.joint_names:
            raise ValueError(
                f'gripper joint {self.gripper.joint_name!r} must not be one of joint_names')

    @property
    def arm_dim(self):
        """Number of action entries before the gripper command.

        Returns:
            int: len(joint_names) in trajectory mode, 6 in servo mode.
        """
        return len(self.joint_names) if self.mode == 'trajectory' else TWIST_SIZE

    @property
    def action_dim(self):
        """Number of entries an action must have.

        Returns:
            int: ``arm_dim`` plus one for a gripper.
        """
        return self.arm_dim + int(self.gripper.enabled)

    @property
    def commanded_joints(self):
        """Joints whose positions this layout commands (the safety filter's joints).

        Returns:
            tuple[str, ...]: Arm joints (trajectory mode), then the gripper joint if any.
        """
        arm = tuple(self.joint_names) if self.mode == 'trajectory' else ()
        return arm + ((self.gripper.joint_name,) if self.gripper.enabled else ())

    def check(self, action):
        """Check an action's shape and values.

        Args:
            action: The policy's action.

        Returns:
            np.ndarray: float64 (action_dim,).

        Raises:
            ValueError: On a wrong shape or non-finite values.
        """
        action = np.asarray(action, dtype=np.float64)
        if action.shape != (self.action_dim,):
            raise ValueError(
                f'action must have shape ({self.action_dim},) for mode {self.mode!r}, '
                f'got {action.shape}')
        if not np.isfinite(action).all():
            raise ValueError(f'action must be finite, got {action.tolist()}')
        return action

    def joint_targets(self, action, measured):
        """Target positions of :attr:`commanded_joints`, before the safety filter.

        Args:
            action: (action_dim,) checked action.
            measured: (len(commanded_joints),) measured positions of the commanded joints.

        Returns:
            np.ndarray: float64 (len(commanded_joints),) targets.

        Raises:
            ValueError: When ``measured`` does not have one value per commanded joint.
        """
        targets = np.array(measured, dtype=np.float64)
        if targets.shape != (len(self.commanded_joints),):
            raise ValueError(
                f'measured must have one position per joint of {list(self.commanded_joints)},'
                f' got shape {targets.shape}')
        if self.mode == 'trajectory':
            targets[:self.arm_dim] += action[:self.arm_dim]
        if self.gripper.enabled:
            targets[-1] = self.gripper.position(action[self.arm_dim])
        return targets

    def twist(self, action):
        """Twist part of a servo-mode action.

        Args:
            action: (action_dim,) checked action.

        Returns:
            np.ndarray: float64 (6,) linear (m/s) then angular (rad/s) velocity.
        """
        return np.asarray(action[:TWIST_SIZE], dtype=np.float64)
