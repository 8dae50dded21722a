"""What a ros2_control ``joint_trajectory_controller`` (JTC) does with a JointTrajectory.

The simulated arm follows commands with the controller's semantics so that the agent meets
the same rules in simulation as on a lab arm:

* a header stamp of zero means "start now", otherwise the trajectory starts at the stamp;
* every controller joint must be named (JTC's default ``allow_partial_joints_goal: false``),
  each once, and no joint the controller does not own;
* points need strictly increasing ``time_from_start`` and one finite position per joint;
* positions only (no velocities) are interpolated linearly from the state at the start time
  through the points; after the last point its positions are held;
* a new trajectory replaces the one being executed (from its own start time on);
* targets beyond the joint position limits are clamped to the limits, as ros2_control's
  joint limiters do, and the clamp is reported.

ROS-free: the node passes plain names, times and arrays.
"""

from dataclasses import dataclass

import numpy as np


@dataclass
class _ActiveTrajectory:
    start_time_s: float
    times_s: np.ndarray       # (K + 1,): 0, then each point's time_from_start
    positions: np.ndarray     # (K + 1, N): the state at the start, then the points


class TrajectoryFollower:
    """Validate JointTrajectory contents and sample position targets over time."""

    def __init__(self, joint_names, lower_limits, upper_limits):
        """Create a follower for one controller.

        Args:
            joint_names: the controller's joints, in the order targets are returned.
            lower_limits: (N,) lower position limits (rad or m).
            upper_limits: (N,) upper position limits (rad or m).
        """
        self._joint_names = list(joint_names)
        self._lower = np.asarray(lower_limits, dtype=np.float64)
        self._upper = np.asarray(upper_limits, dtype=np.float64)
        self._active = None

    @property
    def joint_names(self):
        """Return the controller's joint names (list of str)."""
        return list(self._joint_names)

    def clear(self):
        """Drop the trajectory being executed (e.g. at an episode reset)."""
        self._active = None

    def accept(self, joint_names, times_s, positions, start_time_s, current_positions):
        """Validate a trajectory and make it the active one.

        Args:
            joint_names: the message's joint names.
            times_s: (K,) each point's ``time_from_start`` (s).
            positions: (K, len(joint_names)) point positions in message order.
            start_time_s: when the trajectory starts (the stamp, or now for a zero stamp).
            current_positions: (N,) measured positions in controller order, the start state.

        Returns:
            str: '' when accepted unchanged, else a note that targets were clamped to limits.

        Raises:
            ValueError: the trajectory is rejected; the message says why. The previous
                trajectory stays active.
        """
        order = self._controller_order(list(joint_names))
        times_s = np.asarray(times_s, dtype=np.float64)
        positions = np.asarray(positions, dtype=np.float64)
        if times_s.ndim != 1 or times_s.size == 0:
            raise ValueError('trajectory has no points')
        if positions.shape != (times_s.size, len(order)):
            raise ValueError(f'each point needs {len(order)} positions, got shape '
                             f'{positions.shape} for {times_s.size} points')
        if not (np.isfinite(times_s).all() and np.isfinite(positions).all()):
            raise ValueError('trajectory has non-finite times or positions')
        if times_s[0] < 0.0 or np.any(np.diff(times_s) <= 0.0):
            raise ValueError(f'time_from_start must be non-negative and strictly increasing, '
                             f'got {times_s.tolist()}')
        ordered = positions[:, order]
        clamped = np.clip(ordered, self._lower, self._upper)
        note = ''
        if not np.array_equal(clamped, ordered):
            over = sorted({self._joint_names[j] for j in np.nonzero(clamped != ordered)[1]})
            note = f'targets beyond position limits clamped for {over}'
        start = np.asarray(current_positions, dtype=np.float64)[None, :]
        self._active = _ActiveTrajectory(
            start_time_s=float(start_time_s),
            times_s=np.concatenate([[0.0], times_s]),
            positions=np.concatenate([start, clamped]))
        return note

    def _controller_order(self, joint_names):
        """Map controller joints to message columns, enforcing JTC's naming rules."""
        if len(set(joint_names)) != len(joint_names):
            raise ValueError(f'duplicate joint names in {joint_names}')
        unknown = sorted(set(joint_names) - set(self._joint_names))
        if unknown:
            raise ValueError(f'unknown joints {unknown}; controller joints are '
                             f'{self._joint_names}')
        missing = [name for name in self._joint_names if name not in joint_names]
        if missing:
            raise ValueError(f'trajectory must name every controller joint; missing {missing}')
        return [joint_names.index(name) for name in self._joint_names]

    def sample(self, now_s):
        """Return the interpolated position targets and their velocities at a time.

        Args:
            now_s: the current time on the same clock as ``start_time_s``.

        Returns:
            tuple or None: ((N,) positions, (N,) velocities) in controller order, the velocity
            being the slope of the current segment (zero once the last point is held); None
            when no trajectory is active or it has not started yet.
        """
        active = self._active
        if active is None or now_s < active.start_time_s:
            return None
        elapsed_s = now_s - active.start_time_s
        times_s, points = active.times_s, active.positions
        segment = int(np.searchsorted(times_s, elapsed_s, side='right'))
        if segment >= times_s.size:
            return points[-1].copy(), np.zeros(points.shape[1])
        fraction = (elapsed_s - times_s[segment - 1]) / (times_s[segment] - times_s[segment - 1])
        velocities = (points[segment] - points[segment - 1]) / (
            times_s[segment] - times_s[segment - 1])
        positions = points[segment - 1] + fraction * (points[segment] - points[segment - 1])
        return positions, velocities
