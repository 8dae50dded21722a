"""``gato-ros collect``: scripted-expert demonstrations from the simulator as episode files.

Example::

    python -m gato_ros collect --arm panda --tasks reach_target lift_block \
        --episodes 100 --out data/panda

ROS-free and fast (~0.1 s an episode). ``gato-ros record`` makes the same demonstrations
through the ROS graph into rosbag2 bags instead. With ``--policy-checkpoint`` a trained
checkpoint drives the arm and the expert labels each step (one DAgger round)::

    python -m gato_ros collect --arm panda --tasks all --episodes 30 \
        --policy-checkpoint checkpoints/demo --first-seed 300000 --out data/dagger/panda

With ``--localization`` it writes one-timestep scenes labelled with where the instructed object
is relative to the tool instead, the vision pretraining of docs/training.md ("Vision
curriculum"; :mod:`gato_ros.recording.localization`)::

    python -m gato_ros collect --localization --arm panda --tasks all --episodes 1000 \
        --out data/locate/panda_narrow

``--localization-label turn`` labels each scene with how far the task's expert turns the tool
about the vertical first (rad), the push direction the policy must read (docs/training.md,
"Session 25"). ``--localization-expert-steps N`` takes each scene after the expert has acted up
to N steps, so that a turn label is the turn still to make ("Session 26"). ``--push-turn left``
makes the push expert always turn its fingers counterclockwise ("Session 28").
"""

from gato_ros.policy import ACTION_DECODINGS
from gato_ros.recording.localization import (collect_localization_scenes, LABELS,
                                             LocalizationConfig)
from gato_ros.recording.sim_demos import collect_demonstrations, DemoConfig
from gato_ros.sim.arms import list_arms
from gato_ros.sim.experts import ACTION_SPACES, ExpertConfig, PUSH_TURNS
from gato_ros.sim.scene import SceneConfig
from gato_ros.sim.tasks import list_tasks


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    parser.add_argument('--arm', choices=list_arms(), required=True, help='simulated arm')
    parser.add_argument('--tasks', nargs='+', default=['all'], metavar='TASK',
                        help=f'tasks ({", ".join(list_tasks())}) or all')
    parser.add_argument('--episodes', type=int, default=50,
                        help='successful expert episodes (all policy episodes) per task')
    parser.add_argument('--first-seed', type=int, default=0,
                        help='seed of the first episode (evaluation uses seeds from 100000)')
    parser.add_argument('--action-noise', type=float, default=0.0, metavar='FRACTION',
                        help='noise added to the executed joint deltas (std as a fraction of '
                        'the largest delta per period); the expert corrections are recorded')
    parser.add_argument('--action-noise-correlation-s', type=float, default=0.0, metavar='S',
                        help='time constant of that noise (0: white); about 1 s carries the '
                        'arm off course as a learned policy does, and the expert back')
    parser.add_argument('--start-noise', type=float, default=SceneConfig.home_noise_rad,
                        metavar='RAD',
                        help='uniform noise on every arm joint of the home pose at each reset '
                        "(the simulator node's is %(default)s); wider starts keep a policy "
                        'from reading the target side off its own joint angles')
    parser.add_argument('--policy-checkpoint', default='', metavar='DIR',
                        help='a checkpoint drives the arm, the expert labels every step '
                        '(DAgger); every episode is kept')
    parser.add_argument('--action-decoding', choices=ACTION_DECODINGS, default='mode',
                        help="the checkpoint's choice of continuous action tokens")
    add_demonstration_arguments(parser)
    parser.add_argument('--push-turn', choices=PUSH_TURNS, default=ExpertConfig.push_turn,
                        help='how the push expert turns its fingers across the push: to the '
                        'yaw in [-pi/2, pi/2) (training stages 1-12), or counterclockwise '
                        'to the next (docs/sim.md)')
    parser.add_argument('--localization', action='store_true',
                        help='write one-timestep start scenes labelled with the offset from '
                        'the tool to the instructed object (x5, m), --episodes per task, '
                        'instead of demonstrations: vision pretraining')
    parser.add_argument('--localization-label', choices=sorted(LABELS), default='offset',
                        help='with --localization: the offset to the object, or the turn of '
                        "the tool about z the task's expert makes first (rad)")
    parser.add_argument('--localization-expert-steps', type=int, default=0, metavar='N',
                        help="with --localization: the task's twist expert first acts a "
                        "number of control steps drawn from [0, N] by each scene's seed"
                        ', so scenes (and turns still to make) come from part-way through')
    parser.add_argument('--out', required=True, metavar='DIR', help='output folder')


def add_demonstration_arguments(parser):
    """Declare what a demonstration holds, the options ``collect`` and ``record`` share.

    Args:
        parser: the command's ``argparse.ArgumentParser``.
    """
    parser.add_argument('--action-space', choices=ACTION_SPACES, default='joint',
                        help="what the actions hold: joint deltas, or the tool's Cartesian "
                        'twist (tasks <arm>/twist/<task>, run with the servo mode)')
    parser.add_argument('--wrist-camera', action='store_true',
                        help="also record the wrist camera's image (observation image_wrist; "
                        'evaluation then runs a second image observer)')


def resolve_tasks(names):
    """Expand ``all`` and check task names.

    Args:
        names: task names, or ``['all']``.

    Returns:
        tuple: task names.

    Raises:
        ValueError: on an unknown task.
    """
    if list(names) == ['all']:
        return tuple(list_tasks())
    unknown = sorted(set(names) - set(list_tasks()))
    if unknown:
        raise ValueError(f'unknown tasks {unknown}; expected some of {list_tasks()} or all')
    return tuple(names)


def _collect_scenes(args):
    """Write the localization scenes; return the exit status."""
    if (args.policy_checkpoint or args.action_noise or args.action_noise_correlation_s
            or args.action_space != 'joint' or args.wrist_camera):
        raise ValueError('--localization records start scenes: no --policy-checkpoint, '
                         '--action-noise(-correlation-s), --action-space or --wrist-camera')
    config = LocalizationConfig(arm=args.arm, tasks=resolve_tasks(args.tasks),
                                scenes_per_task=args.episodes, first_seed=args.first_seed,
                                start_noise_rad=args.start_noise,
                                label=args.localization_label,
                                expert_steps=args.localization_expert_steps,
                                push_turn=args.push_turn)
    for task, count in collect_localization_scenes(config, args.out).items():
        print(f'{args.arm}/{task}: {count} localization scenes ({config.label})')
    return 0


def _collect_episodes(args):
    """Record the demonstrations, print how many the experts failed; return the exit status."""
    if args.localization_label != 'offset' or args.localization_expert_steps:
        raise ValueError('--localization-label and --localization-expert-steps make scenes: '
                         'give --localization too')
    if args.action_noise_correlation_s and not args.action_noise:
        raise ValueError('--action-noise-correlation-s sets how long --action-noise persists; '
                         'give --action-noise too')
    config = DemoConfig(arm=args.arm, tasks=resolve_tasks(args.tasks),
                        episodes_per_task=args.episodes, first_seed=args.first_seed,
                        action_noise=args.action_noise,
                        action_noise_correlation_s=args.action_noise_correlation_s,
                        start_noise_rad=args.start_noise,
                        policy_checkpoint=args.policy_checkpoint,
                        action_decoding=args.action_decoding,
                        action_space=args.action_space, wrist_camera=args.wrist_camera,
                        push_turn=args.push_turn)
    counts = collect_demonstrations(config, args.out)
    failures = ('policy failures kept' if args.policy_checkpoint
                else 'expert failures skipped')
    for task, count in counts.items():
        cosines = count.get('expert_cosines', {})
        agreement = (', policy/expert motion cosine ' + ', '.join(
            f'{part} {cosine:.2f}' for part, cosine in cosines.items()) if cosines else '')
        print(f'{config.task_name(task)}: {count["kept"]} episodes kept, '
              f'{count["failed"]} {failures}{agreement}')
    return 0


def run(args):
    """Record demonstrations (or localization scenes) and print what was written.

    Args:
        args: the parsed options.

    Returns:
        int: 0 on success, 2 on bad options.
    """
    try:
        return _collect_scenes(args) if args.localization else _collect_episodes(args)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}')
        return 2
