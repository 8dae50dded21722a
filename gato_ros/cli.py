"""The one command line of gato_ros: ``python -m gato_ros <command>`` or ``gato-ros <command>``.

Each command lives in its own module under ``gato_ros.commands`` with ``add_arguments(parser)``
and ``run(args) -> int``. Modules are imported only when their command runs, so ``--help``
stays instant (no torch, MuJoCo or rclpy import).
"""

import argparse
import importlib
import sys

# command -> one-line summary; the module is gato_ros.commands.<command>.
COMMANDS = {
    'info': 'print a model preset: dimensions and parameter count',
    'collect': 'record scripted-expert demonstrations from the simulator (no ROS)',
    'train': 'train or resume a checkpoint on episode folders',
    'export': 'write a deployable copy of a checkpoint (no optimizer state)',
    'record': 'record scripted-expert episodes through the ROS graph as rosbag2 bags',
    'convert': 'convert rosbag2 recordings into cached episode files for training',
    'bench': 'measure inference latency and memory of model presets',
    'agent': 'run the observer and inference nodes in one process (ROS 2)',
    'eval': 'closed-loop evaluation on the simulated arms through the ROS graph',
    'probe': 'measure whether a policy heads for the goal it sees (no ROS)',
    'demo': 'the make-demo job: evaluate the shipped agent on the simulated arm',
}


def _top_level_parser():
    lines = [f'  {name:<8} {summary}' for name, summary in COMMANDS.items()]
    parser = argparse.ArgumentParser(
        prog='gato-ros', formatter_class=argparse.RawDescriptionHelpFormatter,
        description='Gato-style generalist agent for ROS 2 arms.',
        epilog='commands:\n' + '\n'.join(lines)
        + '\n\nRun `gato-ros <command> --help` for the options of a command.')
    parser.add_argument('command', choices=sorted(COMMANDS), metavar='command',
                        help='one of the commands listed below')
    parser.add_argument('args', nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def main(argv=None):
    """Parse the command line and run one command.

    Args:
        argv: arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        int: the process exit status.
    """
    top = _top_level_parser().parse_args(sys.argv[1:] if argv is None else argv)
    module = importlib.import_module(f'gato_ros.commands.{top.command}')
    parser = argparse.ArgumentParser(prog=f'gato-ros {top.command}',
                                     description=COMMANDS[top.command])
    module.add_arguments(parser)
    return module.run(parser.parse_args(top.args))
