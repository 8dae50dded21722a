"""Select and order the configured joints from ``sensor_msgs/JointState`` messages.

Drivers publish joint states with extra joints, in any order, and sometimes split over several
messages (an arm and its gripper from two controllers). :class:`JointStateCache` merges them
into one vector in the configured ``joint_names`` order:

* joints that are not configured are ignored (their values are not even checked);
* a message is applied whole or not at all: it is rejected (ValueError) when its arrays have
  mismatched lengths, it names a joint twice, a configured joint has a NaN/inf value, or a
  configured joint's stamp would go backwards;
* every configured joint keeps the stamp of the message that last set it; a sample is produced
  only when every configured joint was seen and all their stamps lie within ``max_skew_s`` of
  the newest one (a joint whose publisher stopped makes the sample stale). The sample's stamp is
  the OLDEST joint stamp, so age checks downstream judge the stalest joint.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JointSelectionConfig:
    """Which joints to read and how fresh they must be.

    Attributes:
        joint_names: Joints to select, in output order.
        include_velocities: Append the velocities (same order) after the positions.
        max_skew_s: Largest stamp difference between the configured joints of one sample (s).
    """

    joint_names: tuple
    include_velocities: bool = False
    max_skew_s: float = 0.05

    def __post_init__(self):
        """Check the values.

        Raises:
            ValueError: On an empty or duplicated joint list or a negative skew.
        """
        if not self.joint_names:
            raise ValueError('joint_names must name at least one joint, got none')
        if len(set(self.joint_names)) != len(self.joint_names):
            raise ValueError(f'joint_names must be unique, got {list(self.joint_names)}')
        if not self.max_skew_s >= 0.0:
            raise ValueError(f'max_skew_s must be >= 0, got {self.max_skew_s}')


@dataclass(frozen=True)
class JointSample:
    """One coherent reading of the configured joints.

    Attributes:
        values: float32 (N,) positions, or (2N,) positions then velocities.
        stamp_ns: Oldest stamp among the configured joints (ns).
    """

    values: np.ndarray
    stamp_ns: int


class JointStateCache:
    """Latest value and stamp of each configured joint, merged from partial messages."""

    def __init__(self, config):
        """Create an empty cache.

        Args:
            config: A :class:`JointSelectionConfig`.
        """
        self.config = config
        self._index = {name: i for i, name in enumerate(config.joint_names)}
        count = len(config.joint_names)
        self._positions = np.zeros(count, dtype=np.float64)
        self._velocities = np.zeros(count, dtype=np.float64)
        self._stamps_ns = np.zeros(count, dtype=np.int64)
        self._seen = np.zeros(count, dtype=bool)

    @property
    def value_names(self):
        """Names of the sample's values, e.g. ``['shoulder/position', ...]``.

        Returns:
            list[str]: One name per element of :attr:`JointSample.values`.
        """
        names = [f'{joint}/position' for joint in self.config.joint_names]
        if self.config.include_velocities:
            names += [f'{joint}/velocity' for joint in self.config.joint_names]
        return names

    def clear(self):
        """Forget every joint (e.g. after the clock jumped back)."""
        self._seen[:] = False

    def update(self, names, positions, velocities, stamp_ns):
        """Apply one JointState message.

        Args:
            names: Joint names of the message.
            positions: One position per name.
            velocities: One velocity per name, or empty.
            stamp_ns: The message's stamp (ns).

        Returns:
            bool: True if at least one configured joint was updated.

        Raises:
            ValueError: When the message is inconsistent (see the module docstring); the cache
                is then unchanged.
        """
        names = list(names)
        self._check_lengths(names, positions, velocities)
        slots = [(self._index[n], i) for i, n in enumerate(names) if n in self._index]
        if not slots:
            return False
        ours, theirs = (np.array(s, dtype=np.int64) for s in zip(*slots))
        new_positions = np.asarray(positions, dtype=np.float64)[theirs]
        self._check_finite('position', names, theirs, new_positions)
        new_velocities = None
        if self.config.include_velocities:
            if len(velocities) == 0:
                raise ValueError(
                    'include_velocities is set but the JointState message has no velocities')
            new_velocities = np.asarray(velocities, dtype=np.float64)[theirs]
            self._check_finite('velocity', names, theirs, new_velocities)
        older = self._seen[ours] & (self._stamps_ns[ours] > stamp_ns)
        if older.any():
            i = ours[older][0]
            raise ValueError(
                f'stamp of joint {self.config.joint_names[i]!r} went backwards: {stamp_ns} ns '
                f'after {self._stamps_ns[i]} ns')
        self._positions[ours] = new_positions
        if new_velocities is not None:
            self._velocities[ours] = new_velocities
        self._stamps_ns[ours] = stamp_ns
        self._seen[ours] = True
        return True

    def sample(self):
        """Return the configured joints if all are known and coherent in time.

        Returns:
            JointSample | None: The sample, or None while a joint is missing or stale.
        """
        if not self._seen.all():
            return None
        oldest_ns, newest_ns = int(self._stamps_ns.min()), int(self._stamps_ns.max())
        if (newest_ns - oldest_ns) * 1e-9 > self.config.max_skew_s:
            return None
        values = self._positions
        if self.config.include_velocities:
            values = np.concatenate([self._positions, self._velocities])  # (2N,)
        return JointSample(values=values.astype(np.float32), stamp_ns=oldest_ns)

    @staticmethod
    def _check_lengths(names, positions, velocities):
        if len(set(names)) != len(names):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f'JointState names joints more than once: {duplicated}')
        if len(positions) != len(names):
            raise ValueError(
                f'JointState has {len(names)} names but {len(positions)} positions')
        if len(velocities) not in (0, len(names)):
            raise ValueError(
                f'JointState has {len(names)} names but {len(velocities)} velocities '
                '(expected the same number or none)')

    @staticmethod
    def _check_finite(field, names, indices, values):
        bad = ~np.isfinite(values)
        if bad.any():
            joint = names[indices[bad][0]]
            raise ValueError(f'JointState {field} of joint {joint!r} is not finite')
