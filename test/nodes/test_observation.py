"""Tests for gato_ros/nodes/observation.py and gato_ros/nodes/observation_buffer.py."""

from builtin_interfaces.msg import Time
from gato_ros.msg import Observation
from gato_ros.nodes.observation import (
    image_observation, observation_to_array, observation_topic, stamp_or_now, stamp_to_ns,
    vector_observation)
from gato_ros.nodes.observation_buffer import joint_positions, ObservationBuffer
import numpy as np
import pytest
from rclpy.clock import Clock, ClockType
from std_msgs.msg import Header

SECOND = 1_000_000_000


def header_at(seconds):
    """Build a header stamped at a time in seconds."""
    return Header(stamp=Time(sec=int(seconds), nanosec=int(round(seconds % 1 * 1e9))))


def test_vector_observation_round_trip():
    """Vector observations keep values, names, shape and stamp."""
    msg = vector_observation('joints', np.array([1.5, -2.0]), ['a/position', 'b/position'],
                             header_at(3.25))
    assert msg.encoding == Observation.ENCODING_FLOAT32 and list(msg.shape) == [2]
    assert list(msg.names) == ['a/position', 'b/position']
    assert stamp_to_ns(msg.header.stamp) == 3_250_000_000
    values = observation_to_array(msg)
    assert values.dtype == np.float32
    np.testing.assert_array_equal(values, [1.5, -2.0])


def test_image_observation_round_trip():
    """Image observations keep pixels and shape."""
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    msg = image_observation('image', rgb, header_at(1.0))
    assert msg.encoding == Observation.ENCODING_RGB8 and list(msg.shape) == [2, 3, 3]
    np.testing.assert_array_equal(observation_to_array(msg), rgb)


@pytest.mark.parametrize('change, message', [
    ({'shape': [3]}, r'shape \[3\] does not match 2 float values'),
    ({'names': ['only_one']}, '1 names for 2 values'),
    ({'data': [1.0, float('nan')]}, 'non-finite'),
    ({'encoding': 7}, 'unknown encoding 7'),
])
def test_malformed_vector_observations_are_rejected(change, message):
    """Inconsistent vector observations raise ValueError."""
    msg = vector_observation('joints', [1.0, 2.0], ['a', 'b'], Header())
    for field, value in change.items():
        setattr(msg, field, value)
    with pytest.raises(ValueError, match=message):
        observation_to_array(msg)


def test_image_with_wrong_pixel_count_is_rejected():
    """An image whose shape does not match its bytes raises ValueError."""
    msg = image_observation('image', np.zeros((2, 2, 3), np.uint8), Header())
    msg.shape = [2, 3, 3]
    with pytest.raises(ValueError, match='does not match 12 RGB bytes'):
        observation_to_array(msg)


def test_default_topic_follows_the_key():
    """Observation topics default to observations/<key>."""
    assert observation_topic('image_front') == 'observations/image_front'
    assert observation_topic('image', '/cam/obs') == '/cam/obs'


def test_zero_stamp_is_replaced_by_now():
    """Unstamped sources get the clock's time; stamped ones keep theirs."""
    clock = Clock(clock_type=ClockType.SYSTEM_TIME)
    assert stamp_to_ns(stamp_or_now(Time(), clock)) > 0
    assert stamp_to_ns(stamp_or_now(Time(sec=5), clock)) == 5 * SECOND


def make_buffer():
    """Build a buffer holding a joints observation at t=10 s and an image at t=10.2 s."""
    buffer = ObservationBuffer(['image', 'joints'])
    buffer.put('joints', vector_observation(
        'joints', [0.1, 0.2, 0.3], ['b/position', 'a/position', 'a/velocity'], header_at(10.0)))
    buffer.put('image', image_observation('image', np.zeros((2, 2, 3), np.uint8),
                                          header_at(10.2)))
    return buffer


def test_gather_returns_all_keys_and_the_oldest_stamp():
    """A fresh set of observations is returned with the oldest stamp."""
    snapshot = make_buffer().gather(10_300_000_000, SECOND // 2)
    assert sorted(snapshot.observation) == ['image', 'joints']
    assert snapshot.oldest_stamp_ns == 10 * SECOND
    assert snapshot.names['joints'] == ['b/position', 'a/position', 'a/velocity']


@pytest.mark.parametrize('now_s, message', [
    (10.6, "observation 'joints' is 0.600 s old"),
    (9.0, "observation 'image' is stamped 1.200 s in the future"),
])
def test_stale_or_future_observations_are_rejected(now_s, message):
    """Observations outside max age in either direction raise ValueError."""
    with pytest.raises(ValueError, match=message):
        make_buffer().gather(int(now_s * SECOND), SECOND // 2)


def test_missing_and_mislabelled_keys_are_rejected():
    """A key never received, or a message with another key, raises ValueError."""
    buffer = ObservationBuffer(['joints'])
    with pytest.raises(ValueError, match="no observation 'joints' received yet"):
        buffer.gather(0, SECOND)
    buffer.put('joints', vector_observation('arm', [0.0], ['a'], header_at(0.0)))
    with pytest.raises(ValueError, match="carries key 'arm'"):
        buffer.gather(0, SECOND)
    buffer.clear()
    with pytest.raises(ValueError, match='received yet'):
        buffer.gather(0, SECOND)


def test_joint_positions_are_picked_by_name():
    """Positions come out in the requested joint order, velocities are skipped."""
    picked = joint_positions([0.1, 0.2, 0.3], ['b/position', 'a/position', 'a/velocity'],
                             ['a', 'b'])
    np.testing.assert_allclose(picked, [0.2, 0.1])
    with pytest.raises(ValueError, match=r"lacks the positions of \['c'\]"):
        joint_positions([0.1], ['a/position'], ['a', 'c'])
