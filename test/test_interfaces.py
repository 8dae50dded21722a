"""The generated gato_ros interfaces import, serialize and travel over Fast DDS."""

import gc
import os
from pathlib import Path
import subprocess
import sys
import time

from gato_ros.msg import Observation
from gato_ros.srv import LoadPrompt, ResetEpisode
import pytest
import rclpy
from rclpy.serialization import deserialize_message, serialize_message
from support.interface_samples import as_comparable, sample_messages

TEST_DIR = Path(__file__).resolve().parent


@pytest.mark.parametrize('name', sorted(sample_messages()))
def test_messages_round_trip_through_cdr(name):
    """Serializing to CDR bytes and back gives the same field values."""
    msg = sample_messages()[name]
    back = deserialize_message(serialize_message(msg), type(msg))
    assert as_comparable(back) == as_comparable(msg)


def test_observation_constants_distinguish_encodings():
    """The two payload encodings have distinct values usable by observers and consumers."""
    assert Observation.ENCODING_FLOAT32 != Observation.ENCODING_RGB8


@pytest.mark.parametrize('srv', [ResetEpisode, LoadPrompt])
def test_services_round_trip_through_cdr(srv):
    """Service requests and responses serialize and deserialize unchanged."""
    request = srv.Request()
    response = srv.Response(success=True, message='ok')
    for msg in (request, response):
        back = deserialize_message(serialize_message(msg), type(msg))
        assert as_comparable(back) == as_comparable(msg)


@pytest.mark.dds
def test_every_message_crosses_processes_over_dds():
    """A publisher in another process delivers every message type to this process."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TEST_DIR), *sys.path]))
    peer = subprocess.Popen([sys.executable, str(TEST_DIR / 'support' / 'publish_interfaces.py')],
                            env=env)
    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node('interface_listener', context=context)
    received = {}
    try:
        expected = sample_messages()
        subs = [node.create_subscription(type(msg), f'/gato_ros_test/{name}',
                                         lambda m, n=name: received.setdefault(n, m), 10)
                for name, msg in expected.items()]
        executor = rclpy.executors.SingleThreadedExecutor(context=context)
        executor.add_node(node)
        deadline = time.monotonic() + 60.0
        while len(received) < len(expected) and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.1)
        for sub in subs:
            node.destroy_subscription(sub)
        assert sorted(received) == sorted(expected)
        for name, msg in expected.items():
            assert as_comparable(received[name]) == as_comparable(msg)
        assert peer.wait(timeout=30) == 0
    finally:
        peer.kill()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
        # rclpy handles left in reference cycles crash forked processes (flake8's workers)
        # that garbage-collect them later: collect them here, while rclpy can still do it.
        gc.collect()
