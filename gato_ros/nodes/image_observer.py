"""Node: ``sensor_msgs/Image`` -> RGB ``gato_ros/Observation`` at the model's input size.

Subscribes ``image_topic`` with the sensor-data QoS (best effort, shallow queue: a late frame
is worth less than the next one), converts with
:func:`gato_ros.nodes.image_conversion.image_msg_to_model_input` (decode, RGB, centre-crop,
INTER_AREA resize) and publishes an ENCODING_RGB8 observation stamped with the camera's stamp
(its arrival time on the node clock when the camera left it zero).
Several cameras = several instances, each with its own name or namespace, ``image_topic`` and
``key`` (e.g. ``image_front`` -> ``observations/image_front``). Bad images are dropped with one
rate-limited error; the node keeps running.
"""

import sys

from gato_ros.msg import Observation
from gato_ros.nodes.image_conversion import image_msg_to_model_input, ImageConversionConfig
from gato_ros.nodes.observation import (
    image_observation, OBSERVATION_QOS, observation_topic, stamp_or_now)
from gato_ros.nodes.parameters import declare_parameters, ParameterSpec
from gato_ros.nodes.runner import spin_nodes
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from std_msgs.msg import Header

NODE_NAME = 'image_observer'
# Rate limit of repeated error logs (s).
LOG_THROTTLE_S = 2.0

PARAMETERS = (
    ParameterSpec('image_topic', 'sensor_msgs/Image input topic'),
    ParameterSpec('key', 'observation key in the checkpoint spec, e.g. image or image_front'),
    ParameterSpec('observation_topic',
                  'gato_ros/Observation output topic; empty = observations/<key>'),
    ParameterSpec('output_height', 'height of the model input image (pixels)', (1, 4096)),
    ParameterSpec('output_width', 'width of the model input image (pixels)', (1, 4096)),
    ParameterSpec('max_pixels', 'largest accepted input image, height * width',
                  (1, 100_000_000)),
    ParameterSpec('uint16_full_scale', 'mono16/16UC1 value shown as white', (1, 65535)),
    ParameterSpec('float_min', '32FC1 value shown as black (e.g. depth in m)', (-1e6, 1e6)),
    ParameterSpec('float_max', '32FC1 value shown as white (e.g. depth in m)', (-1e6, 1e6)),
)


class ImageObserver(Node):
    """Publish camera images as RGB observations of the model's input size."""

    def __init__(self, node_name=NODE_NAME, **kwargs):
        """Declare parameters, subscribe and advertise.

        Args:
            node_name: Node name; the defaults come from ``config/image_observer.yaml``
                whatever the name.
            **kwargs: Passed to ``rclpy.node.Node`` (e.g. ``namespace``,
                ``parameter_overrides``).
        """
        super().__init__(node_name, **kwargs)
        params = declare_parameters(self, NODE_NAME, PARAMETERS, read_only=True)
        self._key = params['key']
        self._config = ImageConversionConfig(
            output_height=params['output_height'], output_width=params['output_width'],
            max_pixels=params['max_pixels'], uint16_full_scale=params['uint16_full_scale'],
            float_min=params['float_min'], float_max=params['float_max'])
        topic = observation_topic(self._key, params['observation_topic'])
        self._publisher = self.create_publisher(Observation, topic, OBSERVATION_QOS)
        self.create_subscription(
            Image, params['image_topic'], self._on_image, qos_profile_sensor_data)

    def _on_image(self, msg):
        try:
            rgb = image_msg_to_model_input(msg, self._config)
        except ValueError as error:
            self.get_logger().error(
                f'dropping Image: {error}', throttle_duration_sec=LOG_THROTTLE_S)
            return
        header = Header(stamp=stamp_or_now(msg.header.stamp, self.get_clock()),
                        frame_id=msg.header.frame_id)
        self._publisher.publish(image_observation(self._key, rgb, header))


def main(argv=None):
    """Run the node until shutdown.

    Args:
        argv: Command line including ROS arguments; defaults to ``sys.argv``.

    Returns:
        int: Exit status.
    """
    return spin_nodes([ImageObserver], sys.argv if argv is None else argv)


if __name__ == '__main__':
    sys.exit(main())
