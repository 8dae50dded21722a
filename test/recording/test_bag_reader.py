"""Tests for gato_ros/recording/bag_reader.py on synthetic bags written with rosbags."""

from bag_builder import (
    BagBuilder, CAMERA, camera_colour, command_delta, command_twist, JOINT_NAMES,
    joint_positions, MS, T0_NS, TRAJECTORY, TWIST, WRIST, wrist_colour, write_demo_bag)
import cv2
from gato_ros.nodes.image_conversion import ImageConversionConfig
from gato_ros.recording.bag_reader import BagConversionConfig, convert_bag
import numpy as np
import pytest

IMAGES = {'image': CAMERA, 'image_wrist': WRIST}


def config(**overrides):
    """Return the conversion config of the standard scenario, with overrides."""
    return BagConversionConfig(JOINT_NAMES, **{'image_topics': IMAGES, **overrides})


def episode_start(e):
    """Receive time of the first task status of episode e (ns)."""
    return T0_NS + e * 1000 * MS


def expected_joints(e, steps):
    """Joint positions at the ticks 5 + 100 k ms: the joint message at 100 k ms."""
    return np.stack([joint_positions(episode_start(e) + 100 * k * MS) for k in steps])


def skipped(summary):
    """(episode, reason) of every skip entry."""
    return [(item.episode, item.reason) for item in summary.skipped]


def test_commanded_episodes_equal_what_was_written(tmp_path):
    """Values, order and counts of joints, both cameras, actions and task fields."""
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True, False))
    episodes, summary = convert_bag(bag, config(drop_unsuccessful=False))
    assert [len(e) for e in episodes] == [9, 9]  # ticks 5..805 ms: the last command is at
    # 920 ms, read 50 ms after its tick, so the common span ends at 870 ms
    assert summary.episodes_used == 2 and summary.steps_used == 18
    assert summary.ticks_total == 18 and summary.ticks_dropped == {}
    for e, episode in enumerate(episodes):
        steps = range(9)
        # The status names the arm: episodes are named <arm>/<task> like collect's.
        assert episode.task == 'panda/reach' and episode.instruction == f'reach target {e}'
        assert episode.success is (e == 0)
        joints = episode.observations['joints']
        assert joints.dtype == np.float32 and joints.shape == (9, 3)
        np.testing.assert_allclose(joints, expected_joints(e, steps), atol=1e-6)
        image, wrist = episode.observations['image'], episode.observations['image_wrist']
        assert image.shape == wrist.shape == (9, 64, 64, 3) and image.dtype == np.uint8
        for k in steps:
            assert (image[k] == camera_colour(e, 2 * k)).all()
            assert (wrist[k] == wrist_colour(e, 2 * k)).all()  # bgr8 turned into RGB
        arm = np.stack([command_delta(k) for k in steps])
        gripper = np.array([k % 2 for k in steps], dtype=np.float64)
        np.testing.assert_allclose(episode.actions, np.column_stack([arm, gripper]), atol=1e-6)


def test_unsuccessful_episode_dropped_by_default(tmp_path):
    """The second episode's last status says success=false: left out with its reason."""
    episodes, summary = convert_bag(write_demo_bag(tmp_path / 'demo'), config())
    assert len(episodes) == 1 and episodes[0].success is True
    assert skipped(summary) == [(1, 'unsuccessful')]


def test_next_state_actions(tmp_path):
    """Delta to the next tick's measured joints; gripper from the next finger position."""
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True,))
    episodes, _ = convert_bag(bag, config(action_source='next_state'))
    (episode,) = episodes
    assert len(episode) == 9  # ticks 5..905 ms, the last one only serves as next state
    now, after = expected_joints(0, range(9)), expected_joints(0, range(1, 10))
    expected = np.column_stack([after[:, :2] - now[:, :2], after[:, 2] / 0.04])
    np.testing.assert_allclose(episode.actions, expected, atol=1e-6)


def test_gripper_from_next_state_when_not_commanded(tmp_path):
    """A trajectory without the finger: gripper command from the next measured state."""
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True,), gripper_in_command=False)
    (episode,), _ = convert_bag(bag, config())
    assert len(episode) == 8  # tick 8 would need tick 9, which is past the span
    arm = np.stack([command_delta(k) for k in range(8)])
    gripper = expected_joints(0, range(1, 9))[:, 2] / 0.04
    np.testing.assert_allclose(episode.actions, np.column_stack([arm, gripper]), atol=1e-6)


def test_twist_actions_from_the_commanded_twists(tmp_path):
    """Twists in the base frame (or none) are the actions; one in another frame is rejected."""
    frames = ['base_link'] * 10
    frames[3], frames[5] = '', 'tool0'
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True,), twist_frames=frames)
    (episode,), summary = convert_bag(bag, config(action_source='twist', max_age_s=0.1))
    # The status names the arm: twist episodes are <arm>/twist/<task>, like collect's.
    assert episode.task == 'panda/twist/reach' and episode.success is True
    kept = [0, 1, 2, 3, 4, 6, 7]  # tick 5 has no fresh twist; tick 8 is only a next state
    assert len(episode) == len(kept)
    assert summary.bad_messages == {TWIST: 1}
    assert summary.ticks_dropped == {f'no fresh message on {TWIST}': 1}
    gripper = np.array([joint_positions(episode_start(0) + 100 * (k + 1) * MS)[2] / 0.04
                        for k in kept])
    expected = np.column_stack([np.stack([command_twist(k) for k in kept]), gripper])
    np.testing.assert_allclose(episode.actions, expected, atol=1e-6)
    np.testing.assert_allclose(episode.observations['joints'], expected_joints(0, kept),
                               atol=1e-6)


def test_twists_in_another_frame_or_missing_skip_the_bag(tmp_path):
    """Every twist in a tool frame: wrong_frame, naming both frames; no twists: missing."""
    bag = write_demo_bag(tmp_path / 'tool', twist_frames=['tool0'] * 10)
    episodes, summary = convert_bag(bag, config(action_source='twist'))
    assert episodes == [] and skipped(summary) == [(None, 'wrong_frame')]
    assert "['tool0']" in summary.skipped[0].detail
    assert "'base_link'" in summary.skipped[0].detail
    (episode,), _ = convert_bag(bag, config(action_source='twist', twist_frame_id='tool0'))
    assert episode.actions.shape == (8, 7)
    episodes, summary = convert_bag(write_demo_bag(tmp_path / 'joint'),
                                    config(action_source='twist'))
    assert episodes == [] and skipped(summary) == [(None, 'missing_topic')]
    assert TWIST in summary.skipped[0].detail


def test_dropped_frames_are_skipped_and_counted(tmp_path):
    """Camera frames 6 and 7 missing: the tick at 305 ms finds only a 50 ms old frame."""
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True,), skip_frames=(6, 7))
    (episode,), summary = convert_bag(bag, config(max_age_s=0.04))
    kept = [k for k in range(9) if k != 3]
    assert len(episode) == 8
    assert summary.ticks_dropped == {f'no fresh message on {CAMERA}': 1}
    assert summary.ticks_total == 9
    for row, k in enumerate(kept):
        assert (episode.observations['image'][row] == camera_colour(0, 2 * k)).all()
    np.testing.assert_allclose(episode.observations['joints'], expected_joints(0, kept),
                               atol=1e-6)
    np.testing.assert_allclose(episode.actions[:, :2],
                               np.stack([command_delta(k) for k in kept]), atol=1e-6)


def test_too_many_dropped_ticks_skip_the_episode(tmp_path):
    """Frames 5..15 missing: ticks 4..7 have no frame younger than 150 ms (4 of 9)."""
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True,), skip_frames=range(5, 16))
    episodes, summary = convert_bag(bag, config())
    assert episodes == []
    assert skipped(summary) == [(0, 'too_many_dropped_ticks')]
    assert '4 of 9 ticks dropped' in summary.skipped[0].detail
    episodes, _ = convert_bag(bag, config(max_dropped_tick_fraction=0.5))
    assert len(episodes[0]) == 5


def test_missing_topic_skips_the_bag(tmp_path):
    """No wrist camera in the bag: the whole bag is skipped, naming the topic."""
    bag = write_demo_bag(tmp_path / 'demo', wrist=False)
    episodes, summary = convert_bag(bag, config())
    assert episodes == [] and skipped(summary) == [(None, 'missing_topic')]
    assert WRIST in summary.skipped[0].detail and CAMERA in summary.skipped[0].detail


def test_unknown_joint_skips_the_bag(tmp_path):
    """A configured joint that the joint states never name is reported by name."""
    bag = write_demo_bag(tmp_path / 'demo')
    episodes, summary = convert_bag(
        bag, BagConversionConfig(('j1', 'j9', 'finger'), image_topics=IMAGES))
    assert episodes == [] and skipped(summary) == [(None, 'unknown_joints')]
    assert "['j9']" in summary.skipped[0].detail and 'extra_a' in summary.skipped[0].detail


def test_trajectory_without_an_arm_joint(tmp_path):
    """Commands that never name a configured arm joint: unknown_joints, bad messages."""
    bag = tmp_path / 'demo'
    with BagBuilder(bag) as builder:
        for i in range(20):
            builder.joint_state(T0_NS + 50 * i * MS, JOINT_NAMES, [0.0, 0.0, 0.0])
            builder.trajectory(T0_NS + 50 * i * MS, ['j1'], [0.1])
    episodes, summary = convert_bag(bag, config(image_topics={}, task_name='reach'))
    assert episodes == [] and skipped(summary) == [(None, 'unknown_joints')]
    assert "['j2']" in summary.skipped[0].detail
    assert summary.bad_messages == {TRAJECTORY: 20}


@pytest.mark.parametrize('damage', ['garbled_chunk', 'truncated'])
def test_corrupted_bag_is_skipped_not_raised(tmp_path, damage):
    """A damaged MCAP file is reported as unreadable; the conversion returns normally."""
    bag = write_demo_bag(tmp_path / 'demo', compressed=True)
    storage = bag / 'demo.mcap'
    data = bytearray(storage.read_bytes())
    if damage == 'garbled_chunk':  # zero compressed bytes right after the chunk header
        start = data.index(b'zstd') + 20
        data[start:start + 64] = bytes(64)
    else:
        del data[len(data) // 2:]
    storage.write_bytes(bytes(data))
    episodes, summary = convert_bag(bag, config())
    assert episodes == [] and skipped(summary) == [(None, 'unreadable_bag')]
    assert summary.skipped[0].detail


def test_zero_length_episode_is_skipped(tmp_path):
    """A task status reset after the last recorded data opens an episode with no data."""
    bag = tmp_path / 'demo'
    write_demo_bag(bag, episodes=(True,))
    status_only = tmp_path / 'status_only'
    with BagBuilder(status_only) as builder:
        for i in range(40):
            t = T0_NS + 25 * i * MS
            builder.joint_state(t, JOINT_NAMES, joint_positions(t))
            builder.trajectory(t + 10 * MS, ['j1', 'j2'], joint_positions(t)[:2])
        for k, (time_ms, seed, episode_time_s) in enumerate([(0, 0, 0.0), (500, 0, 0.5),
                                                            (1500, 1, 0.0)]):
            builder.task_status(T0_NS + time_ms * MS, 'reach', 'reach it', seed,
                                episode_time_s, True)
    episodes, summary = convert_bag(status_only, config(image_topics={}))
    assert [len(e) for e in episodes] == [9]  # ticks 0..900 ms, 900 is only a next state
    assert skipped(summary) == [(1, 'empty')]
    assert "'/joint_states': 0" in summary.skipped[0].detail


def test_mixed_image_sizes_skip_the_episode(tmp_path):
    """The camera switches from 48x64 to 24x32 at frame 10."""
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True,), small_frames_from=10)
    episodes, summary = convert_bag(bag, config())
    assert episodes == [] and skipped(summary) == [(0, 'mixed_image_sizes')]
    assert '24x32' in summary.skipped[0].detail and '48x64' in summary.skipped[0].detail


def test_undecodable_image_drops_its_tick(tmp_path):
    """Frame 4 has too few bytes: counted as a bad message, tick 2 is dropped."""
    bag = write_demo_bag(tmp_path / 'demo', episodes=(True,), broken_frame=4)
    (episode,), summary = convert_bag(bag, config())
    assert len(episode) == 8
    assert summary.bad_messages == {CAMERA: 1}
    assert summary.ticks_dropped == {f'undecodable image on {CAMERA}': 1}


def test_wrong_topic_type_skips_the_bag(tmp_path):
    """A topic configured as joint states that carries images."""
    bag = write_demo_bag(tmp_path / 'demo')
    _, summary = convert_bag(bag, config(joint_states_topic=WRIST,
                                         image_topics={'image': CAMERA}))
    assert skipped(summary) == [(None, 'wrong_type')]
    assert 'sensor_msgs/msg/Image' in summary.skipped[0].detail


def lab_bag(path, storage):
    """Write a `ros2 bag record`-style bag: joints, PNG camera, instruction, no status."""
    frames = []
    with BagBuilder(path, storage) as builder:
        builder.instruction(T0_NS - MS, 'stack the blocks')
        for i in range(30):
            t = T0_NS + 100 * i * MS
            builder.joint_state(t, ['j2', 'finger', 'j1'], joint_positions(t)[[1, 2, 0]])
            frame = np.zeros((40, 40, 3), dtype=np.uint8)
            frame[:20] = (i, 255 - i, 30)  # top half one colour, bottom half black
            ok, png = cv2.imencode('.png', frame[..., ::-1])
            assert ok
            builder.compressed_image(t + 2 * MS, png.tobytes())
            frames.append(frame)
    return path, frames


@pytest.mark.parametrize('storage', ['sqlite3', 'mcap'])
def test_lab_bag_without_task_status(tmp_path, storage):
    """One episode per bag, task from the override, instruction from its topic."""
    bag, frames = lab_bag(tmp_path / 'lab', storage)
    lab = BagConversionConfig(
        JOINT_NAMES, action_source='next_state', task_name='stack',
        image=ImageConversionConfig(output_height=40, output_width=40))
    (episode,), summary = convert_bag(bag, lab)
    assert episode.task == 'stack' and episode.instruction == 'stack the blocks'
    # ticks at 2 + 100 k ms (the first frame) up to 2802 ms; the last is only a next state
    assert episode.success is None and len(episode) == 28
    np.testing.assert_array_equal(episode.observations['image'], np.stack(frames[:28]))
    expected = np.stack([joint_positions(T0_NS + 100 * i * MS) for i in range(28)])
    np.testing.assert_allclose(episode.observations['joints'], expected, atol=1e-6)
    assert summary.skipped == []


def test_lab_bag_needs_a_task_name(tmp_path):
    """Without task status and without the task override the bag is skipped."""
    bag, _ = lab_bag(tmp_path / 'lab', 'mcap')
    _, summary = convert_bag(bag, BagConversionConfig(JOINT_NAMES, action_source='next_state'))
    assert skipped(summary) == [(None, 'no_task')]


def test_missing_bag_path_raises(tmp_path):
    """A path that does not exist is a usage error, not a skipped bag."""
    with pytest.raises(FileNotFoundError, match='bag not found'):
        convert_bag(tmp_path / 'nope', config())


@pytest.mark.parametrize('overrides, message', [
    ({'joint_names': ()}, 'at least one joint'),
    ({'joint_names': ('finger',)}, 'at least one arm joint'),
    ({'control_rate_hz': 0.0}, 'control_rate_hz'),
    ({'action_source': 'teleop'}, 'action_source'),
    ({'image_topics': {'action': '/cam'}}, 'observation keys'),
    ({'gripper_open_position': 0.0}, 'closed/open'),
    ({'trajectory_topic': CAMERA}, 'must differ'),
    ({'twist_topic': TRAJECTORY}, 'must differ'),
    ({'twist_frame_id': ''}, 'twist_frame_id'),
    ({'max_dropped_tick_fraction': 1.5}, 'max_dropped_tick_fraction'),
])
def test_config_rejects_bad_values(overrides, message):
    """Each invalid field raises a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        BagConversionConfig(**{'joint_names': JOINT_NAMES, **overrides})
