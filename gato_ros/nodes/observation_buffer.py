"""Newest observation of each source, and the checks the control loop makes before using them.

The inference node keeps only the latest ``gato_ros/Observation`` per key (observers publish
faster or slower than the control rate; older values are useless). At each control tick
:meth:`ObservationBuffer.gather` returns every configured key, or raises ValueError naming the
first problem: a key never received, a stamp older than ``max_obs_age_s`` (or ahead of the
node clock by as much, which means clocks disagree, e.g. ``use_sim_time`` on only one side),
or a malformed message. No command may be built from a tick that raised.
"""

from dataclasses import dataclass

from gato_ros.nodes.observation import observation_to_array, stamp_to_ns
import numpy as np


@dataclass(frozen=True)
class Snapshot:
    """Observations of one control tick.

    Attributes:
        observation: key -> array, as the policy takes it.
        oldest_stamp_ns: Acquisition stamp of the oldest observation used (ns).
        names: key -> value names of the vector observations (e.g. ``'j1/position'``).
    """

    observation: dict
    oldest_stamp_ns: int
    names: dict


class ObservationBuffer:
    """Latest observation message per configured key."""

    def __init__(self, keys):
        """Create an empty buffer.

        Args:
            keys: Observation keys the policy needs.
        """
        self.keys = tuple(keys)
        self._latest = {}

    def put(self, key, msg):
        """Store the newest message of a key (called from the subscription of that key).

        Args:
            key: The key whose topic delivered the message.
            msg: A ``gato_ros.msg.Observation``.
        """
        self._latest[key] = msg

    def clear(self):
        """Forget every stored message."""
        self._latest = {}

    def fresh(self, key, now_ns, max_age_ns):
        """Return one key's newest observation if it is fresh and well-formed.

        Args:
            key: Observation key.
            now_ns: Current time of the node clock (ns).
            max_age_ns: Largest accepted age (ns), in either direction.

        Returns:
            tuple[np.ndarray, msg]: The unpacked array and its message.

        Raises:
            ValueError: When the key was never received, is stale, or is malformed.
        """
        msg = self._latest.get(key)
        if msg is None:
            raise ValueError(f'no observation {key!r} received yet')
        if msg.key != key:
            raise ValueError(f'the topic of observation {key!r} carries key {msg.key!r}')
        age_ns = now_ns - stamp_to_ns(msg.header.stamp)
        if age_ns > max_age_ns:
            raise ValueError(
                f'observation {key!r} is {age_ns * 1e-9:.3f} s old, more than max_obs_age_s '
                f'{max_age_ns * 1e-9:.3f} s')
        if -age_ns > max_age_ns:
            raise ValueError(
                f'observation {key!r} is stamped {-age_ns * 1e-9:.3f} s in the future of the '
                'node clock (use_sim_time set on one side only?)')
        return observation_to_array(msg), msg

    def gather(self, now_ns, max_age_ns):
        """Return all configured observations of this tick.

        Args:
            now_ns: Current time of the node clock (ns).
            max_age_ns: Largest accepted age (ns).

        Returns:
            Snapshot: The observations.

        Raises:
            ValueError: On the first missing, stale or malformed observation.
        """
        observation, names, stamps = {}, {}, []
        for key in self.keys:
            value, msg = self.fresh(key, now_ns, max_age_ns)
            observation[key] = value
            names[key] = list(msg.names)
            stamps.append(stamp_to_ns(msg.header.stamp))
        return Snapshot(observation=observation, oldest_stamp_ns=min(stamps), names=names)


def joint_positions(values, names, joint_names):
    """Pick joint positions out of a vector observation by name.

    Args:
        values: (N,) observation values.
        names: One name per value, e.g. ``'panda_joint1/position'``.
        joint_names: Joints whose positions are wanted, in output order.

    Returns:
        np.ndarray: float64 (len(joint_names),) positions.

    Raises:
        ValueError: When a joint's position is not among the names.
    """
    index = {name: i for i, name in enumerate(names)}
    missing = [j for j in joint_names if f'{j}/position' not in index]
    if missing:
        raise ValueError(
            f'the joints observation lacks the positions of {missing} (it has {list(names)})')
    picked = [index[f'{j}/position'] for j in joint_names]
    return np.asarray(values, dtype=np.float64)[picked]
