"""The one place every motion command passes before it leaves gato_ros.

:class:`SafetyFilter` guards joint position commands (arm joints and a gripper joint alike),
:func:`limit_twist` guards Cartesian velocity commands. Guarantees, for every output of a
filter since its last :meth:`SafetyFilter.reset`:

* every value is finite and inside ``[position_lower, position_upper]`` of its joint;
* consecutive outputs differ by at most ``max_step`` per joint (one control period);
* the first output is at most ``max_step`` away from the measured state, once that state is
  clipped into the limits (the measured state may sit at most ``seed_tolerance`` outside
  them; further outside, the filter refuses to command anything, because reaching the limits
  would need a jump).

Non-finite targets or measurements are rejected with ValueError and do not change the state.
"""

from dataclasses import dataclass

from gato_ros.data import TWIST_SIZE
import numpy as np


@dataclass(frozen=True)
class SafetyConfig:
    """Limits of the commanded joints, in each joint's unit (rad revolute, m prismatic).

    Attributes:
        joint_names: Commanded joints, in command order.
        position_lower: Lowest allowed position per joint.
        position_upper: Highest allowed position per joint.
        max_step: Largest change per joint between two consecutive commands (one period).
        seed_tolerance: How far outside its limits a measured joint may be at activation and
            still be clipped into them.
    """

    joint_names: tuple
    position_lower: tuple
    position_upper: tuple
    max_step: tuple
    seed_tolerance: float = 0.01

    def __post_init__(self):
        """Check the values.

        Raises:
            ValueError: On mismatched lengths, empty ranges or non-positive steps.
        """
        count = len(self.joint_names)
        for name in ('position_lower', 'position_upper', 'max_step'):
            if len(getattr(self, name)) != count:
                raise ValueError(
                    f'{name} needs one value per joint ({count}: {list(self.joint_names)}), '
                    f'got {len(getattr(self, name))}')
        lower, upper = np.asarray(self.position_lower), np.asarray(self.position_upper)
        step = np.asarray(self.max_step, dtype=np.float64)
        if not (np.isfinite(lower).all() and np.isfinite(upper).all() and (lower < upper).all()):
            raise ValueError(
                f'position_lower < position_upper (finite) expected per joint, got '
                f'{list(self.position_lower)} and {list(self.position_upper)}')
        if not (np.isfinite(step).all() and (step > 0.0).all()):
            raise ValueError(f'max_step must be finite and > 0 per joint, got {list(step)}')
        if not self.seed_tolerance >= 0.0:
            raise ValueError(f'seed_tolerance must be >= 0, got {self.seed_tolerance}')


class SafetyFilter:
    """Clamp joint position commands to limits and to a maximum step per control period."""

    def __init__(self, config):
        """Create a filter that seeds from the measured state on its first command.

        Args:
            config: A :class:`SafetyConfig`.
        """
        self.config = config
        self._lower = np.asarray(config.position_lower, dtype=np.float64)
        self._upper = np.asarray(config.position_upper, dtype=np.float64)
        self._step = np.asarray(config.max_step, dtype=np.float64)
        self._previous = None

    @property
    def seeded(self):
        """Whether a command was issued since the last reset.

        Returns:
            bool: False until the first :meth:`apply` after construction or reset.
        """
        return self._previous is not None

    def reset(self):
        """Forget the last command: the next one starts from the measured state."""
        self._previous = None

    def apply(self, target, measured):
        """Return the safe command closest to ``target``.

        Args:
            target: (N,) wanted positions, one per configured joint.
            measured: (N,) measured positions; used only to seed the first command.

        Returns:
            np.ndarray: float64 (N,) command within limits and one step of the previous one.

        Raises:
            ValueError: On a wrong shape, non-finite values, or a measured state too far
                outside the limits to start from.
        """
        target = self._checked('target', target)
        measured = self._checked('measured', measured)
        previous = self._previous if self.seeded else self._seed(measured)
        command = np.clip(target, previous - self._step, previous + self._step)
        command = np.clip(command, self._lower, self._upper)
        self._previous = command
        return command.copy()

    def _checked(self, what, values):
        values = np.asarray(values, dtype=np.float64)
        count = len(self.config.joint_names)
        if values.shape != (count,):
            raise ValueError(
                f'{what} must have shape ({count},) for joints {list(self.config.joint_names)},'
                f' got {values.shape}')
        if not np.isfinite(values).all():
            raise ValueError(f'{what} positions must be finite, got {values.tolist()}')
        return values

    def _seed(self, measured):
        tolerance = self.config.seed_tolerance
        outside = (measured < self._lower - tolerance) | (measured > self._upper + tolerance)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f'joint {self.config.joint_names[i]!r} is measured at {measured[i]:.4f}, outside'
                f' its limits [{self._lower[i]:.4f}, {self._upper[i]:.4f}]; refusing to move it')
        return np.clip(measured, self._lower, self._upper)


def limit_twist(twist, max_linear_mps, max_angular_radps):
    """Scale a Cartesian velocity so its linear and angular speeds stay under their maxima.

    The direction of each part is kept (each 3-vector is scaled, not clipped per axis).

    Args:
        twist: (6,) linear x, y, z (m/s) then angular x, y, z (rad/s).
        max_linear_mps: Largest linear speed (m/s).
        max_angular_radps: Largest angular speed (rad/s).

    Returns:
        np.ndarray: float64 (6,) limited twist.

    Raises:
        ValueError: On a wrong shape or non-finite values.
    """
    twist = np.asarray(twist, dtype=np.float64)
    if twist.shape != (TWIST_SIZE,) or not np.isfinite(twist).all():
        raise ValueError(f'twist must be {TWIST_SIZE} finite values, got {twist.tolist()}')
    limited = twist.copy()
    for part, limit in ((slice(0, 3), max_linear_mps), (slice(3, 6), max_angular_radps)):
        speed = np.linalg.norm(twist[part])
        if speed > limit:
            limited[part] *= limit / speed
    return limited
