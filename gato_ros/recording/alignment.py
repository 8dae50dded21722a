"""Resample recorded message streams onto the control-rate grid and derive the actions.

Pure NumPy: the bag reader hands over, per stream, the sorted receive times (ns) of its usable
messages; these functions decide which message each control tick uses.

Alignment rule (also in ``docs/data.md``):

* ticks are ``start + k * period`` over the span where every required stream has data:
  ``start`` is the latest first message, the last tick is at or before the earliest last
  message (a stream with a lookahead is shifted back by it first);
* at a tick, each stream contributes its newest message received at or before the tick (plus
  the stream's lookahead) and at most ``max_age`` older than that; a stream without such a
  message makes the tick a dropped tick, counted under the first missing stream in the
  caller's order;
* an action that needs the next measured joint state also needs the joint stream to be fresh
  at the following tick; the grid's last tick then only serves as that next state.
"""

from dataclasses import dataclass

import numpy as np

# Cause under which a tick is counted when the joint state of the following tick is missing.
NO_NEXT_STATE = 'no next joint state'


@dataclass(frozen=True)
class Alignment:
    """Which message of each stream every tick of the grid uses.

    Attributes:
        ticks_ns: int64 (N,) tick times (receive-time clock, ns).
        indices: stream name -> int64 (N,) index of the message used at each tick, -1 where
            the stream had no fresh message.
    """

    ticks_ns: np.ndarray
    indices: dict

    def __len__(self):
        """Return the number of ticks N."""
        return int(self.ticks_ns.shape[0])


def fresh_indices(times_ns, queries_ns, max_age_ns):
    """Index of the newest message at or before each query time and not too old.

    Args:
        times_ns: int64 (M,) sorted message times.
        queries_ns: int64 (N,) query times.
        max_age_ns: Largest accepted ``query - message time``.

    Returns:
        np.ndarray: int64 (N,) message indices, -1 where no message is fresh enough.
    """
    times_ns = np.asarray(times_ns, dtype=np.int64)
    queries_ns = np.asarray(queries_ns, dtype=np.int64)
    indices = np.searchsorted(times_ns, queries_ns, side='right') - 1  # (N,)
    if times_ns.size == 0:
        return np.full(queries_ns.shape, -1, dtype=np.int64)
    ages_ns = queries_ns - times_ns[np.maximum(indices, 0)]
    return np.where((indices >= 0) & (ages_ns <= max_age_ns), indices, -1).astype(np.int64)


def align_streams(times_ns, period_ns, max_age_ns, lookahead_ns=None):
    """Build the tick grid over the common span of the streams and pick each tick's messages.

    Args:
        times_ns: stream name -> int64 (M,) sorted receive times of its messages.
        period_ns: Control period (ns), > 0.
        max_age_ns: Largest accepted message age at a tick (ns).
        lookahead_ns: stream name -> how far after the tick the stream is read (ns); streams
            not listed are read at the tick.

    Returns:
        Alignment: The grid; empty when a stream has no message or the span is empty.
    """
    lookahead_ns = lookahead_ns or {}
    streams = {name: np.asarray(t, dtype=np.int64) for name, t in times_ns.items()}
    if not streams or any(t.size == 0 for t in streams.values()):
        return Alignment(np.zeros(0, dtype=np.int64), {n: np.zeros(0, np.int64) for n in streams})
    start_ns = max(int(t[0]) - lookahead_ns.get(n, 0) for n, t in streams.items())
    stop_ns = min(int(t[-1]) - lookahead_ns.get(n, 0) for n, t in streams.items())
    count = (stop_ns - start_ns) // period_ns + 1 if stop_ns >= start_ns else 0
    ticks_ns = start_ns + period_ns * np.arange(count, dtype=np.int64)  # (N,)
    indices = {
        name: fresh_indices(t, ticks_ns + lookahead_ns.get(name, 0), max_age_ns)
        for name, t in streams.items()}
    return Alignment(ticks_ns, indices)


def select_ticks(alignment, order, joint_stream, needs_next):
    """Decide which ticks become timesteps and count the dropped ones by cause.

    Args:
        alignment: An :class:`Alignment`.
        order: Stream names in the order used to attribute a dropped tick to one cause.
        joint_stream: Name of the measured joint-state stream.
        needs_next: bool (N,): whether the tick's action needs the next tick's joint state.

    Returns:
        tuple[np.ndarray, int, dict]: bool (N,) kept ticks; the number of ticks that could
        have been kept (the grid's last tick is not one when it needs a next state); cause
        (stream name or :data:`NO_NEXT_STATE`) -> number of dropped ticks.
    """
    count = len(alignment)
    needs_next = np.asarray(needs_next, dtype=bool)
    missing = {name: alignment.indices[name] < 0 for name in order}
    next_fresh = np.zeros(count, dtype=bool)
    next_fresh[:-1] = alignment.indices[joint_stream][1:] >= 0
    eligible = np.ones(count, dtype=bool)
    if count:
        eligible[-1] = not needs_next[-1]
    kept = eligible.copy()
    dropped = {}
    for name in order:
        lost = kept & missing[name]
        if lost.any():
            dropped[name] = int(lost.sum())
        kept &= ~missing[name]
    lost = kept & needs_next & ~next_fresh
    if lost.any():
        dropped[NO_NEXT_STATE] = int(lost.sum())
    kept &= ~(needs_next & ~next_fresh)
    return kept, int(eligible.sum()), dropped


def gripper_command(position, closed_position, open_position):
    """Map gripper joint positions to commands in [0, 1] (0 closed, 1 open).

    The inverse of :meth:`gato_ros.nodes.action_mapping.GripperConfig.position`, clipped.

    Args:
        position: Gripper joint positions (m or rad), any shape.
        closed_position: Position of command 0.
        open_position: Position of command 1.

    Returns:
        np.ndarray: float64 commands, same shape.
    """
    fraction = (np.asarray(position, np.float64) - closed_position) / (
        open_position - closed_position)
    return np.clip(fraction, 0.0, 1.0)


def joint_actions(joints, next_joints, arm_targets, gripper_targets, arm_dim, gripper_range):
    """Per-joint position deltas for one control period, then the gripper command.

    Arm part: ``arm_targets - joints`` when commanded targets are given, else
    ``next_joints - joints``. Gripper part (when ``gripper_range`` is set): the commanded
    gripper position where finite, else the next measured gripper position, both mapped to
    [0, 1] by :func:`gripper_command`.

    Args:
        joints: (K, D) measured joint positions at the kept ticks, arm joints first.
        next_joints: (K, D) measured joint positions at the following ticks; rows are only
            read where the action needs them.
        arm_targets: (K, arm_dim) commanded arm positions, or None for next-state actions.
        gripper_targets: (K,) commanded gripper positions (NaN where not commanded), or None.
        arm_dim: Number of arm joints (the first ``arm_dim`` columns).
        gripper_range: ``(closed_position, open_position)`` of the last joint, or None for
            an arm without gripper.

    Returns:
        np.ndarray: float32 (K, arm_dim + 1) with a gripper, else (K, arm_dim).
    """
    joints = np.asarray(joints, np.float64)
    next_joints = np.asarray(next_joints, np.float64)
    targets = next_joints[:, :arm_dim] if arm_targets is None else np.asarray(arm_targets)
    return _with_gripper(targets - joints[:, :arm_dim], next_joints, gripper_targets,
                         gripper_range)


def twist_actions(twists, next_joints, gripper_range):
    """Commanded Cartesian twists, then the gripper command from the next measured state.

    Args:
        twists: (K, 6) commanded twists (linear m/s, then angular rad/s).
        next_joints: (K, D) measured joint positions at the following ticks, the gripper
            joint last; only read with a gripper.
        gripper_range: ``(closed_position, open_position)`` of the last joint, or None for
            an arm without gripper.

    Returns:
        np.ndarray: float32 (K, 7) with a gripper, else (K, 6).
    """
    return _with_gripper(np.asarray(twists, np.float64), np.asarray(next_joints, np.float64),
                         None, gripper_range)


def _with_gripper(arm_actions, next_joints, gripper_targets, gripper_range):
    """Append the gripper command: commanded where finite, else the next measured position."""
    columns = [arm_actions]  # (K, A)
    if gripper_range is not None:
        measured = next_joints[:, -1]  # (K,)
        if gripper_targets is not None:
            measured = np.where(np.isfinite(gripper_targets), gripper_targets, measured)
        columns.append(gripper_command(measured, *gripper_range)[:, None])  # (K, 1)
    return np.concatenate(columns, axis=1).astype(np.float32)
