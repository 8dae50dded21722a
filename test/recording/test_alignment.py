"""Tests for gato_ros/recording/alignment.py on hand-made time stamps."""

from gato_ros.recording.alignment import (
    align_streams, fresh_indices, gripper_command, joint_actions, NO_NEXT_STATE, select_ticks)
import numpy as np


def test_fresh_indices_newest_not_older_than_max_age():
    """Newest message at or before the query; too old or none yet gives -1."""
    times = np.array([10, 20, 30])
    queries = np.array([5, 10, 19, 25, 45, 60])
    np.testing.assert_array_equal(fresh_indices(times, queries, max_age_ns=15),
                                  [-1, 0, 0, 1, 2, -1])
    np.testing.assert_array_equal(fresh_indices([], [1, 2], 5), [-1, -1])


def test_grid_spans_the_common_range_with_lookahead():
    """Start at the latest first message, stop by the earliest last one (shifted back)."""
    alignment = align_streams(
        {'a': [0, 10, 20, 30, 40, 50], 'b': [3, 23, 47], 'c': [15, 35, 58]},
        period_ns=10, max_age_ns=12, lookahead_ns={'c': 10})
    # c read 10 ns late covers ticks 5 .. 48, b ends at 47
    np.testing.assert_array_equal(alignment.ticks_ns, [5, 15, 25, 35, 45])
    np.testing.assert_array_equal(alignment.indices['a'], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(alignment.indices['b'], [0, 0, 1, 1, -1])  # 22 ns old
    np.testing.assert_array_equal(alignment.indices['c'], [0, 0, 1, 1, -1])  # at 55: 20 old


def test_grid_is_empty_without_overlap_or_messages():
    """Disjoint streams or an empty stream give no tick."""
    assert len(align_streams({'a': [0, 1], 'b': [5, 6]}, 1, 10)) == 0
    assert len(align_streams({'a': [0, 1], 'b': []}, 1, 10)) == 0


def test_select_ticks_counts_a_tick_once_under_its_first_missing_stream():
    """The caller's order decides the cause of a tick that misses several streams."""
    alignment = align_streams({'joints': [0, 10, 30, 40], 'image': [0, 30, 40]},
                              period_ns=10, max_age_ns=5)
    # ticks 0..40: joints stale at 20; image stale at 10 and 20
    no_next = np.zeros(5, dtype=bool)
    kept, total, dropped = select_ticks(alignment, ['joints', 'image'], 'joints', no_next)
    np.testing.assert_array_equal(kept, [True, False, False, True, True])
    assert total == 5 and dropped == {'image': 1, 'joints': 1}
    _, _, dropped = select_ticks(alignment, ['image', 'joints'], 'joints', no_next)
    assert dropped == {'image': 2}


def test_select_ticks_next_state():
    """A tick whose next joint state is stale is dropped; the last tick is not eligible."""
    alignment = align_streams({'joints': [0, 10, 30, 40], 'image': [0, 10, 20, 30, 40]},
                              period_ns=10, max_age_ns=5)
    kept, total, dropped = select_ticks(alignment, ['joints', 'image'], 'joints',
                                        np.ones(5, dtype=bool))
    np.testing.assert_array_equal(kept, [True, False, False, True, False])
    assert total == 4 and dropped == {NO_NEXT_STATE: 1, 'joints': 1}


def test_gripper_command_is_clipped_linear_map():
    """Closed -> 0, open -> 1, beyond -> clipped; works for a reversed range."""
    np.testing.assert_allclose(gripper_command([0.0, 0.01, 0.04, 0.05, -1.0], 0.0, 0.04),
                               [0.0, 0.25, 1.0, 1.0, 0.0])
    np.testing.assert_allclose(gripper_command([0.8, 0.0], 0.8, 0.0), [0.0, 1.0])


def test_joint_actions_commanded_and_next_state():
    """Arm deltas from targets or next state; gripper target where finite else next state."""
    joints = np.array([[1.0, 2.0, 0.01], [1.5, 2.5, 0.02]])
    next_joints = np.array([[1.2, 1.9, 0.03], [1.4, 2.7, 0.04]])
    targets = np.array([[1.1, 2.2], [1.5, 2.0]])
    actions = joint_actions(joints, next_joints, targets, np.array([0.0, np.nan]), 2,
                            (0.0, 0.04))
    assert actions.dtype == np.float32
    np.testing.assert_allclose(actions, [[0.1, 0.2, 0.0], [0.0, -0.5, 1.0]], atol=1e-6)
    actions = joint_actions(joints, next_joints, None, None, 2, (0.0, 0.04))
    np.testing.assert_allclose(actions, [[0.2, -0.1, 0.75], [-0.1, 0.2, 1.0]], atol=1e-6)
    actions = joint_actions(joints, next_joints, None, None, 3, None)
    np.testing.assert_allclose(actions, next_joints - joints, atol=1e-6)
