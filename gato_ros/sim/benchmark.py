"""Measure the simulator: physics and render cost, expert and random success, episode time.

``python -m gato_ros.sim.benchmark --seeds 100`` prints the tables quoted in docs/sim.md;
``--push-yaw-offsets-rad 0 0.4 ...`` prints instead how the push expert fares with its fingers
held that far from across the push, with and without its re-approaches.
"""

import argparse
from dataclasses import dataclass
import functools
import statistics
import time

from gato_ros.sim.arms import list_arms
from gato_ros.sim.experts import apply_action, make_expert, PushExpert
from gato_ros.sim.rollout import make_random_policy, run_episode
from gato_ros.sim.scene import ArmSim
from gato_ros.sim.tasks import list_tasks
import numpy as np


@dataclass(frozen=True)
class SuccessStats:
    """Results of one policy on one arm and task over a batch of seeds."""

    arm: str
    task: str
    episodes: int
    success_rate: float
    mean_steps: float
    seconds_per_episode: float


def measure_success(sim: ArmSim, task: str, seeds, make_policy) -> SuccessStats:
    """Run one episode per seed, without rendering.

    Args:
        sim: the simulator (its arm is the one measured).
        task: task name.
        seeds: iterable of episode seeds.
        make_policy: callable seed -> policy function for that episode.

    Returns:
        The SuccessStats.

    """
    start_s = time.perf_counter()
    results = [run_episode(sim, make_policy(seed), task, seed, include_images=False)
               for seed in seeds]
    elapsed_s = time.perf_counter() - start_s
    return SuccessStats(
        arm=sim.arm.name, task=task, episodes=len(results),
        success_rate=float(np.mean([r.success for r in results])),
        mean_steps=float(np.mean([r.steps for r in results])),
        seconds_per_episode=elapsed_s / len(results))


def measure_push_yaw_tolerance(sim: ArmSim, seeds, offset_rad: float,
                               retreats: bool) -> SuccessStats:
    """Measure the push expert with its fingers turned away from across the push.

    A policy that turns the hand part of the way, or not at all, pushes like this expert
    with the remaining turn as its offset; one that never re-approaches, like it with
    ``retreats`` False.

    Args:
        sim: the simulator (its arm is the one measured).
        seeds: iterable of episode seeds.
        offset_rad: the expert's ``yaw_offset_rad``.
        retreats: the expert's ``retreats``.

    Returns:
        The SuccessStats of ``push_block``.

    """
    return measure_success(sim, 'push_block', seeds,
                           lambda seed: PushExpert(yaw_offset_rad=offset_rad, retreats=retreats))


def _median_ms(function, repeats: int) -> float:
    """Return the median wall time of function() in milliseconds."""
    times = []
    for _ in range(repeats):
        start_s = time.perf_counter()
        function()
        times.append(time.perf_counter() - start_s)
    return 1000.0 * statistics.median(times)


def measure_costs(sim: ArmSim, task: str, repeats: int = 200) -> dict:
    """Measure per-call costs on a freshly reset task scene.

    Args:
        sim: the simulator.
        task: task name whose scene is measured.
        repeats: calls per measurement (the median is reported).

    Returns:
        {'physics_step_ms', 'control_step_ms', 'render_scene_ms', 'render_wrist_ms'}; a
        control step is one apply_action at 10 Hz (50 physics steps at the default 2 ms).

    """
    sim.reset(task, 0)
    hold = np.zeros(len(sim.joint_names), dtype=np.float32)
    hold[-1] = 1.0
    costs = {
        'physics_step_ms': _median_ms(lambda: sim.step(sim.physics_dt_s), repeats),
        'control_step_ms': _median_ms(lambda: apply_action(sim, hold, 0.1), repeats // 10),
    }
    for camera in ('scene', 'wrist'):
        sim.render(camera)  # the first call creates the OpenGL context
        costs[f'render_{camera}_ms'] = _median_ms(functools.partial(sim.render, camera), repeats)
    return costs


def main(argv=None) -> int:
    """Print cost and expert tables for the chosen arms and tasks.

    Args:
        argv: command-line arguments (None: sys.argv).

    Returns:
        Process exit status (0).

    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arms', nargs='+', default=list_arms(), choices=list_arms())
    parser.add_argument('--tasks', nargs='+', default=list_tasks(), choices=list_tasks())
    parser.add_argument('--seeds', type=int, default=20,
                        help='episodes per arm, task and policy')
    parser.add_argument('--image-size', type=int, nargs=2, default=(64, 64),
                        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--push-yaw-offsets-rad', type=float, nargs='+', metavar='RAD',
                        help='print only push_block success of the expert holding its '
                        'fingers this far from across the push, with and without '
                        're-approaches')
    args = parser.parse_args(argv)
    if args.push_yaw_offsets_rad:
        _print_push_yaw_tolerance(args.arms, range(args.seeds), args.push_yaw_offsets_rad)
        return 0
    cost_rows, success_rows = [], []
    for arm in args.arms:
        with ArmSim(arm, image_size=tuple(args.image_size)) as sim:
            for task in args.tasks:
                costs = measure_costs(sim, task)
                cost_rows.append(
                    f'{arm:6s} {task:13s} {costs["physics_step_ms"]:15.4f} '
                    f'{costs["control_step_ms"]:15.2f} {costs["render_scene_ms"]:15.2f} '
                    f'{costs["render_wrist_ms"]:15.2f}')
                expert = make_expert(task)
                stats = measure_success(sim, task, range(args.seeds), lambda seed: expert)
                baseline = measure_success(sim, task, range(args.seeds), make_random_policy)
                success_rows.append(
                    f'{arm:6s} {task:13s} {stats.episodes:8d} {stats.success_rate:14.3f} '
                    f'{stats.mean_steps:10.1f} {stats.seconds_per_episode:9.3f} '
                    f'{baseline.success_rate:14.3f}')
    print('arm    task          physics_step_ms control_step_ms render_scene_ms render_wrist_ms')
    print('\n'.join(cost_rows))
    print('\narm    task          episodes expert_success mean_steps s/episode random_success')
    print('\n'.join(success_rows))
    return 0


def _print_push_yaw_tolerance(arms, seeds, offsets_rad) -> None:
    """Print push_block success per arm and yaw offset, with and without re-approaches."""
    print('arm    yaw_offset_rad episodes success_with_retreats success_without')
    for arm in arms:
        with ArmSim(arm) as sim:
            for offset in offsets_rad:
                rates = [measure_push_yaw_tolerance(sim, seeds, offset, retreats)
                         for retreats in (True, False)]
                print(f'{arm:6s} {offset:14.2f} {rates[0].episodes:8d} '
                      f'{rates[0].success_rate:21.3f} {rates[1].success_rate:15.3f}')


if __name__ == '__main__':
    raise SystemExit(main())
