r"""``gato-ros convert``: rosbag2 recordings -> a cached directory of episode files.

Example (a lab's ``ros2 bag record`` bags of a Panda, no task status in them)::

    python -m gato_ros convert --bags bags/pick_01 bags/pick_02 --out data/pick \
        --joint-names panda_joint1 panda_joint2 panda_joint3 panda_joint4 panda_joint5 \
        panda_joint6 panda_joint7 panda_finger_joint1 \
        --task pick_cube --instruction 'pick up the red cube'

The same with a MoveIt Servo teleoperation as the actions (Cartesian twists of the tool)::

    python -m gato_ros convert --bags bags/servo_01 --out data/pick_twist \
        --joint-names ... --action-source twist --twist-topic /servo_node/delta_twist_cmds \
        --twist-frame-id panda_link0 --task panda/twist/pick_cube

Prints the conversion summary; exit status 0 when at least one episode was written, 1 when
none was, 2 on bad options or missing bags. See ``docs/data.md``.
"""

import dataclasses
import sys

from gato_ros.nodes.image_conversion import ImageConversionConfig
from gato_ros.recording.bag_reader import ACTION_SOURCES, BagConversionConfig
from gato_ros.recording.dataset import convert_bags
from gato_ros.recording.summary import ConversionSummary


def _default(name):
    field = next(f for f in dataclasses.fields(BagConversionConfig) if f.name == name)
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--bags', nargs='+', required=True, metavar='BAG',
                        help='rosbag2 directories (with metadata.yaml) or .mcap/.db3 files')
    parser.add_argument('--out', required=True, metavar='DIR',
                        help='cache directory: one .npz per episode and manifest.json')
    parser.add_argument('--joint-names', nargs='+', required=True, metavar='JOINT',
                        help='arm joints in order, then the gripper finger joint')
    parser.add_argument('--no-gripper', action='store_true',
                        help='the last joint is an arm joint, there is no gripper')
    parser.add_argument('--gripper-open-position', type=float,
                        default=_default('gripper_open_position'),
                        help='gripper joint position of command 1, open (m or rad)')
    parser.add_argument('--gripper-closed-position', type=float,
                        default=_default('gripper_closed_position'),
                        help='gripper joint position of command 0, closed (m or rad)')
    parser.add_argument('--task', default='',
                        help='task name of every episode (needed when the bags have no '
                        'task status)')
    parser.add_argument('--instruction', default='', help='instruction of every episode')
    parser.add_argument('--image-topics', nargs='*', metavar='KEY=TOPIC', default=None,
                        help='camera observation keys and topics (default image='
                        f"{_default('image_topics')['image']}); the option alone: no camera")
    for name in ('joint_states_topic', 'trajectory_topic', 'twist_topic', 'twist_frame_id',
                 'instruction_topic', 'task_status_topic'):
        parser.add_argument('--' + name.replace('_', '-'), default=_default(name),
                            help=f'default {_default(name)}')
    parser.add_argument('--action-source', choices=ACTION_SOURCES,
                        default=_default('action_source'),
                        help='commanded trajectory, next measured state, or commanded '
                        'TwistStamped (gripper from the next measured state)')
    parser.add_argument('--control-rate-hz', type=float, default=_default('control_rate_hz'))
    parser.add_argument('--max-age-s', type=float, default=_default('max_age_s'),
                        help='oldest message a control tick may use')
    parser.add_argument('--command-lookahead-s', type=float, default=None,
                        help='read the command this long after the tick (default: half a '
                        'control period)')
    image = _default('image')
    parser.add_argument('--image-size', nargs=2, type=int, metavar=('HEIGHT', 'WIDTH'),
                        default=[image.output_height, image.output_width],
                        help='model image size (centre-crop, then resize)')
    parser.add_argument('--keep-unsuccessful', action='store_true',
                        help='keep episodes whose task status reported no success')
    parser.add_argument('--max-dropped-fraction', type=float,
                        default=_default('max_dropped_tick_fraction'),
                        help='skip episodes that dropped more of their ticks')
    parser.add_argument('--min-steps', type=int, default=_default('min_steps'))


def _image_topics(items):
    if items is None:
        return _default('image_topics')
    pairs = [item.split('=', 1) for item in items]
    bad = [item for item, pair in zip(items, pairs) if len(pair) != 2 or not all(pair)]
    if bad:
        raise ValueError(f'--image-topics expects KEY=TOPIC, got {bad}')
    return dict(pairs)


def config_from_args(args):
    """Build the conversion config from the parsed options.

    Args:
        args: the parsed options of :func:`add_arguments`.

    Returns:
        BagConversionConfig: The config.

    Raises:
        ValueError: On an invalid option value.
    """
    height, width = args.image_size
    return BagConversionConfig(
        joint_names=tuple(args.joint_names), has_gripper=not args.no_gripper,
        gripper_closed_position=args.gripper_closed_position,
        gripper_open_position=args.gripper_open_position,
        joint_states_topic=args.joint_states_topic,
        image_topics=_image_topics(args.image_topics),
        trajectory_topic=args.trajectory_topic, twist_topic=args.twist_topic,
        twist_frame_id=args.twist_frame_id, instruction_topic=args.instruction_topic,
        task_status_topic=args.task_status_topic, control_rate_hz=args.control_rate_hz,
        max_age_s=args.max_age_s, command_lookahead_s=args.command_lookahead_s,
        image=ImageConversionConfig(output_height=height, output_width=width),
        action_source=args.action_source, task_name=args.task, instruction=args.instruction,
        drop_unsuccessful=not args.keep_unsuccessful,
        max_dropped_tick_fraction=args.max_dropped_fraction, min_steps=args.min_steps)


def run(args):
    """Convert the bags (or read them from the cache) and print the summary.

    Args:
        args: the parsed options of :func:`add_arguments`.

    Returns:
        int: 0 when episodes were written, 1 when none was, 2 on bad options or paths.
    """
    try:
        config = config_from_args(args)
        summary = ConversionSummary()
        paths = convert_bags(args.bags, config, args.out, summary)
    except (ValueError, FileNotFoundError) as error:
        print(f'gato-ros convert: error: {error}', file=sys.stderr)
        return 2
    print(summary)
    print(f'{len(paths)} episode file(s) in {args.out}')
    return 0 if paths else 1
