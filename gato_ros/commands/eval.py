"""``gato-ros eval``: closed-loop episodes on a simulated arm, through the ROS graph.

Examples::

    python -m gato_ros eval --checkpoint checkpoints/demo --arm panda --tasks all \
        --episodes 10 --json runs/eval/panda.json
    python -m gato_ros eval --policy expert --arm ur5e --tasks lift_block --episodes 5
    python -m gato_ros eval --checkpoint checkpoints/demo --arm ur5e --tasks press_button \
        --episodes 10 --prompt --json runs/eval/ur5e-prompted.json
    python -m gato_ros eval --list-tasks

Starts the simulator node and the agent (observers + inference node) as processes in a private
ROS domain, drives the episodes, and writes a JSON report with per-task ``success_rate``,
``expert_success_rate``, ``normalized_score`` (0 = random policy, 1 = expert), the achieved
``control_hz`` and observation->command latency; with ``--prompt`` each task runs again
conditioned on one expert demonstration and the report adds the prompted figures. Baseline
success rates come from ``config/baselines.json`` (made by this command with ``--policy
expert`` / ``random`` and ``--update-baselines``; with ``--action-space twist`` they are
stored as ``expert_twist`` / ``random_twist`` and score twist checkpoints).
"""

import json
from pathlib import Path

from gato_ros.commands.collect import resolve_tasks
from gato_ros.data import arm_action_space
from gato_ros.evaluation.report import (
    append_markdown, baseline_key, format_table, plot_report, write_report)
from gato_ros.evaluation.runner import (checkpoint_tasks, EVAL_FIRST_SEED, EvalConfig, evaluate,
                                        POLICIES, READY_TIMEOUT_S)
from gato_ros.nodes.parameters import config_file
from gato_ros.policy import ACTION_DECODINGS
from gato_ros.sim.arms import list_arms
from gato_ros.sim.experts import ACTION_SPACES
from gato_ros.sim.tasks import list_tasks

BASELINES_FILE = 'baselines.json'


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--list-arms', action='store_true', help='print the arms and exit')
    parser.add_argument('--list-tasks', action='store_true', help='print the tasks and exit')
    parser.add_argument('--policy', choices=sorted(POLICIES), default='checkpoint')
    parser.add_argument('--checkpoint', default='', metavar='DIR',
                        help='checkpoint folder (policy checkpoint)')
    parser.add_argument('--arm', choices=list_arms(), default='panda')
    parser.add_argument('--tasks', nargs='+', default=['all'], metavar='TASK')
    parser.add_argument('--episodes', type=int, default=5, help='episodes per task')
    parser.add_argument('--first-seed', type=int, default=EVAL_FIRST_SEED)
    parser.add_argument('--prompt', action='store_true',
                        help='also run each task prompted with one expert demonstration and '
                        'report prompted and unprompted scores (policy checkpoint)')
    parser.add_argument('--action-decoding', choices=ACTION_DECODINGS, default='mode',
                        help='continuous action tokens: the most likely bin (mode) or the '
                        'expected value of the predicted distribution (mean)')
    parser.add_argument('--action-space', choices=('auto',) + ACTION_SPACES, default='auto',
                        help='joint: the agent commands the trajectory controller; twist: it '
                        "runs in servo mode, commanding the arm's Cartesian velocity interface; "
                        'auto: twist for a checkpoint trained on <arm>/twist/<task> episodes, '
                        'else joint')
    parser.add_argument('--ready-timeout-s', type=float, default=READY_TIMEOUT_S,
                        metavar='S', help="how long an episode waits for the agent's first "
                        'actions (a loaded machine delays them)')
    parser.add_argument('--json', default='runs/eval/report.json', metavar='PATH',
                        help='report destination, rewritten after each task (a run that '
                        'stops early keeps the finished tasks; unfinished_tasks lists the rest); '
                        "the processes' logs and prompts go to the folder of the same name "
                        'without .json')
    parser.add_argument('--plot', default=None, metavar='PNG', help='bar plot destination')
    parser.add_argument('--markdown', default=None, metavar='PATH',
                        help="append the results as rows of README's table (started when the "
                        'file is new: one run per arm builds the whole table)')
    parser.add_argument('--baselines', default=None, metavar='PATH',
                        help=f'baseline success rates (default: config/{BASELINES_FILE})')
    parser.add_argument('--update-baselines', action='store_true',
                        help='with --policy expert/random: store the measured rates in the '
                        'baselines file')


def load_baselines(path):
    """Read baseline success rates.

    Args:
        path: a baselines JSON file, or None for the shipped one.

    Returns:
        dict: ``{arm: {task: {'expert': rate, 'random': rate, ...}}}``; empty when the shipped
        file does not exist yet.
    """
    if path is None:
        try:
            path = config_file(BASELINES_FILE)
        except FileNotFoundError:
            return {}
    with open(path, encoding='utf-8') as stream:
        return json.load(stream)


def update_baselines(path, report, policy):
    """Store a baseline evaluation's per-task success rates in the baselines file.

    Args:
        path: the baselines JSON file (created if missing).
        report: the evaluation report.
        policy: 'expert' or 'random' (stored under :func:`baseline_key` of the report's
            action space).
    """
    try:
        baselines = load_baselines(path)
    except FileNotFoundError:
        baselines = {}
    arm = baselines.setdefault(report['arm'], {})
    key = baseline_key(policy, report['action_space'])
    for task, result in report['tasks'].items():
        entry = arm.setdefault(task, {})
        entry[key] = result['success_rate']
        entry[f'{key}_episodes'] = result['episodes']
    with open(path, 'w', encoding='utf-8') as stream:
        json.dump(baselines, stream, indent=2, sort_keys=True)
        stream.write('\n')


def resolve_action_space(args):
    """Return the action space of the evaluation: the option, or the checkpoint's on auto.

    Args:
        args: the parsed options.

    Returns:
        str: ``'joint'`` or ``'twist'``.

    Raises:
        FileNotFoundError: when ``auto`` has to read a checkpoint that does not exist.
    """
    if args.action_space != 'auto':
        return args.action_space
    if args.policy != 'checkpoint':
        return 'joint'
    return arm_action_space(checkpoint_tasks(args.checkpoint), args.arm)


def run(args):
    """List, or evaluate and print the table.

    Args:
        args: the parsed options.

    Returns:
        int: 0 on success, 1 when the graph stopped answering, 2 on bad options.
    """
    if args.list_arms or args.list_tasks:
        print('\n'.join(list_arms() if args.list_arms else list_tasks()))
        return 0
    if args.update_baselines and args.policy == 'checkpoint':
        print('error: --update-baselines needs --policy expert or random')
        return 2
    saved = []
    try:
        baselines = load_baselines(args.baselines)
        config = EvalConfig(arm=args.arm, tasks=resolve_tasks(args.tasks),
                            episodes=args.episodes, policy=args.policy,
                            checkpoint_path=args.checkpoint, first_seed=args.first_seed,
                            baselines=baselines, prompted=args.prompt,
                            action_decoding=args.action_decoding,
                            action_space=resolve_action_space(args),
                            out_dir=str(Path(args.json).with_suffix('')),
                            ready_timeout_s=args.ready_timeout_s)
        report, _ = evaluate(config, on_task_done=lambda partial: saved.append(
            write_report(partial, args.json)))
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}')
        return 2
    except (TimeoutError, RuntimeError) as error:
        kept = (f'{args.json} holds the {len(saved)} task(s) finished before it'
                if saved else 'no task finished')
        print(f'error: the evaluation stopped: {error}\n{kept}')
        return 1
    if args.plot:
        plot_report(report, args.plot)
    if args.markdown:
        append_markdown(report, args.markdown)
    if args.update_baselines:
        update_baselines(args.baselines or 'config/' + BASELINES_FILE, report, args.policy)
    print(format_table(report))
    return 0
