"""Fixtures of the node tests."""

import gc

from nodes_support import demo_episode, save_tiny_checkpoint
import pytest
import rclpy


@pytest.fixture
def context():
    """Give each test a ROS context of its own, fully released afterwards.

    The garbage collection matters: rclpy objects left in reference cycles would otherwise be
    collected in a process forked later by another test (flake8's worker pool) and crash it.
    """
    context = rclpy.Context()
    rclpy.init(context=context)
    yield context
    rclpy.try_shutdown(context=context)
    gc.collect()


@pytest.fixture(scope='session')
def tiny_checkpoint(tmp_path_factory):
    """Save an untrained gato-test checkpoint for the arm task."""
    return save_tiny_checkpoint(tmp_path_factory.mktemp('checkpoint'))


@pytest.fixture(scope='session')
def prompt_file(tmp_path_factory):
    """Save an episode .npz of the arm task, usable as a prompt."""
    path = tmp_path_factory.mktemp('prompt') / 'demo.npz'
    demo_episode(steps=3, seed=1).save(path)
    return path
