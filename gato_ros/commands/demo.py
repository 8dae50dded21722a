"""``gato-ros demo`` (what ``make demo`` runs): the shipped agent on both simulated arms.

Evaluates ``checkpoints/demo`` (one gato-2m model for the Panda and the UR5e, trained by the
command in README) through the ROS graph on a few episodes of each of its tasks, prints the
table, and writes ``runs/demo/report.json``, a bar plot and a GIF of the camera view per arm.
"""

import json
from pathlib import Path

from gato_ros.data import arm_action_space, episode_task_name
from gato_ros.evaluation.report import format_table, plot_report, write_report
from gato_ros.evaluation.runner import checkpoint_tasks, EvalConfig, evaluate
from gato_ros.nodes.parameters import config_file
from gato_ros.sim.tasks import list_tasks

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / 'checkpoints' / 'demo'


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--checkpoint', default=str(DEFAULT_CHECKPOINT), metavar='DIR')
    parser.add_argument('--arms', nargs='+', default=['panda', 'ur5e'])
    parser.add_argument('--episodes', type=int, default=1, help='episodes per task and arm')
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
        int: 0 on success, 2 when the checkpoint is missing or unusable.
    """
    out = Path(args.out)
    try:
        tasks = checkpoint_tasks(args.checkpoint)
        baselines = json.loads(config_file('baselines.json').read_text())
    except FileNotFoundError as error:
        print(f'error: {error}')
        return 2
    print(f'gato_ros demo: checkpoint {args.checkpoint} ({len(tasks)} tasks) on the simulated '
          'arms, closed loop through the ROS graph')
    reports = {}
    for arm in args.arms:
        action_space = arm_action_space(tasks, arm)
        config = EvalConfig(arm=arm, tasks=simulated_tasks(tasks, arm, action_space),
                            episodes=args.episodes, checkpoint_path=args.checkpoint,
                            out_dir=str(out / arm), record_first_episode=True,
                            baselines=baselines, action_space=action_space)
        report, frames = evaluate(config)
        reports[arm] = report
        plot_report(report, out / f'{arm}.png')
        write_gif(frames, out / f'{arm}.gif')
        print(format_table(report))
    write_report(reports, out / 'report.json')
    print(f'wrote {out}/report.json, {out}/<arm>.png (success per task), {out}/<arm>.gif '
          '(camera view)')
    return 0
