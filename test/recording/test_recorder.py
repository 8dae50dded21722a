"""Recording bags from ROS topics: the recorder in-process, and expert episodes of the graph."""

import argparse
import gc
import time

from gato_ros.commands import record
from gato_ros.msg import TaskStatus
from gato_ros.nodes.image_conversion import crop_and_resize
from gato_ros.recording.bag_reader import convert_bag, default_typestore
from gato_ros.recording.recorder import (
    AGENT_INSTRUCTION_TOPIC, arm_conversion_config, bag_topics, BagRecorder,
    record_demonstrations, RecordConfig, recorded_conversion_config)
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from rosbags.highlevel import AnyReader
from sensor_msgs.msg import Image, JointState
from std_msgs.msg import String
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint
import yaml

pytestmark = pytest.mark.dds
CONVERSION = arm_conversion_config('panda')
JOINTS = CONVERSION.joint_names


def read_bag(path):
    """Return topic -> list of (receive time ns, deserialized message), and the msg types."""
    messages, types = {}, {}
    with AnyReader([path], default_typestore=default_typestore()) as reader:
        for connection in reader.connections:
            types[connection.topic] = connection.msgtype
        for connection, time_ns, raw in reader.messages():
            messages.setdefault(connection.topic, []).append(
                (time_ns, reader.deserialize(raw, connection.msgtype)))
    return messages, types


def custom_data(path):
    """Return the custom_data of a bag's metadata.yaml."""
    info = yaml.safe_load((path / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    return info['custom_data']


@pytest.fixture
def ros():
    """Yield a node, its executor and publishers of every recorded topic (in-process)."""
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('recorder_test', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    publishers = {
        'status': node.create_publisher(TaskStatus, CONVERSION.task_status_topic, 10),
        'joints': node.create_publisher(JointState, CONVERSION.joint_states_topic, 10),
        'image': node.create_publisher(Image, '/camera/image_raw', qos_profile_sensor_data),
        'command': node.create_publisher(JointTrajectory, CONVERSION.trajectory_topic, 10),
        'instruction': node.create_publisher(String, AGENT_INSTRUCTION_TOPIC, 10)}
    yield node, executor, publishers
    node.destroy_node()
    rclpy.try_shutdown(context=context)
    # Leftover rclpy handles crash forked processes (flake8 workers) that collect them later.
    gc.collect()


def spin_until(executor, condition, timeout_s=10.0):
    """Spin until the condition holds, then run whatever else is ready."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, 'timed out waiting for a message'
        executor.spin_once(timeout_sec=0.02)
    for _ in range(20):
        executor.spin_once(timeout_sec=0.0)


def status(seed, episode_time_s, success=False):
    """Return a task status of reach_target on the panda."""
    return TaskStatus(task='reach_target', instruction=f'reach {seed}', arm='panda', seed=seed,
                      episode_time_s=episode_time_s, success=success)


def joint_state(value):
    """Return a joint state with every joint at one position."""
    return JointState(name=list(JOINTS), position=[value] * len(JOINTS))


def test_recorder_writes_the_episode_from_its_first_status(ros, tmp_path):
    """Before the new episode's status only the instruction is kept; after it everything."""
    node, executor, pub = ros
    recorder = BagRecorder(node, bag_topics(CONVERSION), CONVERSION.task_status_topic)
    spin_until(executor, lambda: all(p.get_subscription_count() for p in pub.values()))
    path = tmp_path / 'panda-reach_target-000003'
    with recorder.recording(path, 'reach_target', 3) as metadata:
        # The scene before the reset: same task and seed, later time (a repeated seed).
        pub['status'].publish(status(3, 2.0))
        spin_until(executor, lambda: recorder.last_status is not None)
        pub['joints'].publish(joint_state(-1.0))
        spin_until(executor, lambda: True)
        pub['instruction'].publish(String(data='reach 3'))
        spin_until(executor, lambda: recorder.message_counts['/gato/instruction'] == 1)
        pub['status'].publish(status(3, 0.0))
        spin_until(executor, lambda: recorder.message_counts[CONVERSION.task_status_topic])
        pub['joints'].publish(joint_state(0.5))
        pub['image'].publish(Image(height=2, width=2, encoding='rgb8', step=6,
                                   data=bytes(range(12))))
        pub['command'].publish(JointTrajectory(joint_names=list(JOINTS[:-1]), points=[
            JointTrajectoryPoint(positions=[0.25] * (len(JOINTS) - 1))]))
        pub['status'].publish(status(3, 0.1, success=True))
        spin_until(executor, lambda: sum(recorder.message_counts.values()) == 6)
        metadata.update(success=True, seed=3)
    recorder.destroy()
    messages, types = read_bag(path)
    assert types == {t.topic: t.msgtype for t in bag_topics(CONVERSION)}
    assert [m.episode_time_s for _, m in messages[CONVERSION.task_status_topic]] == [0.0, 0.1]
    assert [list(m.position) for _, m in messages['/joint_states']] == [[0.5] * len(JOINTS)]
    assert bytes(messages['/camera/image_raw'][0][1].data) == bytes(range(12))
    assert list(messages[CONVERSION.trajectory_topic][0][1].points[0].positions) == [0.25] * 7
    assert [m.data for _, m in messages['/gato/instruction']] == ['reach 3']
    times = [t for stream in messages.values() for t, _ in stream]
    assert abs(max(times) - time.time_ns()) < 60e9 and len(set(times)) == 6
    assert custom_data(path) == {'gato_ros.success': 'True', 'gato_ros.seed': '3'}
    qos = yaml.safe_load((path / 'metadata.yaml').read_text())[
        'rosbag2_bagfile_information']['topics_with_message_count']
    image_qos = next(t['topic_metadata']['offered_qos_profiles'] for t in qos
                     if t['topic_metadata']['name'] == '/camera/image_raw')
    assert 'best_effort' in str(image_qos).lower()
    assert sorted(p.suffix for p in path.iterdir()) == ['.mcap', '.yaml']


def test_a_bag_without_its_episode_or_with_an_error_is_deleted(ros, tmp_path):
    """No episode status, or an exception in the block: the bag is removed, the error raised."""
    node, executor, pub = ros
    recorder = BagRecorder(node, bag_topics(CONVERSION), CONVERSION.task_status_topic)
    spin_until(executor, lambda: pub['status'].get_subscription_count())
    with pytest.raises(RuntimeError, match='seed 4'):
        with recorder.recording(tmp_path / 'a', 'reach_target', 4):
            pub['status'].publish(status(3, 1.0))
            pub['status'].publish(status(3, 1.1))
            spin_until(executor, lambda: recorder.last_status is not None
                       and recorder.last_status.episode_time_s == 1.1)
    with pytest.raises(TimeoutError):
        with recorder.recording(tmp_path / 'b', 'reach_target', 3):
            raise TimeoutError('the episode did not end')
    assert list(tmp_path.iterdir()) == []
    (tmp_path / 'c').mkdir()
    with pytest.raises(FileExistsError, match='exists'):
        with recorder.recording(tmp_path / 'c', 'reach_target', 3):
            pass
    with pytest.raises(ValueError, match='task_status'):
        BagRecorder(node, bag_topics(CONVERSION)[:2], CONVERSION.task_status_topic)


@pytest.mark.sim
def test_expert_episode_recorded_through_the_graph_converts_back(tmp_path):
    """One reach_target bag: its converted episode holds the recorded joints at the ticks."""
    config = RecordConfig(arm='panda', tasks=('reach_target',), episodes=1,
                          out_dir=str(tmp_path / 'bags'), log_dir=str(tmp_path / 'logs'))
    with pytest.raises(ValueError, match='episodes'):
        RecordConfig(arm='panda', tasks=('reach_target',), episodes=0, out_dir='x')
    [recorded] = record_demonstrations(config, progress=False)
    assert recorded.success and recorded.path.name == 'panda-reach_target-000000'
    messages, _ = read_bag(recorded.path)
    assert {t: len(m) for t, m in messages.items()} == recorded.messages
    statuses = [m for _, m in messages[CONVERSION.task_status_topic]]
    assert {(s.task, s.seed) for s in statuses} == {('reach_target', 0)}
    assert statuses[0].episode_time_s < 0.3 and statuses[-1].success
    assert custom_data(recorded.path)['gato_ros.success'] == 'True'

    episodes, summary = convert_bag(recorded.path, CONVERSION)
    assert summary.skipped == [] and len(episodes) == 1
    episode = episodes[0]
    assert (episode.task, episode.success) == ('panda/reach_target', True)
    assert episode.instruction == statuses[0].instruction
    assert [m.data for _, m in messages['/gato/instruction']] == [episode.instruction]
    # Every timestep's joints are those of a recorded /joint_states message; where that
    # message is unique, the messages lie whole control periods (0.1 s) apart.
    times_of = {}
    for time_ns, msg in messages['/joint_states']:
        times_of.setdefault(np.asarray(msg.position, np.float32).tobytes(), []).append(time_ns)
    matches = [times_of[row.tobytes()] for row in episode.observations['joints']]
    unique_s = np.array([m[0] for m in matches if len(m) == 1]) / 1e9
    assert len(unique_s) > 0.5 * len(episode)
    periods = np.diff(unique_s) / 0.1
    assert np.all(np.abs(periods - np.round(periods)) < 0.4) and np.all(np.round(periods) >= 1)
    assert abs(len(episode) - len(messages[CONVERSION.trajectory_topic])) <= 3
    frames = [crop_and_resize(np.frombuffer(m.data, np.uint8).reshape(m.height, m.width, 3),
                              64, 64) for _, m in messages['/camera/image_raw']]
    assert any(np.array_equal(episode.observations['image'][0], f) for f in frames)


@pytest.mark.sim
def test_twist_expert_episode_recorded_through_the_graph_converts_back(tmp_path):
    """A twist bag holds the relayed TwistStamped commands, the actions, and a wrist camera."""
    config = RecordConfig(arm='ur5e', tasks=('lift_block',), episodes=1, first_seed=5,
                          out_dir=str(tmp_path / 'bags'), log_dir=str(tmp_path / 'logs'),
                          action_space='twist', wrist_camera=True)
    [recorded] = record_demonstrations(config, progress=False)
    assert recorded.success
    conversion = recorded_conversion_config('ur5e', 'twist', wrist_camera=True)
    assert conversion.image_topics == {'image': '/camera/image_raw',
                                       'image_wrist': '/wrist_camera/image_raw'}
    messages, types = read_bag(recorded.path)
    assert types == {t.topic: t.msgtype for t in bag_topics(conversion)}
    assert types[conversion.twist_topic] == 'geometry_msgs/msg/TwistStamped'
    assert CONVERSION.trajectory_topic not in types
    assert custom_data(recorded.path)['gato_ros.action_space'] == 'twist'
    twists = [m for _, m in messages[conversion.twist_topic]]
    assert {m.header.frame_id for m in twists} == {conversion.twist_frame_id}

    (episode,), summary = convert_bag(recorded.path, conversion)
    assert summary.skipped == [] and episode.task == 'ur5e/twist/lift_block'
    assert episode.actions.shape == (len(episode), 7)
    wrist = episode.observations['image_wrist']
    assert wrist.shape == (len(episode), 64, 64, 3)
    assert np.abs(wrist.astype(int) - episode.observations['image'].astype(int)).mean() > 10
    sent = {np.asarray([m.twist.linear.x, m.twist.linear.y, m.twist.linear.z,
                        m.twist.angular.x, m.twist.angular.y, m.twist.angular.z],
                       np.float32).tobytes() for m in twists}
    assert all(row.tobytes() in sent for row in episode.actions[:, :6])
    assert np.abs(episode.actions[:, :3]).max() > 0.05  # the expert moved the tool
    gripper = episode.actions[:, 6]
    assert gripper.min() >= 0 and gripper[0] > 0.9 and gripper.min() < 0.5  # open, then grasp
    with pytest.raises(ValueError, match='action_space'):
        recorded_conversion_config('ur5e', 'cartesian')


def test_record_command_splits_tasks_and_refuses_existing_bags(tmp_path, capsys):
    """Comma lists are split; bad tasks and existing bags fail before the graph starts."""
    assert record.task_names(['reach_target,lift_block', 'push_block']) == [
        'reach_target', 'lift_block', 'push_block']
    assert ' '.join(JOINTS) in record.convert_command('panda', 'bags')
    assert 'twist' not in record.convert_command('panda', 'bags')
    assert record.convert_command('ur5e', 'bags', 'twist').endswith(
        '--action-source twist --twist-frame-id base_link')
    assert record.convert_command('ur5e', 'bags', wrist_camera=True).endswith(
        '--image-topics image=/camera/image_raw image_wrist=/wrist_camera/image_raw')
    parser = argparse.ArgumentParser()
    record.add_arguments(parser)
    (tmp_path / 'panda-reach_target-000002').mkdir()
    for tasks, message in (('reach_target,fly', "unknown tasks ['fly']"),
                           ('reach_target', 'panda-reach_target-000002')):
        args = parser.parse_args(['--arm', 'panda', '--tasks', tasks, '--episodes', '3',
                                  '--out', str(tmp_path)])
        assert record.run(args) == 2
        assert message in capsys.readouterr().out
