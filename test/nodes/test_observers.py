"""In-process tests of the observer nodes (joint_state_observer.py, image_observer.py)."""

import time

from builtin_interfaces.msg import Time
from gato_ros.msg import Observation
from gato_ros.nodes.image_observer import ImageObserver
from gato_ros.nodes.joint_state_observer import JointStateObserver
from gato_ros.nodes.observation import OBSERVATION_QOS, observation_to_array, stamp_to_ns
import numpy as np
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image, JointState

JOINTS = [f'panda_joint{i}' for i in range(1, 8)] + ['panda_finger_joint1']


class Harness:
    """An observer node and a peer that publishes inputs and records observations."""

    def __init__(self, context, node_class, input_type, input_topic, **overrides):
        """Create the observer with parameter `overrides` and the peer."""
        self.observer = node_class(
            context=context,
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        self.peer = rclpy.create_node('peer', context=context)
        self.input = self.peer.create_publisher(input_type, input_topic, 10)
        self.clock = self.peer.create_publisher(Clock, '/clock', 10)
        self.observations = []
        key = self.observer.get_parameter('key').value
        self.peer.create_subscription(Observation, f'observations/{key}',
                                      self.observations.append, OBSERVATION_QOS)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.observer)
        self.executor.add_node(self.peer)
        self.spin_until(lambda: self.input.get_subscription_count() > 0
                        and self.peer.count_publishers(f'observations/{key}') > 0)

    def spin_until(self, predicate, timeout_s=10.0):
        """Spin both nodes until `predicate()` holds."""
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert time.monotonic() < deadline, 'timed out'
            self.executor.spin_once(timeout_sec=0.01)

    def send(self, *msgs):
        """Publish inputs in order until the last one's observation arrives; return all new.

        Delivery is in order, so an observation made from an earlier input would arrive first:
        when only the last input's observation came, the earlier ones made none.
        """
        start = len(self.observations)
        for msg in msgs:
            self.input.publish(msg)
        self.spin_until(lambda: len(self.observations) > start)
        return self.observations[start:]

    def close(self):
        """Destroy both nodes."""
        self.executor.shutdown()
        self.observer.destroy_node()
        self.peer.destroy_node()


def joint_state(seconds, positions, names=None):
    """Build a JointState of JOINTS (reversed, plus an extra joint) at a time in seconds."""
    names = names or list(reversed(JOINTS)) + ['other']
    msg = JointState(name=names, position=[float(p) for p in positions])
    msg.header.stamp = Time(sec=seconds)
    msg.header.frame_id = 'base'
    return msg


def test_joint_observer_publishes_selected_joints(context):
    """The configured joints come out in order, stamped with the source stamp."""
    harness = Harness(context, JointStateObserver, JointState, '/joint_states')
    try:
        out = harness.send(joint_state(7, list(range(8, 0, -1)) + [99]))
        assert len(out) == 1
        msg = out[0]
        assert msg.key == 'joints' and msg.header.frame_id == 'base'
        assert stamp_to_ns(msg.header.stamp) == 7_000_000_000
        assert list(msg.names) == [f'{j}/position' for j in JOINTS]
        np.testing.assert_array_equal(observation_to_array(msg), np.arange(1, 9))
    finally:
        harness.close()


def test_joint_observer_drops_bad_messages_and_keeps_running(context):
    """A NaN position yields no observation; the next good message does."""
    harness = Harness(context, JointStateObserver, JointState, '/joint_states')
    try:
        out = harness.send(joint_state(1, [0.0] * 3 + [float('nan')] + [0.0] * 5),
                           joint_state(2, [0.0] * 9))
        assert [stamp_to_ns(msg.header.stamp) for msg in out] == [2_000_000_000]
    finally:
        harness.close()


def test_clock_jump_back_forgets_old_stamps(context):
    """After simulated time restarts, earlier-stamped joint states are accepted again."""
    harness = Harness(context, JointStateObserver, JointState, '/joint_states',
                      use_sim_time=True)
    try:
        def set_clock(seconds):
            harness.clock.publish(Clock(clock=Time(sec=seconds)))
            deadline = time.monotonic() + 5.0
            while (harness.observer.get_clock().now().nanoseconds != seconds * 1_000_000_000
                   and time.monotonic() < deadline):
                harness.executor.spin_once(timeout_sec=0.01)
        set_clock(100)
        assert len(harness.send(joint_state(100, [0.0] * 9))) == 1
        out = harness.send(joint_state(10, [0.0] * 9), joint_state(100, [1.0] * 9))
        assert [stamp_to_ns(msg.header.stamp) for msg in out] == [100_000_000_000]  # 10: refused
        set_clock(10)
        out = harness.send(joint_state(10, [0.0] * 9))
        assert [stamp_to_ns(msg.header.stamp) for msg in out] == [10_000_000_000]
    finally:
        harness.close()


def test_image_observer_converts_resizes_and_stamps(context):
    """A padded bgr8 image becomes an RGB observation of the configured size."""
    harness = Harness(context, ImageObserver, Image, '/camera/image_raw',
                      output_height=4, output_width=4)
    try:
        msg = Image(height=8, width=16, encoding='bgr8', step=16 * 3 + 2)
        rows = np.zeros((8, 16 * 3 + 2), np.uint8)
        rows[:, 0:48:3] = 200  # blue channel of every pixel
        msg.data = rows.tobytes()
        out = harness.send(msg)
        assert len(out) == 1
        assert stamp_to_ns(out[0].header.stamp) > 0  # the unstamped image got its arrival time
        rgb = observation_to_array(out[0])
        assert rgb.shape == (4, 4, 3)
        np.testing.assert_array_equal(rgb[..., 2], 200)
        np.testing.assert_array_equal(rgb[..., :2], 0)
    finally:
        harness.close()


def test_image_observer_drops_inconsistent_images(context):
    """An image whose data is shorter than step * height is dropped, the node keeps going."""
    harness = Harness(context, ImageObserver, Image, '/camera/image_raw')
    try:
        short = Image(height=8, width=8, encoding='rgb8', step=24)
        short.data = bytes(24 * 7)
        short.header.stamp = Time(sec=1)
        good = Image(height=8, width=8, encoding='mono8', step=8)
        good.data = bytes(64)
        good.header.stamp = Time(sec=2)
        out = harness.send(short, good)
        assert [stamp_to_ns(msg.header.stamp) for msg in out] == [2_000_000_000]
    finally:
        harness.close()
