"""Test-session set-up shared by every test: ROS isolation and headless rendering."""

import os

import pytest

# Each pytest process gets its own DDS domain so that parallel runs (another checkout, CI beside
# a developer) can never exchange messages; discovery stays on the loopback interface.
os.environ['ROS_DOMAIN_ID'] = str(1 + (os.getpid() + int(os.environ.get('ROS_DOMAIN_ID', '0')))
                                  % 100)
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_LOG_DIR', os.path.join(os.path.dirname(__file__), '..', 'log', 'ros'))
os.environ.setdefault('MUJOCO_GL', 'egl')


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch CPU thread, restoring the previous count afterwards."""
    import torch
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def readable_umask():
    """Create files under the usual umask (readable by all), restoring the previous one."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)
