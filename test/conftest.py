"""Test-session set-up shared by every test: ROS isolation and headless rendering."""

import os

# Each pytest process gets its own DDS domain so that parallel runs (another checkout, CI beside
# a developer) can never exchange messages; discovery stays on the loopback interface.
os.environ['ROS_DOMAIN_ID'] = str(1 + (os.getpid() + int(os.environ.get('ROS_DOMAIN_ID', '0')))
                                  % 100)
os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
os.environ.setdefault('ROS_LOG_DIR', os.path.join(os.path.dirname(__file__), '..', 'log', 'ros'))
os.environ.setdefault('MUJOCO_GL', 'egl')
