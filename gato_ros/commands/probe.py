"""``gato-ros probe``: measure whether a policy heads for the goal it sees.

The measure is explained in :mod:`gato_ros.evaluation.goal_probe`.

Example::

    python -m gato_ros probe --checkpoint runs/reach --arm panda --tasks reach_target
    python -m gato_ros probe --policy expert --arm panda --tasks all
    python -m gato_ros probe --checkpoint runs/locate --scenes data/locate/panda_wide_test

ROS-free. Per task, the tool's horizontal motion over the first ``--steps`` control periods
of ``--episodes`` episodes is fitted on the offset to the goal and on the start offset; a
goal coefficient near 0 means the policy's motion does not depend on where the goal is.

With ``--scenes DIR`` (scenes from ``gato-ros collect --localization`` that the checkpoint was
not trained on) it scores a localization-pretrained checkpoint instead: per task, how well its
guessed offsets to the instructed object follow the labels, or for turn scenes
(``--localization-label turn``) its guessed turns of the tool
(:mod:`gato_ros.evaluation.localization_score`).
"""

import json
from pathlib import Path

from gato_ros.commands.collect import resolve_tasks
from gato_ros.data import arm_action_space, episode_task_name, task_family
from gato_ros.evaluation.goal_probe import (expert_actor, policy_actor, probe_goal_dependence,
                                            ProbeConfig)
from gato_ros.evaluation.localization_score import score_localization, score_turns
from gato_ros.policy import ACTION_DECODINGS, GatoPolicy, PolicyConfig
from gato_ros.recording.dataset import load_dataset
from gato_ros.recording.localization import TURN_KIND
from gato_ros.recording.sim_demos import policy_reads_wrist_image
from gato_ros.sim.arms import list_arms
from gato_ros.sim.tasks import list_tasks

DEFAULTS = ProbeConfig(arm='', task='')


def add_arguments(parser):
    """Declare the command's options.

    Args:
        parser: the ``argparse.ArgumentParser`` of this command.
    """
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--checkpoint', metavar='DIR', help='policy checkpoint to probe')
    source.add_argument('--policy', choices=['expert'],
                        help='probe the scripted expert instead (the reference)')
    parser.add_argument('--arm', choices=list_arms(),
                        help='simulated arm (required unless --scenes)')
    parser.add_argument('--scenes', nargs='+', metavar='DIR',
                        help='score a localization checkpoint on these scene folders instead')
    parser.add_argument('--tasks', nargs='+', default=['all'], metavar='TASK',
                        help=f'tasks ({", ".join(list_tasks())}) or all')
    parser.add_argument('--episodes', type=int, default=DEFAULTS.episodes,
                        help='episodes fitted per task')
    parser.add_argument('--steps', type=int, default=DEFAULTS.steps,
                        help='control periods from the start whose motion is fitted')
    parser.add_argument('--first-seed', type=int, default=DEFAULTS.first_seed,
                        help='seed of the first episode')
    parser.add_argument('--start-noise', type=float, default=DEFAULTS.start_noise_rad,
                        metavar='RAD', help='uniform noise on every arm joint of the home pose')
    parser.add_argument('--action-decoding', choices=ACTION_DECODINGS, default='mode',
                        help="the checkpoint's choice of continuous action tokens")
    parser.add_argument('--json', metavar='PATH', help='also write the results here')


def _load_policy(args):
    """Return the checkpoint's policy with the chosen action decoding."""
    return GatoPolicy.from_pretrained(args.checkpoint,
                                      PolicyConfig(action_decoding=args.action_decoding))


def _actors(args):
    """Return ``task -> begin`` of the probed policy, its action space and wrist camera.

    A checkpoint is loaded once for all tasks; one trained on ``<arm>/twist/<task>`` episodes
    acts in twists, one that observes the wrist camera gets its images.
    """
    if args.policy == 'expert':
        return expert_actor, 'joint', False
    policy = _load_policy(args)
    action_space = arm_action_space(policy.tasks, args.arm)
    wrist = policy_reads_wrist_image(
        policy, [t for t in policy.tasks if t.split('/', 1)[0] == args.arm])
    return (lambda task: policy_actor(policy, episode_task_name(args.arm, task, action_space),
                                      DEFAULTS.image_size)), action_space, wrist


def _probe_goals(args):
    """Probe each task's goal dependence; return task -> result, printing each."""
    if not args.arm:
        raise ValueError('the goal probe needs --arm (or score scenes with --scenes)')
    results = {}
    tasks = resolve_tasks(args.tasks)
    actors, action_space, wrist = _actors(args)
    for task in tasks:
        config = ProbeConfig(arm=args.arm, task=task, episodes=args.episodes,
                             steps=args.steps, first_seed=args.first_seed,
                             start_noise_rad=args.start_noise, action_space=action_space,
                             wrist_camera=wrist)
        fit = probe_goal_dependence(config, actors(task))
        name = episode_task_name(args.arm, task, action_space)
        print(f'{name}: {fit.summary()}, {fit.episodes} episodes')
        results[name] = {'goal': fit.goal, 'start': fit.start, 'r_squared': fit.r_squared,
                         'episodes': fit.episodes, 'steps': args.steps}
    return results


def _score_scenes(args):
    """Score a localization checkpoint on the scene folders; return task -> result."""
    if args.policy == 'expert':
        raise ValueError('--scenes scores a --checkpoint, not the expert')
    policy, scenes = _load_policy(args), load_dataset(args.scenes)
    is_turn = [task_family(scene.task).endswith(f'/{TURN_KIND}') for scene in scenes]
    offsets = [scene for scene, turn in zip(scenes, is_turn) if not turn]
    turns = [scene for scene, turn in zip(scenes, is_turn) if turn]
    scores = {**(score_localization(policy, offsets) if offsets or not turns else {}),
              **(score_turns(policy, turns) if turns else {})}
    for task, score in scores.items():
        print(f'{task}: {score.summary()}')
    return {task: score.to_dict() for task, score in scores.items()}


def run(args):
    """Probe each task (or score the scenes) and print the results.

    Args:
        args: the parsed options.

    Returns:
        int: 0 on success, 2 on bad options.
    """
    try:
        results = _score_scenes(args) if args.scenes else _probe_goals(args)
    except (ValueError, FileNotFoundError) as error:
        print(f'error: {error}')
        return 2
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=1) + '\n')
    return 0
