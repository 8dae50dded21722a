"""Run the whole agent in ONE process: joint observer, image observer(s) and inference node.

``python -m gato_ros agent --params FILE`` lands here. ``FILE`` is an ordinary ROS params file
(``<node_name>: ros__parameters: ...`` sections) handed to every node; one image observer is
started per section whose node name starts with ``image_observer`` (``image_observer``,
``image_observer_wrist``, ...; just ``image_observer`` when the file has none). The nodes spin
in one SingleThreadedExecutor. rclpy's MultiThreadedExecutor starved the observers' callbacks on
a 2-core machine (images reached the inference node 30-47 s late while its timer kept firing);
one thread serving every callback in turn keeps observations fresh. Separate processes
(``ros2 run``, the launch files) remain the way to use several cores.
"""

import argparse
import functools
import sys

from gato_ros.nodes.image_observer import ImageObserver
from gato_ros.nodes.image_observer import NODE_NAME as IMAGE_NODE_NAME
from gato_ros.nodes.inference_node import InferenceNode
from gato_ros.nodes.joint_state_observer import JointStateObserver
from gato_ros.nodes.runner import spin_nodes
import yaml


def image_observer_names(params_path):
    """Return the image observer node names a params file configures.

    Args:
        params_path: The params file, or None.

    Returns:
        list[str]: Names of its ``image_observer*`` sections (namespace stripped), or
        ``['image_observer']`` when there are none.

    Raises:
        FileNotFoundError: When the file does not exist.
        ValueError: When it is not a mapping of node sections.
    """
    if params_path is None:
        return [IMAGE_NODE_NAME]
    with open(params_path, encoding='utf-8') as stream:
        content = yaml.safe_load(stream)
    if not isinstance(content, dict):
        raise ValueError(f'{params_path}: expected "<node_name>: ros__parameters: ..." sections')
    names = sorted({key.rsplit('/', 1)[-1] for key in content
                    if key.rsplit('/', 1)[-1].startswith(IMAGE_NODE_NAME)})
    return names or [IMAGE_NODE_NAME]


def main(argv=None):
    """Start the agent's nodes in this process and spin them until shutdown.

    Args:
        argv: Arguments without the program name (``--params FILE`` and optionally
            ``--ros-args ...``); defaults to ``sys.argv[1:]``.

    Returns:
        int: Exit status.
    """
    parser = argparse.ArgumentParser(prog='gato-ros agent', description=__doc__.split('\n')[0])
    parser.add_argument('--params', help='ROS params file for the nodes')
    args, ros_args = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    if args.params is not None:
        ros_args = [*ros_args, '--ros-args', '--params-file', args.params]
    try:
        names = image_observer_names(args.params)
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}', file=sys.stderr)
        return 1
    factories = [JointStateObserver]
    factories += [functools.partial(ImageObserver, node_name=name) for name in names]
    factories.append(InferenceNode)
    return spin_nodes(factories, ['gato_ros_agent', *ros_args])


if __name__ == '__main__':
    sys.exit(main())
