"""In-process tests of the simulated arm node (mujoco_arm.py): twist interface, wrist camera."""

import time

from gato_ros.nodes.mujoco_arm import MujocoArm
from geometry_msgs.msg import TwistStamped
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, Image

pytestmark = [pytest.mark.sim]
TOPIC = '/twist_controller/commands'


class TwistHarness:
    """The simulated arm node and a peer that publishes twists on its command topic."""

    def __init__(self, context):
        """Start the node (no camera frames needed: a slow rate) and the peer."""
        overrides = {'twist_command_topic': TOPIC, 'camera_rate_hz': 0.2}
        self.arm = MujocoArm(context=context, parameter_overrides=[
            Parameter(k, value=v) for k, v in overrides.items()])
        self.peer = rclpy.create_node('peer', context=context)
        self.twists = self.peer.create_publisher(TwistStamped, TOPIC, 10)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.arm)
        self.executor.add_node(self.peer)
        self.spin(lambda: self.twists.get_subscription_count() > 0)

    def spin(self, predicate=lambda: False, duration_s=10.0):
        """Spin both nodes until `predicate()` holds or for `duration_s`."""
        deadline = time.monotonic() + duration_s
        while not predicate() and time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.01)

    def tool_motion(self, frame_id, linear):
        """Send one twist, let it run out, and return how far the tool moved (m, xyz)."""
        self.spin(duration_s=0.3)  # settle
        start = self.arm._sim.tcp_position()
        msg = TwistStamped()
        msg.header.frame_id = frame_id
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = linear
        self.twists.publish(msg)
        self.spin(duration_s=0.6)
        return self.arm._sim.tcp_position() - start

    def close(self):
        """Destroy both nodes."""
        self.executor.shutdown()
        self.arm.destroy_node()
        self.peer.destroy_node()


def test_a_twist_moves_the_tool_for_one_period_and_bad_ones_are_rejected(context):
    """0.1 m/s along y for the 0.1 s period: ~1 cm, then the arm holds; bad twists: no motion."""
    harness = TwistHarness(context)
    try:
        moved = harness.tool_motion('base_link', (0.0, 0.1, 0.0))
        assert moved[1] == pytest.approx(0.01, abs=3e-3)
        assert np.abs(moved[[0, 2]]).max() < 3e-3
        # An empty frame means the base frame; the move is the same the other way.
        assert harness.tool_motion('', (0.0, -0.1, 0.0))[1] == pytest.approx(-0.01, abs=3e-3)
        for frame_id, linear in [('world', (0.1, 0.0, 0.0)), ('base_link', (np.nan, 0, 0))]:
            assert np.abs(harness.tool_motion(frame_id, linear)).max() < 1e-3
        # The node still follows good twists after the rejections.
        assert harness.tool_motion('base_link', (0.0, 0.0, 0.1))[2] == pytest.approx(
            0.01, abs=3e-3)
    finally:
        harness.close()


def test_the_wrist_camera_is_published_beside_the_scene_camera(context):
    """With wrist_image_topic set, both cameras publish images and camera info each tick."""
    overrides = {'wrist_image_topic': '/wrist_camera/image_raw', 'camera_height': 32,
                 'camera_width': 48, 'camera_rate_hz': 20.0}
    arm = MujocoArm(context=context, parameter_overrides=[
        Parameter(k, value=v) for k, v in overrides.items()])
    peer = rclpy.create_node('peer', context=context)
    received = {}
    for topic, message in (('/camera/image_raw', Image), ('/wrist_camera/image_raw', Image),
                           ('/wrist_camera/camera_info', CameraInfo)):
        peer.create_subscription(message, topic,
                                 lambda msg, topic=topic: received.setdefault(topic, msg),
                                 qos_profile_sensor_data)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(arm)
    executor.add_node(peer)
    try:
        deadline = time.monotonic() + 10.0
        while len(received) < 3 and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.01)
        scene, wrist = received['/camera/image_raw'], received['/wrist_camera/image_raw']
        assert (wrist.height, wrist.width, wrist.encoding) == (32, 48, 'rgb8')
        assert wrist.header.frame_id == 'wrist_camera_optical_frame'
        assert bytes(wrist.data) != bytes(scene.data)
        info = received['/wrist_camera/camera_info']
        assert info.header.frame_id == wrist.header.frame_id and info.k[2] == pytest.approx(23.5)
    finally:
        executor.shutdown()
        arm.destroy_node()
        peer.destroy_node()
