"""``gato-ros record``: scripted-expert episodes through the ROS graph, as rosbag2 MCAP bags.

Examples::

    python -m gato_ros record --arm panda --tasks reach_target,lift_block --episodes 20 \
        --out bags/panda
    python -m gato_ros record --arm ur5e --tasks all --episodes 5 --out bags/ur5e
    python -m gato_ros record --arm ur5e --tasks all --episodes 5 --action-space twist \
        --out bags/ur5e_twist

Starts the simulator and the agent in a private ROS domain; the simulator's scripted expert
drives the arm through the inference node's safety filter, and each episode is recorded as
``OUT/<arm>-<task>-<seed>/`` (metadata.yaml + .mcap): joint states, camera images, the
commanded trajectory (with ``--action-space twist``: the commanded ``TwistStamped``, as a
MoveIt Servo teleoperation would be recorded), the instruction, task status (success) and
task metadata. Episodes the expert fails are deleted unless ``--keep-failures``.
``gato-ros convert`` turns the bags into training episodes (``docs/data.md``).
``gato-ros collect`` makes the same demonstrations without ROS, faster.
"""

from gato_ros.commands.collect import add_demonstration_arguments, resolve_tasks
from gato_ros.recording.recorder import (
    record_demonstrations, RecordConfig, recorded_conversion_config)
from gato_ros.sim.arms import list_arms
from gato_ros.sim.tasks import list_tasks


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--arm', choices=list_arms(), required=True, help='simulated arm')
    parser.add_argument('--tasks', nargs='+', default=['all'], metavar='TASK',
                        help=f'tasks, comma- or space-separated ({", ".join(list_tasks())}) '
                        'or all')
    parser.add_argument('--episodes', type=int, default=10,
                        help='episodes run per task (seeds FIRST_SEED, FIRST_SEED + 1, ...)')
    parser.add_argument('--first-seed', type=int, default=0,
                        help="seed of each task's first episode (evaluation uses seeds from "
                        '100000)')
    parser.add_argument('--out', required=True, metavar='DIR', help='folder of the bags')
    parser.add_argument('--keep-failures', action='store_true',
                        help='also keep the bags of episodes the expert failed')
    add_demonstration_arguments(parser)
    parser.add_argument('--log-dir', default='runs/record/logs', metavar='DIR',
                        help='logs of the simulator and agent processes')


def task_names(arguments):
    """Split ``--tasks`` values at commas.

    Args:
        arguments: the ``--tasks`` values, e.g. ``['reach_target,lift_block', 'push_block']``.

    Returns:
        list: task names (``['all']`` stays as it is).
    """
    return [name for argument in arguments for name in argument.split(',') if name]


def run(args):
    """Record the episodes and print what was kept.

    Args:
        args: the parsed options.

    Returns:
        int: 0 when at least one bag was kept, 1 when none was, 2 on bad options.
    """
    try:
        config = RecordConfig(arm=args.arm, tasks=resolve_tasks(task_names(args.tasks)),
                              episodes=args.episodes, out_dir=args.out,
                              first_seed=args.first_seed, keep_failures=args.keep_failures,
                              log_dir=args.log_dir, action_space=args.action_space,
                              wrist_camera=args.wrist_camera)
        episodes = record_demonstrations(config)
    except (ValueError, FileExistsError) as error:
        print(f'error: {error}')
        return 2
    for task in config.tasks:
        done = [e for e in episodes if e.task == task]
        kept = [e for e in done if e.path is not None]
        size_mb = sum(e.size_bytes for e in kept) / 1e6
        print(f'{args.arm}/{task}: {len(kept)} bags kept ({size_mb:.1f} MB), '
              f'{sum(not e.success for e in done)} expert failures')
    command = convert_command(args.arm, args.out, args.action_space, args.wrist_camera)
    print(f'convert them with:\n  {command}')
    return 0 if any(e.path is not None for e in episodes) else 1


def convert_command(arm, bags_dir, action_space='joint', wrist_camera=False):
    """Return the ``gato-ros convert`` command line for an arm's recorded bags.

    Args:
        arm: simulated arm name.
        bags_dir: the folder given to ``--out``.
        action_space: the ``--action-space`` the bags were recorded with.
        wrist_camera: the bags hold the wrist camera too.

    Returns:
        str: the command, with the arm's joints and gripper range (and the twist source
        and frame for twist bags); DATA_DIR to fill in.
    """
    conversion = recorded_conversion_config(arm, action_space, wrist_camera)
    command = (f'python -m gato_ros convert --bags {bags_dir}/{arm}-* --out DATA_DIR '
               f'--joint-names {" ".join(conversion.joint_names)} '
               f'--gripper-closed-position {conversion.gripper_closed_position} '
               f'--gripper-open-position {conversion.gripper_open_position}')
    if action_space == 'twist':
        command += f' --action-source twist --twist-frame-id {conversion.twist_frame_id}'
    if wrist_camera:
        command += ' --image-topics ' + ' '.join(
            f'{key}={topic}' for key, topic in conversion.image_topics.items())
    return command
