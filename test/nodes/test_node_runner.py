"""Tests of gato_ros.nodes.runner: a node process ends cleanly on shutdown, loudly otherwise."""

from gato_ros.nodes.runner import spin_nodes
import pytest
import rclpy
from rclpy.node import Node


class FailingNode(Node):
    """A node whose first timer tick raises, after shutting rclpy down if asked to."""

    def __init__(self, shut_down_first):
        super().__init__('failing_node')
        self.shut_down_first = shut_down_first
        self.create_timer(0.01, self._tick)

    def _tick(self):
        if self.shut_down_first:
            rclpy.shutdown()
        raise RuntimeError('take failed')


def test_an_error_during_shutdown_is_a_normal_exit():
    """Ctrl-C can break a message take mid-way: the process still exits with 0."""
    assert spin_nodes([lambda: FailingNode(shut_down_first=True)], ['runner_test']) == 0


def test_an_error_while_running_is_raised():
    """The same error from a live context is a real failure and must not be swallowed."""
    with pytest.raises(RuntimeError, match='take failed'):
        spin_nodes([lambda: FailingNode(shut_down_first=False)], ['runner_test'])
