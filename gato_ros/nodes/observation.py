"""Pack and unpack ``gato_ros/Observation`` messages (observer nodes -> inference node).

Also holds what both ends must agree on: the QoS of observation topics and the default topic
name of a key (``observations/<key>``, relative so it follows the node's namespace).
"""

import array

from gato_ros.msg import Observation
import numpy as np
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy

# Only the newest observation matters to the controller; reliable so that a joints observation
# is never silently dropped between two local processes.
OBSERVATION_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST, depth=2, reliability=ReliabilityPolicy.RELIABLE)


def observation_topic(key, topic=''):
    """Return the topic of an observation key.

    Args:
        key: Observation key, e.g. ``'joints'``.
        topic: Explicit topic; empty for the default.

    Returns:
        str: ``topic`` if given, else ``'observations/<key>'``.
    """
    return topic or f'observations/{key}'


def stamp_to_ns(stamp):
    """Convert a ``builtin_interfaces/Time`` to nanoseconds.

    Args:
        stamp: The message time.

    Returns:
        int: Nanoseconds since the clock's epoch.
    """
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def stamp_or_now(stamp, clock):
    """Return a source stamp, or the clock's now where the source left it zero.

    Some drivers publish unstamped messages; their arrival time is the best estimate of the
    acquisition time, and a zero stamp would make every age check fail.

    Args:
        stamp: ``builtin_interfaces/Time`` of the source message.
        clock: The node's ``rclpy.clock.Clock`` (sim time aware).

    Returns:
        builtin_interfaces.msg.Time: ``stamp`` or now.
    """
    return stamp if stamp_to_ns(stamp) else clock.now().to_msg()


def vector_observation(key, values, names, header):
    """Build a float32 vector observation.

    Args:
        key: Observation key.
        values: (N,) values.
        names: One name per value.
        header: ``std_msgs/Header`` (source stamp and frame).

    Returns:
        gato_ros.msg.Observation: ENCODING_FLOAT32 observation.
    """
    values = np.ascontiguousarray(values, dtype=np.float32)
    msg = Observation(key=key, encoding=Observation.ENCODING_FLOAT32, header=header)
    msg.shape = [values.size]
    msg.data = array.array('f', values.tobytes())
    msg.names = list(names)
    return msg


def image_observation(key, rgb, header):
    """Build an RGB image observation.

    Args:
        key: Observation key.
        rgb: uint8 (H, W, 3) image.
        header: ``std_msgs/Header`` (source stamp and frame).

    Returns:
        gato_ros.msg.Observation: ENCODING_RGB8 observation.
    """
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    msg = Observation(key=key, encoding=Observation.ENCODING_RGB8, header=header)
    msg.shape = list(rgb.shape)
    msg.pixels = array.array('B', rgb.tobytes())
    return msg


def observation_to_array(msg):
    """Unpack and check an observation.

    Args:
        msg: A ``gato_ros.msg.Observation``.

    Returns:
        np.ndarray: float32 (N,) for ENCODING_FLOAT32, uint8 (H, W, 3) for ENCODING_RGB8.

    Raises:
        ValueError: On an unknown encoding, a shape that does not match the data, a names list
            of the wrong length, or non-finite values.
    """
    shape = tuple(int(s) for s in msg.shape)
    if msg.encoding == Observation.ENCODING_FLOAT32:
        values = np.asarray(msg.data, dtype=np.float32)
        if len(shape) != 1 or shape[0] != values.size or values.size == 0:
            raise ValueError(
                f'observation {msg.key!r}: shape {list(shape)} does not match '
                f'{values.size} float values')
        if len(msg.names) not in (0, values.size):
            raise ValueError(
                f'observation {msg.key!r}: {len(msg.names)} names for {values.size} values')
        if not np.isfinite(values).all():
            raise ValueError(f'observation {msg.key!r} has non-finite values')
        return values
    if msg.encoding == Observation.ENCODING_RGB8:
        pixels = np.frombuffer(msg.pixels, dtype=np.uint8)
        if len(shape) != 3 or shape[2] != 3 or min(shape) < 1 or (
                pixels.size != shape[0] * shape[1] * 3):
            raise ValueError(
                f'observation {msg.key!r}: shape {list(shape)} does not match '
                f'{pixels.size} RGB bytes')
        return pixels.reshape(shape)  # (H, W, 3)
    raise ValueError(f'observation {msg.key!r}: unknown encoding {msg.encoding}')
