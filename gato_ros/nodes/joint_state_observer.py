"""Node: ``sensor_msgs/JointState`` -> ``gato_ros/Observation`` of the configured joints.

Subscribes ``joint_states_topic``, merges and orders the configured ``joint_names`` with
:class:`gato_ros.nodes.joint_selection.JointStateCache`, and publishes a float32 observation
(positions, then velocities if configured) each time a message completes a coherent sample.
The observation's stamp is the source stamp (the oldest of the joints); a JointState with a
zero stamp (some drivers leave it unset) is stamped with its arrival time on the node clock.
Bad messages are dropped with one rate-limited error; the node keeps running. When the node
clock jumps back (simulated time reset), the cached joints are forgotten.
"""

import sys

from gato_ros.msg import Observation
from gato_ros.nodes.joint_selection import JointSelectionConfig, JointStateCache
from gato_ros.nodes.observation import (
    OBSERVATION_QOS, observation_topic, stamp_or_now, stamp_to_ns, vector_observation)
from gato_ros.nodes.parameters import declare_parameters, ParameterSpec
from gato_ros.nodes.runner import spin_nodes
from rclpy.clock import JumpThreshold
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time
from sensor_msgs.msg import JointState
from std_msgs.msg import Header

NODE_NAME = 'joint_state_observer'
# Rate limit of repeated error logs (s).
LOG_THROTTLE_S = 2.0

PARAMETERS = (
    ParameterSpec('joint_states_topic', 'sensor_msgs/JointState input topic'),
    ParameterSpec('key', 'observation key in the checkpoint spec, e.g. joints'),
    ParameterSpec('observation_topic',
                  'gato_ros/Observation output topic; empty = observations/<key>'),
    ParameterSpec('joint_names', 'joints to select, in observation order'),
    ParameterSpec('include_velocities', 'append joint velocities after the positions'),
    ParameterSpec('max_skew_s',
                  'largest stamp difference between the joints of one observation (s)',
                  (0.0, 10.0)),
)


class JointStateObserver(Node):
    """Publish the configured joints of ``sensor_msgs/JointState`` as an observation."""

    def __init__(self, node_name=NODE_NAME, **kwargs):
        """Declare parameters, subscribe and advertise.

        Args:
            node_name: Node name; the defaults come from ``config/joint_state_observer.yaml``
                whatever the name.
            **kwargs: Passed to ``rclpy.node.Node`` (e.g. ``namespace``,
                ``parameter_overrides``).
        """
        super().__init__(node_name, **kwargs)
        params = declare_parameters(self, NODE_NAME, PARAMETERS, read_only=True)
        self._key = params['key']
        self._cache = JointStateCache(JointSelectionConfig(
            joint_names=tuple(params['joint_names']),
            include_velocities=params['include_velocities'],
            max_skew_s=params['max_skew_s']))
        topic = observation_topic(self._key, params['observation_topic'])
        self._publisher = self.create_publisher(Observation, topic, OBSERVATION_QOS)
        self.create_subscription(
            JointState, params['joint_states_topic'], self._on_joint_state, 10)
        # A simulator reset may move /clock back; joint stamps from before it must not make
        # every later message look like it goes backwards.
        self._jump_handle = self.get_clock().create_jump_callback(
            JumpThreshold(min_forward=None, min_backward=Duration(nanoseconds=-1)),
            post_callback=lambda jump: self._cache.clear())

    def _on_joint_state(self, msg):
        stamp_ns = stamp_to_ns(stamp_or_now(msg.header.stamp, self.get_clock()))
        try:
            updated = self._cache.update(msg.name, msg.position, msg.velocity, stamp_ns)
        except ValueError as error:
            self.get_logger().error(
                f'dropping JointState: {error}', throttle_duration_sec=LOG_THROTTLE_S)
            return
        sample = self._cache.sample() if updated else None
        if sample is None:
            return
        header = Header(stamp=Time(nanoseconds=sample.stamp_ns).to_msg(),
                        frame_id=msg.header.frame_id)
        self._publisher.publish(
            vector_observation(self._key, sample.values, self._cache.value_names, header))


def main(argv=None):
    """Run the node until shutdown.

    Args:
        argv: Command line including ROS arguments; defaults to ``sys.argv``.

    Returns:
        int: Exit status.
    """
    return spin_nodes([JointStateObserver], sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
