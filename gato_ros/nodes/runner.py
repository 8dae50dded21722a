"""Run gato_ros nodes in one process: rclpy set-up, spinning and clean shutdown."""

import sys

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


def spin_nodes(factories, argv):
    """Initialize rclpy, build the nodes, spin them until shutdown, then clean up.

    Args:
        factories: Callables without arguments returning nodes (e.g. node classes).
        argv: Full command line (program name first), ROS arguments included.

    Returns:
        int: 0 after a normal shutdown, 1 when a node could not be built (bad parameters or
        configuration; the reason is printed to stderr).
    """
    rclpy.init(args=argv)
    nodes = []
    try:
        try:
            for factory in factories:
                nodes.append(factory())
        except (ValueError, FileNotFoundError, ParameterException) as error:
            print(f'error: {error}', file=sys.stderr)
            return 1
        executor = SingleThreadedExecutor()
        for node in nodes:
            executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # Ctrl-C shuts the context down; a message take already under way then fails with
        # a RuntimeError from the rclpy bindings. Only that case is a normal exit.
        if rclpy.ok():
            raise
    finally:
        for node in nodes:
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
