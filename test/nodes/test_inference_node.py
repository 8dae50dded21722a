"""In-process tests of gato_ros/nodes/inference_node.py: servo mode, failures, bad input."""

import re
import time

from gato_ros.msg import Observation
from gato_ros.nodes.inference_node import InferenceNode
from gato_ros.nodes.observation import image_observation, OBSERVATION_QOS, vector_observation
from geometry_msgs.msg import TwistStamped
from nodes_support import ARM_JOINTS, IMAGE_SIZE, save_tiny_checkpoint
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.lifecycle import TransitionCallbackReturn
from rclpy.parameter import Parameter
from std_msgs.msg import Float64MultiArray, Header, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

JOINTS = ARM_JOINTS + ['panda_finger_joint1']
MEASURED = np.array([0.0, 0.1, -0.1, -1.5, 0.0, 1.6, 0.7, 0.02])


@pytest.fixture(scope='module')
def servo_checkpoint(tmp_path_factory):
    """Save a tiny checkpoint acting with a 6-D twist and a gripper command."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp('servo'), arm_dim=6)


class Harness:
    """An inference node plus a peer node feeding observations and recording commands."""

    def __init__(self, context, **overrides):
        """Create both nodes in `context`; `overrides` are parameter values."""
        self.node = InferenceNode(
            context=context,
            parameter_overrides=[Parameter(k, value=v) for k, v in overrides.items()])
        self.peer = rclpy.create_node('peer', context=context)
        self.publishers = {key: self.peer.create_publisher(
            Observation, f'observations/{key}', OBSERVATION_QOS) for key in ('image', 'joints')}
        self.received = []
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.executor.add_node(self.peer)

    def listen(self, msg_type, topic):
        """Record every message of a topic."""
        self.peer.create_subscription(msg_type, topic, self.received.append, 100)

    def feed(self, joint_names=JOINTS, image_size=IMAGE_SIZE, keys=('joints', 'image')):
        """Publish one fresh observation of each key (joints, image)."""
        header = Header(stamp=self.peer.get_clock().now().to_msg())
        if 'joints' in keys:
            self.publishers['joints'].publish(vector_observation(
                'joints', MEASURED, [f'{j}/position' for j in joint_names], header))
        if 'image' in keys:
            self.publishers['image'].publish(image_observation(
                'image', np.zeros((image_size, image_size, 3), np.uint8), header))

    def run(self, predicate, timeout_s=10.0, **feed):
        """Feed observations and spin until `predicate()` holds; return whether it did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.feed(**feed)
            for _ in range(5):
                self.executor.spin_once(timeout_sec=0.01)
            if predicate():
                return True
        return False

    def close(self):
        """Destroy both nodes."""
        self.executor.shutdown()
        self.node.destroy_node()
        self.peer.destroy_node()


def test_a_camera_frame_starts_a_step_at_most_once_per_period(context, servo_checkpoint):
    """With a trigger key, a new frame starts a step at once; more frames in the period do not.

    The control period is 5 s, so the timer's first event comes 5 s after activation: a
    command within 3 s of it can only have been started by a frame.
    """
    harness = Harness(
        context, checkpoint_path=str(servo_checkpoint), autostart=True, mode='servo',
        gripper_output='topic', command_topic='/ttest/twist', gripper_topic='/ttest/gripper',
        control_rate_hz=0.2, max_obs_age_s=5.0, trigger_observation_key='image')
    try:
        harness.listen(TwistStamped, '/ttest/twist')

        def twists():
            return [msg for msg in harness.received if isinstance(msg, TwistStamped)]
        assert not harness.run(lambda: bool(twists()), timeout_s=0.5, keys=('joints',))
        assert harness.run(lambda: bool(twists()), timeout_s=1.5)
        assert not harness.run(lambda: len(twists()) > 1, timeout_s=1.0)
    finally:
        harness.close()


def test_servo_mode_publishes_limited_twists_and_a_gripper_command(context, servo_checkpoint):
    """Servo mode: framed, speed-limited twists; the gripper goes to its own topic."""
    harness = Harness(
        context, checkpoint_path=str(servo_checkpoint), autostart=True, mode='servo',
        gripper_output='topic', command_topic='/itest/twist', gripper_topic='/itest/gripper',
        servo_frame_id='tool0', max_linear_speed_mps=0.001, max_angular_speed_radps=0.002,
        # The hold needs a fresh gripper position: a loaded machine must not make it stale.
        control_rate_hz=50.0, max_obs_age_s=5.0)
    try:
        harness.listen(TwistStamped, '/itest/twist')
        harness.listen(Float64MultiArray, '/itest/gripper')
        assert harness.node.status.state == 'active'

        def kinds():
            return {type(msg) for msg in harness.received}
        assert harness.run(lambda: kinds() == {TwistStamped, Float64MultiArray})
        for msg in harness.received:
            if isinstance(msg, TwistStamped):
                linear = [msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z]
                angular = [msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z]
                assert msg.header.frame_id == 'tool0' and msg.header.stamp.sec > 0
                assert np.linalg.norm(linear) <= 0.001 + 1e-12
                assert np.linalg.norm(angular) <= 0.002 + 1e-12
            else:
                assert len(msg.data) == 1 and 0.0 <= msg.data[0] <= 0.04

        def zero_twist():
            return any(isinstance(m, TwistStamped) and m.twist == TwistStamped().twist
                       for m in harness.received)
        assert not zero_twist()  # the untrained policy's twists are never exactly zero
        assert harness.node.trigger_deactivate() == TransitionCallbackReturn.SUCCESS
        assert harness.run(zero_twist)  # the hold
        assert harness.node.status.state == 'inactive'
    finally:
        harness.close()


@pytest.mark.parametrize('overrides, message', [
    ({'checkpoint_path': ''}, 'checkpoint_path is empty'),
    ({'checkpoint_path': '/nonexistent'}, 'not a complete gato_ros checkpoint'),
    ({'observation_keys': ['joints']}, r"missing \['image'\]"),
    ({'task': 'stack'}, "unknown task 'stack'"),
    ({'joint_names': ARM_JOINTS[:6]}, 'position_lower needs one value per joint'),
    ({'mode': 'cartesian'}, 'mode must be one of'),
    ({'gripper_joint_name': ''}, 'acts with 8 values, but trajectory mode with 7 joints'),
    ({'trigger_observation_key': 'wrist'}, "trigger_observation_key 'wrist' is not one of"),
])
def test_configure_failure_names_the_problem(context, tiny_checkpoint, overrides, message):
    """A failed configure leaves the node unconfigured with the reason in its status."""
    harness = Harness(context, **{'checkpoint_path': str(tiny_checkpoint), **overrides})
    try:
        assert harness.node.trigger_configure() == TransitionCallbackReturn.FAILURE
        status = harness.node.status
        assert status.state == 'unconfigured'
        assert status.last_error.startswith('configure failed: ')
        assert re.search(message, status.last_error), status.last_error
    finally:
        harness.close()


def test_a_camera_the_task_does_not_observe_is_not_waited_for(context, tiny_checkpoint):
    """observation_keys may name a camera only other tasks read: commands flow without it."""
    harness = Harness(context, checkpoint_path=str(tiny_checkpoint), autostart=True,
                      controller_name='itest_wrist',
                      observation_keys=['image', 'image_wrist', 'joints'])
    try:
        harness.listen(JointTrajectory, '/itest_wrist/joint_trajectory')
        assert harness.run(lambda: bool(harness.received))
        assert 'image_wrist' not in harness.node.status.last_error
    finally:
        harness.close()


@pytest.mark.parametrize('feed, message', [
    ({'joint_names': ['panda_joint1'] + JOINTS[2:] + ['panda_joint2x']},
     "lacks the positions of \\['panda_joint2'\\]"),
    ({'image_size': 16}, r'expected shape \(32, 32, 3\)'),
])
def test_bad_observations_produce_no_command(context, tiny_checkpoint, feed, message):
    """Observations that do not fit the checkpoint or the joints are refused, not acted on."""
    harness = Harness(context, checkpoint_path=str(tiny_checkpoint), autostart=True,
                      controller_name='itest_bad')
    try:
        harness.listen(JointTrajectory, '/itest_bad/joint_trajectory')
        assert harness.run(lambda: re.search(message, harness.node.status.last_error), **feed)
        assert harness.run(lambda: harness.node.status.control_rate_hz > 0.0, **feed)
        assert harness.received == []
        assert harness.node.status.episode_step == 0
    finally:
        harness.close()


def test_services_answer_before_configure(context):
    """Services refuse politely while nothing is configured."""
    harness = Harness(context)
    try:
        client = harness.peer.create_client(Trigger, '/inference_node/reset')
        future = client.call_async(Trigger.Request())
        assert harness.run(future.done)
        assert not future.result().success and future.result().message == 'not configured'
        assert harness.node.trigger_activate() != TransitionCallbackReturn.SUCCESS
        assert harness.node.status.state == 'unconfigured'
    finally:
        harness.close()


def test_instruction_too_long_for_the_context_keeps_the_previous_one(context, tiny_checkpoint):
    """An instruction the context cannot hold is refused; the episode and loop go on."""
    harness = Harness(context, checkpoint_path=str(tiny_checkpoint), autostart=True,
                      instruction='reach the cube', max_instruction_bytes=4096,
                      controller_name='itest_text')
    try:
        harness.listen(JointTrajectory, '/itest_text/joint_trajectory')
        publisher = harness.peer.create_publisher(String, '/inference_node/instruction', 10)
        assert harness.run(lambda: publisher.get_subscription_count() > 0)
        publisher.publish(String(data='pick up the red cube and put it on the plate ' * 40))
        assert harness.run(lambda: 'instruction rejected' in harness.node.status.last_error)
        assert 'context_length' in harness.node.status.last_error
        assert harness.node.status.instruction == 'reach the cube'
        count = len(harness.received)
        assert harness.run(lambda: len(harness.received) > count + 2)
    finally:
        harness.close()
