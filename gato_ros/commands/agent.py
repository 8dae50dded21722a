"""``gato-ros agent``: the observer and inference nodes in one process (ROS 2).

Example::

    python -m gato_ros agent --params config/arms/panda.yaml \
        --ros-args -p inference_node.checkpoint_path:=checkpoints/demo

See :mod:`gato_ros.nodes.agent`.
"""

import argparse


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--params', help='ROS params file for the nodes')
    parser.add_argument('ros_args', nargs=argparse.REMAINDER,
                        help='further ROS arguments (--ros-args ...)')


def run(args):
    """Spin the agent's nodes until shutdown.

    Args:
        args: the parsed options.

    Returns:
        int: the nodes' exit status.
    """
    from gato_ros.nodes.agent import main
    params = ['--params', args.params] if args.params else []
    return main([*params, *args.ros_args])
