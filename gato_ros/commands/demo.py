"""``gato-ros demo`` (what ``make demo`` runs): the shipped agent on both simulated arms.

Evaluates ``checkpoints/demo`` (one gato-2m model for the Panda and the UR5e, trained by the
command in README) through the ROS graph on a few episodes of each of its tasks, prints the
table, and writes ``runs/demo/report.json``, a bar plot and a GIF of the camera view per arm.
Each arm runs in the action space the checkpoint was trained in (joint trajectories or
servo twists), with expected-value action decoding unless ``--action-decoding`` says
otherwise.
"""

import json
from pathlib import Path

from gato_ros.data import arm_action_space, episode_task_name
from gato_ros.evaluation.report import format_table, plot_report, write_report
from gato_ros.evaluation.runner import checkpoint_tasks, EvalConfig, evaluate
from gato_ros.nodes.parameters import config_file
from gato_ros.policy import ACTION_DECODINGS
from gato_ros.sim.arms import list_arms
from gato_ros.sim.tasks import list_tasks

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / 'checkpoints' / 'demo'


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--checkpoint', default=str(DEFAULT_CHECKPOINT), metavar='DIR')
    parser.add_argument('--arms', nargs='+', choices=list_arms(), default=None,
                        help="simulated arms (default: every arm the checkpoint's tasks name)")
    parser.add_argument('--episodes', type=int, default=1, help='episodes per task and arm')
    parser.add_argument('--action-decoding', choices=ACTION_DECODINGS, default='mean',
                        help='how actions are read from the bin distributions (the shipped '
                        "checkpoint's numbers are measured with mean)")
    parser.add_argument('--out', default='runs/demo', metavar='DIR')


def simulated_tasks(tasks, arm, action_space='joint'):
    """Return the simulator tasks among a checkpoint's tasks of one arm and action space.

    Args:
        tasks: the checkpoint's task names (``'<arm>/<task>'``, ``'<arm>/twist/<task>'``,
            also ``'<arm>/<kind>/<task>'`` such as localization scenes, which are not
            episodes to run).
        arm: simulated arm name.
        action_space: ``'joint'`` or ``'twist'``, the episodes' action space.

    Returns:
        tuple: simulator task names, in the checkpoint's order.
    """
    names = (task.rsplit('/', 1)[-1] for task in tasks)
    return tuple(name for name, task in zip(names, tasks)
                 if name in list_tasks() and task == episode_task_name(arm, name, action_space))


def arm_tasks(tasks, arms=None):
    """Return the simulator tasks each arm runs and the action space it runs them in.

    Args:
        tasks: the checkpoint's task names.
        arms: arms to run; None: every simulated arm with tasks in the checkpoint.

    Returns:
        dict: arm -> (action space, tuple of simulator task names), in ``arms`` order.

    Raises:
        ValueError: when the checkpoint has no simulator task of a requested arm, or of any.
    """
    chosen = {}
    for arm in list_arms() if arms is None else arms:
        action_space = arm_action_space(tasks, arm)
        chosen[arm] = (action_space, simulated_tasks(tasks, arm, action_space))
    empty = [arm for arm, (_, names) in chosen.items() if not names]
    if arms is not None and empty:
        raise ValueError(f'the checkpoint has no simulator task of arm(s) {empty}')
    chosen = {arm: value for arm, value in chosen.items() if value[1]}
    if not chosen:
        raise ValueError(f'the checkpoint has no simulator task of any arm {list_arms()}')
    return chosen


def write_gif(frames_by_task, path):
    """Write the recorded camera frames of several episodes, one after another, as a GIF.

    Args:
        frames_by_task: task -> list of uint8 (H, W, 3) frames.
        path: destination ``.gif``.
    """
    import imageio.v2 as imageio
    frames = [frame for task in sorted(frames_by_task) for frame in frames_by_task[task]]
    if frames:
        imageio.mimsave(path, frames, duration=0.1, loop=0)


def run(args):
    """Evaluate every arm, print the tables and write the report, plots and GIFs.

    Args:
        args: the parsed options.

    Returns:
        int: 0 on success, 2 when the checkpoint is missing or has no task of the arms.
    """
    out = Path(args.out)
    try:
        tasks = checkpoint_tasks(args.checkpoint)
        baselines = json.loads(config_file('baselines.json').read_text())
        runs = arm_tasks(tasks, args.arms)
    except (FileNotFoundError, ValueError) as error:
        print(f'error: {error}')
        return 2
    print(f'gato_ros demo: checkpoint {args.checkpoint} ({len(tasks)} tasks) on the simulated '
          'arms, closed loop through the ROS graph')
    reports = {}
    for arm, (action_space, arm_task_names) in runs.items():
        config = EvalConfig(arm=arm, tasks=arm_task_names, episodes=args.episodes,
                            checkpoint_path=args.checkpoint, out_dir=str(out / arm),
                            record_first_episode=True, baselines=baselines,
                            action_space=action_space, action_decoding=args.action_decoding)
        report, frames = evaluate(config)
        reports[arm] = report
        plot_report(report, out / f'{arm}.png')
        write_gif(frames, out / f'{arm}.gif')
        print(format_table(report))
    write_report(reports, out / 'report.json')
    print(f'wrote {out}/report.json, {out}/<arm>.png (success per task), {out}/<arm>.gif '
          '(camera view)')
    return 0
